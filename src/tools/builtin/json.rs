//! JSON tools: JSONPath queries, JSON Schema validation, diffs, merge patches and parsing.

mod diff;
mod merge_patch;
mod parse;
mod query;
#[cfg(test)]
mod tests;
mod validate;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use diff::diff;
use merge_patch::merge_patch;
use parse::parse;
use query::query;
use validate::validate;
/// Longest JSONPath expression accepted.
const MAX_PATH_CHARS: usize = 1_000;
/// Deepest bracket nesting in a JSONPath; its parser recurses once per level.
const MAX_PATH_NESTING: usize = 32;
/// Most descendant (`..`) segments in a JSONPath.
const MAX_DESCENDANT_SEGMENTS: usize = 2;
/// Most query matches or diff changes returned.
const MAX_RESULTS: usize = 10_000;
/// Largest serialized query output, in bytes.
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Most validation errors reported.
const MAX_VALIDATION_ERRORS: usize = 100;
/// Longest validation message, in characters; messages can quote the instance.
const MAX_MESSAGE_CHARS: usize = 300;
/// Deepest document `diff` and `merge_patch` walk.
const MAX_DEPTH: usize = 256;
/// Largest JSON text `parse` accepts, in characters.
const MAX_JSON_TEXT_CHARS: usize = 1_000_000;
/// Compiled-size limit for `pattern` regexes in schemas.
const SCHEMA_REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Queries, validates, compares and patches JSON documents.
pub struct Tool;

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "json-tools",
            name: "json_tools",
            display_name: "JSON Tools",
            description: "Works on JSON documents: select values with JSONPath (RFC 9535), validate against \
                a JSON Schema, list the differences between two documents, apply a JSON merge patch \
                (RFC 7396), or parse JSON text with precise syntax errors.",
            category: "data",
            actions: vec![
                ActionSpec {
                    name: "query",
                    description: "Select values from a JSON document with a JSONPath expression (RFC 9535), \
                        e.g. \"$.store.book[?@.price < 10].title\". Returns each match and, up to 10000 \
                        matches, its normalized path. At most two .. segments.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "data": {"description": "The JSON document to query (any JSON value)."},
                            "path": {"type": "string", "minLength": 1, "maxLength": MAX_PATH_CHARS, "description": "The JSONPath expression, starting with $."}
                        },
                        "required": ["data", "path"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "validate",
                    description: "Validate a JSON document against a JSON Schema (draft 2020-12 unless the \
                        schema's $schema says otherwise; formats are checked). Returns every violation with \
                        its location. External $ref URLs are not fetched.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "data": {"description": "The JSON document to validate (any JSON value)."},
                            "schema": {"type": ["object", "boolean"], "description": "The JSON Schema to validate against."}
                        },
                        "required": ["data", "schema"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(2),
                },
                ActionSpec {
                    name: "diff",
                    description: "List the differences between two JSON documents as add, remove and replace \
                        operations at JSON Pointer paths (arrays are compared index by index).",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "before": {"description": "The original JSON document."},
                            "after": {"description": "The changed JSON document."}
                        },
                        "required": ["before", "after"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "merge_patch",
                    description: "Apply a JSON merge patch (RFC 7396) to a document: objects merge, null \
                        removes a member, anything else replaces.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "target": {"description": "The JSON document to patch."},
                            "patch": {"description": "The merge patch to apply."}
                        },
                        "required": ["target", "patch"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "parse",
                    description: "Parse JSON text: returns the value, or the line and column of the syntax error. \
                        Optionally returns it re-serialized, pretty or compact.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": {"type": "string", "maxLength": MAX_JSON_TEXT_CHARS, "description": "The JSON text to parse."},
                            "format": {"type": "string", "enum": ["pretty", "compact"], "description": "Also return the value re-serialized this way."}
                        },
                        "required": ["text"],
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
            "query" => query(param(params, "data")?, str_param(params, "path")?),
            "validate" => validate(param(params, "data")?, param(params, "schema")?),
            "diff" => diff(param(params, "before")?, param(params, "after")?),
            "merge_patch" => {
                let mut target = param(params, "target")?.clone();
                merge_patch(&mut target, param(params, "patch")?, 0)?;
                Ok(json!({"result": target}))
            }
            "parse" => parse(
                str_param(params, "text")?,
                params.get("format").and_then(Value::as_str),
            ),
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

fn param<'a>(params: &'a Value, field: &str) -> Result<&'a Value, ToolError> {
    params
        .get(field)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" is required")))
}

fn str_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    param(params, field)?
        .as_str()
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a string")))
}
