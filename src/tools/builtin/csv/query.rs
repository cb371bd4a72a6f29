//! The `query` action: filtering rows by conditions on columns, sorting,
//! selecting columns and paging.

use std::cmp::Ordering;

use serde_json::{json, Value};

use super::output::{rows_as_objects, write_csv};
use super::table::{number, read_table};
use super::{bool_param, string_list, MAX_CONDITIONS, MAX_ROWS, OPERATORS};
use crate::tools::ToolError;

fn column_index(headers: &[String], field: &str, name: &str) -> Result<usize, ToolError> {
    headers.iter().position(|h| h == name).ok_or_else(|| {
        let known: Vec<&str> = headers.iter().take(50).map(String::as_str).collect();
        ToolError::invalid(
            field,
            format!(
                "no column named \"{name}\"; columns are: {}",
                known.join(", ")
            ),
        )
    })
}

struct Condition {
    column: usize,
    op: String,
    value: String,
    number: Option<f64>,
    case_insensitive: bool,
}

impl Condition {
    fn matches(&self, cell: &str) -> bool {
        let (cell_cmp, value_cmp) = if self.case_insensitive {
            (cell.to_lowercase(), self.value.to_lowercase())
        } else {
            (cell.to_string(), self.value.clone())
        };
        let order = || match (number(cell), self.number) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => Some(cell_cmp.cmp(&value_cmp)),
        };
        match self.op.as_str() {
            "eq" => match (number(cell), self.number) {
                (Some(a), Some(b)) => a == b,
                _ => cell_cmp == value_cmp,
            },
            "ne" => match (number(cell), self.number) {
                (Some(a), Some(b)) => a != b,
                _ => cell_cmp != value_cmp,
            },
            "gt" => order() == Some(Ordering::Greater),
            "gte" => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
            "lt" => order() == Some(Ordering::Less),
            "lte" => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
            "contains" => cell_cmp.contains(&value_cmp),
            "not_contains" => !cell_cmp.contains(&value_cmp),
            "starts_with" => cell_cmp.starts_with(&value_cmp),
            "ends_with" => cell_cmp.ends_with(&value_cmp),
            "empty" => cell.trim().is_empty(),
            "not_empty" => !cell.trim().is_empty(),
            _ => false,
        }
    }
}

fn conditions(params: &Value, headers: &[String]) -> Result<Vec<Condition>, ToolError> {
    let Some(list) = params.get("where").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    if list.len() > MAX_CONDITIONS {
        return Err(ToolError::invalid(
            "where",
            format!("give at most {MAX_CONDITIONS} conditions"),
        ));
    }
    list.iter()
        .map(|c| {
            let column = c
                .get("column")
                .and_then(Value::as_str)
                .ok_or_else(|| ToolError::invalid("where", "each condition needs a column"))?;
            let op = c.get("op").and_then(Value::as_str).unwrap_or("eq");
            if !OPERATORS.contains(&op) {
                return Err(ToolError::invalid(
                    "where",
                    format!("unknown op \"{op}\"; use one of: {}", OPERATORS.join(", ")),
                ));
            }
            let value = match c.get("value") {
                None | Some(Value::Null) if !matches!(op, "empty" | "not_empty") => {
                    return Err(ToolError::invalid(
                        "where",
                        format!("the {op} condition on \"{column}\" needs a value"),
                    ))
                }
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Ok(Condition {
                column: column_index(headers, "where", column)?,
                op: op.to_string(),
                number: number(&value),
                value,
                case_insensitive: c
                    .get("case_insensitive")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect()
}

pub(super) fn query(params: &Value) -> Result<Value, ToolError> {
    let table = read_table(params, true)?;
    let conditions = conditions(params, &table.headers)?;
    let empty = String::new();
    let cell = |row: &Vec<String>, i: usize| -> String { row.get(i).unwrap_or(&empty).clone() };
    let mut matched: Vec<&Vec<String>> = table
        .rows
        .iter()
        .filter(|row| conditions.iter().all(|c| c.matches(&cell(row, c.column))))
        .collect();

    if let Some(sort_by) = params.get("sort_by").and_then(Value::as_str) {
        let i = column_index(&table.headers, "sort_by", sort_by)?;
        let numeric = matched.iter().all(|row| {
            row.get(i)
                .is_none_or(|c| c.trim().is_empty() || number(c).is_some())
        });
        if numeric {
            let key = |row: &Vec<String>| {
                row.get(i)
                    .and_then(|c| number(c))
                    .unwrap_or(f64::NEG_INFINITY)
            };
            matched.sort_by(|a, b| key(a).total_cmp(&key(b)));
        } else {
            matched.sort_by(|a, b| a.get(i).cmp(&b.get(i)));
        }
        if bool_param(params, "descending", false) {
            matched.reverse();
        }
    }

    let indexes: Vec<usize> = match string_list(params, "columns")? {
        Some(columns) => columns
            .iter()
            .map(|c| column_index(&table.headers, "columns", c))
            .collect::<Result<_, _>>()?,
        None => (0..table.headers.len()).collect(),
    };
    let matched_count = matched.len();
    let offset = params
        .get("offset")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(usize::MAX as u64) as usize;
    let limit = params
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(1000)
        .clamp(1, MAX_ROWS as u64) as usize;
    let page: Vec<&Vec<String>> = matched.into_iter().skip(offset).take(limit).collect();

    let rows = rows_as_objects(&table.headers, &indexes, &page, false)?;
    let selected_headers: Vec<String> = indexes.iter().map(|&i| table.headers[i].clone()).collect();
    let cells: Vec<Vec<String>> = page
        .iter()
        .map(|row| indexes.iter().map(|&i| cell(row, i)).collect())
        .collect();
    let text = write_csv(table.delimiter, Some(&selected_headers), &cells)?;
    Ok(json!({
        "headers": selected_headers,
        "rows": rows,
        "row_count": page.len(),
        "matched_count": matched_count,
        "csv": text,
    }))
}
