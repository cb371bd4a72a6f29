//! CSV tools: parse to JSON, build from JSON, filter and sort rows, and profile columns.

use std::cmp::Ordering;
use std::collections::HashSet;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Largest CSV text accepted, in characters.
const MAX_CSV_CHARS: usize = 1_000_000;
/// Most data rows read or written.
const MAX_ROWS: usize = 100_000;
/// Most columns in a row.
const MAX_COLUMNS: usize = 1_000;
/// Largest output, in bytes (estimated for JSON); object rows repeat every header.
const MAX_OUTPUT_BYTES: usize = 8 * 1024 * 1024;
/// Most distinct values `describe` counts per column.
const MAX_DISTINCT: usize = 10_000;
/// Most `where` conditions in a query.
const MAX_CONDITIONS: usize = 20;

const OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "empty",
    "not_empty",
];

/// Parses, builds, queries and profiles CSV data.
pub struct Tool;

fn csv_property() -> Value {
    json!({"type": "string", "maxLength": MAX_CSV_CHARS, "description": "The CSV text."})
}

fn delimiter_property() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 5, "description": "The field separator: one ASCII character such as \",\" \";\" \"|\", or \"\\t\"/\"tab\". Default: detected from the first line."})
}

fn has_headers_property() -> Value {
    json!({"type": "boolean", "description": "Whether the first row holds column names. Default true."})
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "csv-tools",
            name: "csv_tools",
            display_name: "CSV Tools",
            description: "Turns CSV text into JSON rows and JSON rows into CSV, filters, sorts and selects \
                columns of CSV data, and profiles each column (types, empty cells, distinct values, numeric range).",
            category: "data",
            actions: vec![
                ActionSpec {
                    name: "parse",
                    description: "Parse CSV text into rows: objects keyed by column name when the first row \
                        holds headers, arrays otherwise.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "csv": csv_property(),
                            "delimiter": delimiter_property(),
                            "has_headers": has_headers_property(),
                            "infer_types": {"type": "boolean", "description": "Turn numeric cells into numbers, true/false into booleans and empty cells into null. Default false (all strings)."}
                        },
                        "required": ["csv"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "to_csv",
                    description: "Build CSV text from rows given as JSON objects (columns are the keys, in \
                        order of first appearance) or as arrays.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "rows": {"type": "array", "maxItems": MAX_ROWS, "items": {"type": ["object", "array"]}, "description": "The rows: objects, or arrays of cells."},
                            "columns": {"type": "array", "maxItems": MAX_COLUMNS, "items": {"type": "string"}, "description": "Column names and order for object rows. Default: every key seen."},
                            "delimiter": {"type": "string", "minLength": 1, "maxLength": 5, "description": "The field separator. Default \",\"."},
                            "include_headers": {"type": "boolean", "description": "Write a header row (object rows only). Default true."}
                        },
                        "required": ["rows"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "query",
                    description: "Filter rows of CSV data (with headers) by conditions on columns, sort them, \
                        keep some columns and page through them. Returns the rows as objects and as CSV.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "csv": csv_property(),
                            "delimiter": delimiter_property(),
                            "where": {
                                "type": "array",
                                "maxItems": MAX_CONDITIONS,
                                "description": "Conditions every returned row meets. gt/gte/lt/lte compare numerically when both sides are numbers, else as text.",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "column": {"type": "string", "description": "The column to test."},
                                        "op": {"type": "string", "enum": OPERATORS, "description": "The comparison."},
                                        "value": {"type": ["string", "number", "boolean"], "description": "The value to compare with (not needed for empty/not_empty)."},
                                        "case_insensitive": {"type": "boolean", "description": "Compare text regardless of case. Default false."}
                                    },
                                    "required": ["column", "op"],
                                    "additionalProperties": false
                                }
                            },
                            "columns": {"type": "array", "maxItems": MAX_COLUMNS, "items": {"type": "string"}, "description": "The columns to return, in order. Default: all."},
                            "sort_by": {"type": "string", "description": "The column to sort by (numerically when all its values are numbers)."},
                            "descending": {"type": "boolean", "description": "Sort from largest to smallest. Default false."},
                            "offset": {"type": "integer", "minimum": 0, "description": "Matching rows to skip. Default 0."},
                            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_ROWS, "description": "Most rows to return. Default 1000."}
                        },
                        "required": ["csv"],
                        "additionalProperties": false
                    }),
                    price_credits: 2,
                },
                ActionSpec {
                    name: "describe",
                    description: "Profile each column: inferred type, empty cells, distinct values, numeric \
                        min/max/mean, and sample values.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "csv": csv_property(),
                            "delimiter": delimiter_property(),
                            "has_headers": has_headers_property()
                        },
                        "required": ["csv"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
            ],
        }
    }

    async fn call(
        &self,
        action: &str,
        params: &Value,
        _ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        match action {
            "parse" => parse(params),
            "to_csv" => to_csv(params),
            "query" => query(params),
            "describe" => describe(params),
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

fn bool_param(params: &Value, field: &str, default: bool) -> bool {
    params
        .get(field)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

fn string_list(params: &Value, field: &str) -> Result<Option<Vec<String>>, ToolError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ToolError::invalid(field, format!("\"{field}\" must list strings"))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(ToolError::invalid(
            field,
            format!("\"{field}\" must be an array of strings"),
        )),
    }
}

/// Reads a delimiter parameter: one ASCII character, or "\t"/"tab".
fn delimiter_param(params: &Value) -> Result<Option<u8>, ToolError> {
    let Some(raw) = params.get("delimiter").and_then(Value::as_str) else {
        return Ok(None);
    };
    let byte = match raw {
        "\\t" | "tab" | "\t" => b'\t',
        s if s.len() == 1 && s.is_ascii() && !matches!(s, "\"" | "\n" | "\r") => s.as_bytes()[0],
        _ => {
            return Err(ToolError::invalid(
                "delimiter",
                "the delimiter must be one ASCII character (not a quote or newline), or \"tab\"",
            ))
        }
    };
    Ok(Some(byte))
}

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
struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    delimiter: u8,
}

