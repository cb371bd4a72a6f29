//! The `describe` action: a profile of each column (type, empty cells,
//! distinct values, numeric range, samples).

use std::collections::HashSet;

use serde_json::{json, Value};

use super::table::{delimiter_name, number, read_table};
use super::{bool_param, MAX_DISTINCT};
use crate::tools::ToolError;

pub(super) fn describe(params: &Value) -> Result<Value, ToolError> {
    let has_headers = bool_param(params, "has_headers", true);
    let table = read_table(params, has_headers)?;
    let mut columns = Vec::with_capacity(table.headers.len());
    for (i, name) in table.headers.iter().enumerate() {
        let cells: Vec<&str> = table
            .rows
            .iter()
            .map(|r| r.get(i).map_or("", String::as_str))
            .collect();
        let filled: Vec<&str> = cells
            .iter()
            .copied()
            .filter(|c| !c.trim().is_empty())
            .collect();
        let mut distinct = HashSet::new();
        let mut distinct_capped = false;
        for c in &filled {
            if distinct.len() >= MAX_DISTINCT {
                distinct_capped = true;
                break;
            }
            distinct.insert(*c);
        }
        let numbers: Vec<f64> = filled.iter().filter_map(|c| number(c)).collect();
        let all_numeric = !filled.is_empty() && numbers.len() == filled.len();
        let all_bool = !filled.is_empty()
            && filled
                .iter()
                .all(|c| matches!(c.trim().to_ascii_lowercase().as_str(), "true" | "false"));
        let kind = if filled.is_empty() {
            "empty"
        } else if all_numeric && filled.iter().all(|c| c.trim().parse::<i64>().is_ok()) {
            "integer"
        } else if all_numeric {
            "number"
        } else if all_bool {
            "boolean"
        } else {
            "string"
        };
        let mut samples = Vec::new();
        let mut seen = HashSet::new();
        for c in &filled {
            if samples.len() >= 5 {
                break;
            }
            if seen.insert(*c) {
                samples.push(c.chars().take(100).collect::<String>());
            }
        }
        let mut column = json!({
            "name": name,
            "type": kind,
            "non_empty": filled.len(),
            "empty": cells.len() - filled.len(),
            "distinct": distinct.len(),
            "distinct_capped": distinct_capped,
            "samples": samples,
        });
        if all_numeric {
            let min = numbers.iter().copied().fold(f64::INFINITY, f64::min);
            let max = numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mean = numbers.iter().sum::<f64>() / numbers.len() as f64;
            column["min"] = json!(min);
            column["max"] = json!(max);
            column["mean"] = json!(mean);
        }
        columns.push(column);
    }
    Ok(json!({
        "row_count": table.rows.len(),
        "column_count": table.headers.len(),
        "delimiter": delimiter_name(table.delimiter),
        "columns": columns,
    }))
}
