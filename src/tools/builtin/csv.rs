//! CSV tools: parse to JSON, build from JSON, filter and sort rows, and profile columns.

mod convert;
mod describe;
mod output;
mod query;
mod table;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::bool_param;
use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use convert::{parse, to_csv};
use describe::describe;
use query::query;
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(2),
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
                    price_credits: Credits::new(1),
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
