//! The `parse` and `to_csv` actions: CSV text to JSON rows, and JSON rows
//! to CSV text.

use std::collections::HashSet;

use serde_json::{json, Value};

use super::output::{cell_value, rows_as_objects, write_csv};
use super::table::{delimiter_name, read_table};
use super::{bool_param, delimiter_param, string_list, MAX_COLUMNS, MAX_ROWS};
use crate::tools::ToolError;

pub(super) fn parse(params: &Value) -> Result<Value, ToolError> {
    let has_headers = bool_param(params, "has_headers", true);
    let infer = bool_param(params, "infer_types", false);
    let table = read_table(params, has_headers)?;
    let all: Vec<&Vec<String>> = table.rows.iter().collect();
    let rows = if has_headers {
        let indexes: Vec<usize> = (0..table.headers.len()).collect();
        rows_as_objects(&table.headers, &indexes, &all, infer)?
    } else {
        all.iter()
            .map(|row| Value::Array(row.iter().map(|c| cell_value(Some(c), infer)).collect()))
            .collect()
    };
    Ok(json!({
        "headers": if has_headers { json!(table.headers) } else { Value::Null },
        "rows": rows,
        "row_count": table.rows.len(),
        "column_count": table.headers.len(),
        "delimiter": delimiter_name(table.delimiter),
    }))
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

pub(super) fn to_csv(params: &Value) -> Result<Value, ToolError> {
    let rows = params
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| ToolError::invalid("rows", "\"rows\" must be an array"))?;
    if rows.len() > MAX_ROWS {
        return Err(ToolError::invalid(
            "rows",
            format!("give at most {MAX_ROWS} rows"),
        ));
    }
    let delimiter = delimiter_param(params)?.unwrap_or(b',');
    let include_headers = bool_param(params, "include_headers", true);
    let objects = rows.iter().all(Value::is_object);
    let arrays = rows.iter().all(Value::is_array);
    if !rows.is_empty() && !objects && !arrays {
        return Err(ToolError::invalid(
            "rows",
            "give rows as all objects or all arrays",
        ));
    }

    let (headers, cells): (Option<Vec<String>>, Vec<Vec<String>>) = if arrays && !rows.is_empty() {
        let cells = rows
            .iter()
            .filter_map(Value::as_array)
            .map(|row| row.iter().map(cell_text).collect())
            .collect();
        (None, cells)
    } else {
        let columns = match string_list(params, "columns")? {
            Some(columns) => columns,
            None => {
                let mut seen = HashSet::new();
                let mut columns = Vec::new();
                for key in rows
                    .iter()
                    .filter_map(Value::as_object)
                    .flat_map(|o| o.keys())
                {
                    if seen.insert(key.as_str()) {
                        if columns.len() >= MAX_COLUMNS {
                            return Err(ToolError::invalid(
                                "rows",
                                format!("the rows have more than {MAX_COLUMNS} distinct keys"),
                            ));
                        }
                        columns.push(key.clone());
                    }
                }
                columns
            }
        };
        let cells = rows
            .iter()
            .filter_map(Value::as_object)
            .map(|row| {
                columns
                    .iter()
                    .map(|c| row.get(c).map(cell_text).unwrap_or_default())
                    .collect()
            })
            .collect();
        (include_headers.then_some(columns), cells)
    };
    let text = write_csv(delimiter, headers.as_deref(), &cells)?;
    Ok(json!({"csv": text, "row_count": cells.len(), "columns": headers}))
}