fn read_table(params: &Value, has_headers: bool) -> Result<Table, ToolError> {
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

fn delimiter_name(d: u8) -> String {
    if d == b'\t' {
        "tab".to_string()
    } else {
        (d as char).to_string()
    }
}

fn cell_value(cell: Option<&String>, infer: bool) -> Value {
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
fn rows_as_objects(
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

fn parse(params: &Value) -> Result<Value, ToolError> {
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

// ---- to_csv ----

fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}

fn write_csv(
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

fn to_csv(params: &Value) -> Result<Value, ToolError> {
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

// ---- query ----

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

fn number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
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

fn query(params: &Value) -> Result<Value, ToolError> {
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

// ---- describe ----

fn describe(params: &Value) -> Result<Value, ToolError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, run_tool};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    const PEOPLE: &str =
        "name,age,city\nAna,34,Lisbon\nBob,27,\"Paris, FR\"\nCleo,41,Lisbon\nDan,9,Oslo\n";

    #[tokio::test]
    async fn parses_with_headers_and_types() {
        let r = run("parse", json!({"csv": PEOPLE})).await.unwrap();
        assert_eq!(r["headers"], json!(["name", "age", "city"]));
        assert_eq!(r["row_count"], json!(4));
        assert_eq!(
            r["rows"][1],
            json!({"name": "Bob", "age": "27", "city": "Paris, FR"})
        );
        let r = run(
            "parse",
            json!({"csv": "id;score;ok;zip\n1;2.5;true;0123\n2;;FALSE;9\n", "infer_types": true}),
        )
        .await
        .unwrap();
        assert_eq!(r["delimiter"], ";");
        assert_eq!(
            r["rows"][0],
            json!({"id": 1, "score": 2.5, "ok": true, "zip": "0123"})
        );
        assert_eq!(
            r["rows"][1],
            json!({"id": 2, "score": null, "ok": false, "zip": 9})
        );
    }

    #[tokio::test]
    async fn parses_ragged_rows_and_odd_headers() {
        let r = run("parse", json!({"csv": "a,a,\n1,2,3,4\n5\n"}))
            .await
            .unwrap();
        assert_eq!(r["headers"], json!(["a", "a_2", "column_3", "column_4"]));
        assert_eq!(
            r["rows"][1],
            json!({"a": "5", "a_2": null, "column_3": null, "column_4": null})
        );
        let r = run(
            "parse",
            json!({"csv": "x\ty\n1\t2\n", "has_headers": false, "delimiter": "tab"}),
        )
        .await
        .unwrap();
        assert_eq!(r["rows"], json!([["x", "y"], ["1", "2"]]));
        assert!(r["headers"].is_null());
        let err = run("parse", json!({"csv": "a", "delimiter": "ab"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("delimiter"));
    }

    #[tokio::test]
    async fn caps_rows_and_output() {
        let many = "a\n".repeat(MAX_ROWS + 2);
        let err = run("parse", json!({"csv": many})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("csv"));
        // Long header names repeated on every row would blow up the JSON.
        let header = (0..100)
            .map(|i| format!("{}{i}", "h".repeat(5000)))
            .collect::<Vec<_>>()
            .join(",");
        let wide = format!("{header}\n{}", format!("{}\n", ",".repeat(99)).repeat(1000));
        let err = run("parse", json!({"csv": wide})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("csv"));
    }

    #[tokio::test]
    async fn builds_csv_from_rows() {
        let r = run(
            "to_csv",
            json!({"rows": [{"name": "Ana", "tags": ["a", "b"]}, {"name": "Bob, Jr", "age": 3, "ok": null}]}),
        )
        .await
        .unwrap();
        assert_eq!(
            r["csv"],
            "name,tags,age,ok\nAna,\"[\"\"a\"\",\"\"b\"\"]\",,\n\"Bob, Jr\",,3,\n"
        );
        assert_eq!(r["row_count"], json!(2));
        let r = run(
            "to_csv",
            json!({"rows": [[1, "x"], [2, "y;z"]], "delimiter": ";"}),
        )
        .await
        .unwrap();
        assert_eq!(r["csv"], "1;x\n2;\"y;z\"\n");
        let r = run(
            "to_csv",
            json!({"rows": [{"a": 1, "b": 2}], "columns": ["b"]}),
        )
        .await
        .unwrap();
        assert_eq!(r["csv"], "b\n2\n");
        let err = run("to_csv", json!({"rows": [{"a": 1}, [1]]}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("rows"));
    }

    #[tokio::test]
    async fn queries_rows() {
        let r = run(
            "query",
            json!({"csv": PEOPLE, "where": [{"column": "age", "op": "gte", "value": 18}], "sort_by": "age", "descending": true, "columns": ["name", "age"]}),
        )
        .await
        .unwrap();
        assert_eq!(r["matched_count"], json!(3));
        assert_eq!(
            r["rows"],
            json!([{"name": "Cleo", "age": "41"}, {"name": "Ana", "age": "34"}, {"name": "Bob", "age": "27"}])
        );
        assert_eq!(r["csv"], "name,age\nCleo,41\nAna,34\nBob,27\n");
        let r = run(
            "query",
            json!({"csv": PEOPLE, "where": [{"column": "city", "op": "eq", "value": "lisbon", "case_insensitive": true}], "limit": 1, "offset": 1}),
        )
        .await
        .unwrap();
        assert_eq!(
            r["rows"],
            json!([{"name": "Cleo", "age": "41", "city": "Lisbon"}])
        );
        assert_eq!(r["matched_count"], json!(2));
        let err = run("query", json!({"csv": PEOPLE, "sort_by": "height"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("sort_by"));
        let err = run(
            "query",
            json!({"csv": PEOPLE, "where": [{"column": "age", "op": "gt"}]}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("where"));
    }

    #[tokio::test]
    async fn describes_columns() {
        let r = run("describe", json!({"csv": PEOPLE})).await.unwrap();
        assert_eq!(r["row_count"], json!(4));
        let age = &r["columns"][1];
        assert_eq!(age["type"], "integer");
        assert_eq!(age["min"], json!(9.0));
        assert_eq!(age["max"], json!(41.0));
        assert_eq!(age["mean"], json!(27.75));
        let city = &r["columns"][2];
        assert_eq!(city["type"], "string");
        assert_eq!(city["distinct"], json!(3));
        assert_eq!(city["samples"], json!(["Lisbon", "Paris, FR", "Oslo"]));
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("pivot", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
