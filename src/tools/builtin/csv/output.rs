//! Writing rows out, within the output limit: as JSON objects (cells
//! optionally typed) and as CSV text.

use serde_json::{json, Map, Value};

use super::MAX_OUTPUT_BYTES;
use crate::tools::ToolError;

pub(super) fn cell_value(cell: Option<&String>, infer: bool) -> Value {
    let Some(cell) = cell else { return Value::Null };
    if !infer {
        return Value::String(cell.clone());
    }
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return Value::Null;
    }
    if let Ok(i) = trimmed.parse::<i64>() {
        // Leading zeros (zip codes, ids) stay text.
        if !(trimmed.len() > 1 && (trimmed.starts_with('0') || trimmed.starts_with("-0"))) {
            return json!(i);
        }
    }
    if trimmed.contains('.') || trimmed.contains(['e', 'E']) {
        if let Ok(f) = trimmed.parse::<f64>() {
            if f.is_finite() && !trimmed.starts_with(['.', '+']) {
                return json!(f);
            }
        }
    }
    match trimmed.to_ascii_lowercase().as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(cell.clone()),
    }
}

fn too_large() -> ToolError {
    ToolError::invalid(
        "csv",
        format!(
            "the result would be larger than {} MiB",
            MAX_OUTPUT_BYTES >> 20
        ),
    )
}

/// Rows as JSON objects keyed by `headers` (only the columns at `indexes`).
pub(super) fn rows_as_objects(
    headers: &[String],
    indexes: &[usize],
    rows: &[&Vec<String>],
    infer: bool,
) -> Result<Vec<Value>, ToolError> {
    let key_bytes: usize = indexes.iter().map(|&i| headers[i].len() + 6).sum();
    let mut bytes = 0usize;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        bytes += key_bytes
            + indexes
                .iter()
                .map(|&i| row.get(i).map_or(4, String::len))
                .sum::<usize>();
        if bytes > MAX_OUTPUT_BYTES {
            return Err(too_large());
        }
        let object: Map<String, Value> = indexes
            .iter()
            .map(|&i| (headers[i].clone(), cell_value(row.get(i), infer)))
            .collect();
        out.push(Value::Object(object));
    }
    Ok(out)
}

pub(super) fn write_csv(
    delimiter: u8,
    headers: Option<&[String]>,
    rows: &[Vec<String>],
) -> Result<String, ToolError> {
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_writer(Vec::new());
    let fail = |e: ::csv::Error| ToolError::Failed(format!("cannot write CSV: {e}"));
    if let Some(headers) = headers {
        writer.write_record(headers).map_err(fail)?;
    }
    let mut bytes = 0usize;
    for row in rows {
        bytes += row.iter().map(|c| c.len() + 3).sum::<usize>();
        if bytes > MAX_OUTPUT_BYTES {
            return Err(too_large());
        }
        writer.write_record(row).map_err(fail)?;
    }
    let data = writer
        .into_inner()
        .map_err(|e| ToolError::Failed(format!("cannot write CSV: {e}")))?;
    String::from_utf8(data).map_err(|_| ToolError::Failed("the CSV is not UTF-8".into()))
}
