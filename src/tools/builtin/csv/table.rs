//! Reading CSV text into a table: the delimiter, unique column names, the
//! size limits, and a cell read as a number.

use std::collections::HashSet;

use serde_json::Value;

use super::{delimiter_param, MAX_COLUMNS, MAX_CSV_CHARS, MAX_ROWS};
use crate::tools::ToolError;

/// Picks the most frequent of `,` `;` tab `|` on the first line; `,` when none appear.
fn sniff_delimiter(text: &str) -> u8 {
    let first_line = text.lines().next().unwrap_or("");
    [b',', b';', b'\t', b'|']
        .into_iter()
        .map(|d| (d, first_line.bytes().filter(|b| *b == d).count()))
        .filter(|(_, n)| *n > 0)
        .max_by_key(|(_, n)| *n)
        .map_or(b',', |(d, _)| d)
}

/// A parsed CSV: column names (made unique) and rows of cells.
pub(super) struct Table {
    pub(super) headers: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
    pub(super) delimiter: u8,
}

pub(super) fn read_table(params: &Value, has_headers: bool) -> Result<Table, ToolError> {
    let text = params
        .get("csv")
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid("csv", "\"csv\" must be a string"))?;
    if text.len() > MAX_CSV_CHARS * 4 || text.chars().count() > MAX_CSV_CHARS {
        return Err(ToolError::invalid(
            "csv",
            format!("the CSV is longer than {MAX_CSV_CHARS} characters"),
        ));
    }
    let delimiter = delimiter_param(params)?.unwrap_or_else(|| sniff_delimiter(text));
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let mut raw_headers = Vec::new();
    if has_headers {
        if let Some(first) = records.next() {
            let first = first
                .map_err(|e| ToolError::invalid("csv", format!("cannot read the CSV: {e}")))?;
            if first.len() > MAX_COLUMNS {
                return Err(ToolError::invalid(
                    "csv",
                    format!("the CSV has more than {MAX_COLUMNS} columns"),
                ));
            }
            raw_headers = first.iter().map(|h| h.trim().to_string()).collect();
        }
    }
    let mut rows = Vec::new();
    let mut width = raw_headers.len();
    for record in records {
        let record =
            record.map_err(|e| ToolError::invalid("csv", format!("cannot read the CSV: {e}")))?;
        if rows.len() >= MAX_ROWS {
            return Err(ToolError::invalid(
                "csv",
                format!("the CSV has more than {MAX_ROWS} rows"),
            ));
        }
        if record.len() > MAX_COLUMNS {
            return Err(ToolError::invalid(
                "csv",
                format!("the CSV has more than {MAX_COLUMNS} columns"),
            ));
        }
        width = width.max(record.len());
        rows.push(record.iter().map(str::to_string).collect());
    }
    Ok(Table {
        headers: unique_headers(raw_headers, width),
        rows,
        delimiter,
    })
}

/// Names every column: blank names become `column_N`, repeats get `_2`, `_3`, ...
fn unique_headers(raw: Vec<String>, width: usize) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut headers = Vec::with_capacity(width);
    for i in 0..width {
        let base = raw
            .get(i)
            .filter(|h| !h.is_empty())
            .cloned()
            .unwrap_or_else(|| format!("column_{}", i + 1));
        let mut name = base.clone();
        let mut n = 2;
        while !seen.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        headers.push(name);
    }
    headers
}

pub(super) fn delimiter_name(d: u8) -> String {
    if d == b'\t' {
        "tab".to_string()
    } else {
        (d as char).to_string()
    }
}

pub(super) fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}
