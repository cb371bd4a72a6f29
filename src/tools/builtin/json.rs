//! JSON tools: JSONPath queries, JSON Schema validation, diffs, merge patches and parsing.

use std::io::Write;

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use serde_json_path::JsonPath;

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

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
                    price_credits: 1,
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
                    price_credits: 2,
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
                    price_credits: 1,
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
                    price_credits: 1,
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

fn clip(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message
    } else {
        let mut short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        short.push('…');
        short
    }
}

/// Counts serialized bytes without keeping them.
struct ByteCounter(usize);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn serialized_len(value: &Value) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

// ---- query ----

fn query(data: &Value, path: &str) -> Result<Value, ToolError> {
    if path.chars().count() > MAX_PATH_CHARS {
        return Err(ToolError::invalid(
            "path",
            format!("the path is longer than {MAX_PATH_CHARS} characters"),
        ));
    }
    let mut depth = 0usize;
    for c in path.chars() {
        match c {
            '(' | '[' => {
                depth += 1;
                if depth > MAX_PATH_NESTING {
                    return Err(ToolError::invalid("path", "the path is nested too deeply"));
                }
            }
            ')' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    // Each descendant segment multiplies the nodes visited by the document's depth.
    if path.matches("..").count() > MAX_DESCENDANT_SEGMENTS {
        return Err(ToolError::invalid(
            "path",
            format!("use at most {MAX_DESCENDANT_SEGMENTS} descendant (..) segments"),
        ));
    }
    let compiled = JsonPath::parse(path)
        .map_err(|e| ToolError::invalid("path", format!("invalid JSONPath: {e}")))?;
    let nodes = compiled.query(data);
    let total = nodes.len();
    // Locating costs memory per match and level, so paths come only with few matches.
    let found: Vec<(&Value, Option<String>)> = if total <= MAX_RESULTS {
        compiled
            .query_located(data)
            .all()
            .into_iter()
            .map(|n| (n.node(), Some(n.location().to_string())))
            .collect()
    } else {
        nodes.all().into_iter().map(|v| (v, None)).collect()
    };
    let mut matches = Vec::new();
    let mut paths = Vec::new();
    let mut bytes = 0usize;
    let mut truncated = false;
    for (value, path) in found {
        if matches.len() >= MAX_RESULTS {
            truncated = true;
            break;
        }
        bytes += serialized_len(value);
        if bytes > MAX_OUTPUT_BYTES {
            truncated = true;
            break;
        }
        matches.push(value.clone());
        if let Some(path) = path {
            paths.push(path);
        }
    }
    let paths = (total <= MAX_RESULTS).then_some(paths);
    Ok(json!({
        "matches": matches,
        "paths": paths,
        "count": matches.len(),
        "total_matches": total,
        "truncated": truncated,
    }))
}

// ---- validate ----

fn validate(data: &Value, schema: &Value) -> Result<Value, ToolError> {
    let validator = jsonschema::options()
        .offline()
        .should_validate_formats(true)
        .with_pattern_options(
            jsonschema::PatternOptions::regex()
                .size_limit(SCHEMA_REGEX_SIZE_LIMIT)
                .dfa_size_limit(SCHEMA_REGEX_SIZE_LIMIT),
        )
        .build(schema)
        .map_err(|e| ToolError::invalid("schema", clip(format!("the schema is not valid: {e}"))))?;
    let mut errors = Vec::new();
    let mut truncated = false;
    for error in validator.iter_errors(data) {
        if errors.len() >= MAX_VALIDATION_ERRORS {
            truncated = true;
            break;
        }
        errors.push(json!({
            "instance_path": error.instance_path().as_str(),
            "schema_path": error.schema_path().as_str(),
            "message": clip(error.to_string()),
        }));
    }
    Ok(json!({
        "valid": errors.is_empty(),
        "error_count": errors.len(),
        "errors": errors,
        "truncated": truncated,
    }))
}

// ---- diff ----

/// Escapes one JSON Pointer segment (RFC 6901).
fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

struct Differ {
    changes: Vec<Value>,
    truncated: bool,
}

impl Differ {
    fn push(&mut self, change: Value) {
        if self.changes.len() >= MAX_RESULTS {
            self.truncated = true;
        } else {
            self.changes.push(change);
        }
    }

    fn walk(
        &mut self,
        path: &str,
        before: &Value,
        after: &Value,
        depth: usize,
    ) -> Result<(), ToolError> {
        if depth > MAX_DEPTH {
            return Err(ToolError::invalid(
                "before",
                "the documents are nested too deeply",
            ));
        }
        if self.truncated || before == after {
            return Ok(());
        }
        match (before, after) {
            (Value::Object(a), Value::Object(b)) => {
                for (key, old) in a {
                    let child = format!("{path}/{}", pointer_segment(key));
                    match b.get(key) {
                        Some(new) => self.walk(&child, old, new, depth + 1)?,
                        None => self.push(json!({"op": "remove", "path": child, "old": old})),
                    }
                }
                for (key, new) in b {
                    if !a.contains_key(key) {
                        let child = format!("{path}/{}", pointer_segment(key));
                        self.push(json!({"op": "add", "path": child, "new": new}));
                    }
                }
            }
            (Value::Array(a), Value::Array(b)) => {
                for (i, (old, new)) in a.iter().zip(b).enumerate() {
                    self.walk(&format!("{path}/{i}"), old, new, depth + 1)?;
                }
                // Removals are listed from the end so they apply in order.
                for i in (b.len()..a.len()).rev() {
                    self.push(json!({"op": "remove", "path": format!("{path}/{i}"), "old": a[i]}));
                }
                for (i, new) in b.iter().enumerate().skip(a.len()) {
                    self.push(json!({"op": "add", "path": format!("{path}/{i}"), "new": new}));
                }
            }
            _ => self.push(json!({"op": "replace", "path": path, "old": before, "new": after})),
        }
        Ok(())
    }
}

fn diff(before: &Value, after: &Value) -> Result<Value, ToolError> {
    let mut differ = Differ {
        changes: Vec::new(),
        truncated: false,
    };
    differ.walk("", before, after, 0)?;
    Ok(json!({
        "equal": before == after,
        "change_count": differ.changes.len(),
        "changes": differ.changes,
        "truncated": differ.truncated,
    }))
}

// ---- merge_patch ----

/// RFC 7396 section 2, applied in place.
fn merge_patch(target: &mut Value, patch: &Value, depth: usize) -> Result<(), ToolError> {
    if depth > MAX_DEPTH {
        return Err(ToolError::invalid(
            "patch",
            "the patch is nested too deeply",
        ));
    }
    let Value::Object(patch_members) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(members) = target {
        for (key, value) in patch_members {
            if value.is_null() {
                members.remove(key);
            } else {
                let slot = members.entry(key.clone()).or_insert(Value::Null);
                merge_patch(slot, value, depth + 1)?;
            }
        }
    }
    Ok(())
}

// ---- parse ----

fn parse(text: &str, format: Option<&str>) -> Result<Value, ToolError> {
    if text.chars().count() > MAX_JSON_TEXT_CHARS {
        return Err(ToolError::invalid(
            "text",
            format!("the text is longer than {MAX_JSON_TEXT_CHARS} characters"),
        ));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let type_name = match &value {
                Value::Null => "null",
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                Value::String(_) => "string",
                Value::Array(_) => "array",
                Value::Object(_) => "object",
            };
            let mut out = json!({"valid": true, "type": type_name, "value": value});
            let formatted = match format {
                Some("pretty") => Some(serde_json::to_string_pretty(&out["value"])),
                Some("compact") => Some(serde_json::to_string(&out["value"])),
                Some(other) => {
                    return Err(ToolError::invalid(
                        "format",
                        format!("unknown format \"{other}\"; use pretty or compact"),
                    ))
                }
                None => None,
            };
            if let Some(formatted) = formatted {
                let formatted =
                    formatted.map_err(|e| ToolError::Failed(format!("cannot serialize: {e}")))?;
                out["formatted"] = Value::String(formatted);
            }
            Ok(out)
        }
        Err(e) => Ok(json!({
            "valid": false,
            "error": e.to_string(),
            "line": e.line(),
            "column": e.column(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, run_tool};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    fn store() -> Value {
        json!({"store": {"book": [
            {"title": "Sayings", "price": 8.95},
            {"title": "Sword", "price": 12.99},
            {"title": "Moby Dick", "price": 8.99}
        ]}})
    }

    #[tokio::test]
    async fn queries_with_jsonpath() {
        let r = run(
            "query",
            json!({"data": store(), "path": "$.store.book[?@.price < 10].title"}),
        )
        .await
        .unwrap();
        assert_eq!(r["matches"], json!(["Sayings", "Moby Dick"]));
        assert_eq!(
            r["paths"],
            json!([
                "$['store']['book'][0]['title']",
                "$['store']['book'][2]['title']"
            ])
        );
        assert_eq!(r["count"], json!(2));
        let r = run("query", json!({"data": store(), "path": "$..nothing"}))
            .await
            .unwrap();
        assert_eq!(r["count"], json!(0));
    }

    #[tokio::test]
    async fn rejects_bad_paths() {
        let err = run("query", json!({"data": {}, "path": "$.store[?"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("path"));
        let err = run("query", json!({"data": {}, "path": "$..a..b..c"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("path"));
        let deep = format!("$[?{}@.a{}]", "(".repeat(300), ")".repeat(300));
        let err = run("query", json!({"data": {}, "path": deep}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("path"));
        let nested = format!("$[?{}@.a == 1{}]", "(".repeat(30), ")".repeat(30));
        let r = run(
            "query",
            json!({"data": [{"a": 1}, {"a": 2}], "path": nested}),
        )
        .await
        .unwrap();
        assert_eq!(r["matches"], json!([{"a": 1}]));
    }

    #[tokio::test]
    async fn validates_against_a_schema() {
        let schema = json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}, "email": {"format": "email"}},
            "required": ["name"]
        });
        let ok = run(
            "validate",
            json!({"data": {"name": "Ana", "age": 3}, "schema": schema}),
        )
        .await
        .unwrap();
        assert_eq!(ok["valid"], json!(true));
        assert_eq!(ok["errors"], json!([]));
        let bad = run(
            "validate",
            json!({"data": {"age": -1, "email": "nope"}, "schema": schema}),
        )
        .await
        .unwrap();
        assert_eq!(bad["valid"], json!(false));
        assert_eq!(bad["error_count"], json!(3));
        let paths: Vec<&str> = bad["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["instance_path"].as_str().unwrap())
            .collect();
        assert!(
            paths.contains(&"/age") && paths.contains(&"/email") && paths.contains(&""),
            "{paths:?}"
        );
    }

    #[tokio::test]
    async fn rejects_bad_or_remote_schemas() {
        let err = run(
            "validate",
            json!({"data": 1, "schema": {"type": "nonsense"}}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("schema"));
        let err = run(
            "validate",
            json!({"data": 1, "schema": {"$ref": "https://example.com/s.json"}}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("schema"));
        let err = run(
            "validate",
            json!({"data": 1, "schema": {"$ref": "file:///etc/passwd"}}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("schema"));
        let err = run(
            "validate",
            json!({"data": "a", "schema": {"pattern": "(a)\\1"}}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("schema"));
    }

    #[tokio::test]
    async fn diffs_documents() {
        let r = run(
            "diff",
            json!({"before": {"a": 1, "b": [1, 2, 3], "c/d": true}, "after": {"a": 2, "b": [1, 2], "e": null, "c/d": true}}),
        )
        .await
        .unwrap();
        assert_eq!(r["equal"], json!(false));
        assert_eq!(
            r["changes"],
            json!([
                {"op": "replace", "path": "/a", "old": 1, "new": 2},
                {"op": "remove", "path": "/b/2", "old": 3},
                {"op": "add", "path": "/e", "new": null}
            ])
        );
        let same = run(
            "diff",
            json!({"before": [1, {"x": 1}], "after": [1, {"x": 1}]}),
        )
        .await
        .unwrap();
        assert_eq!(same["equal"], json!(true));
        assert_eq!(same["changes"], json!([]));
    }

    #[tokio::test]
    async fn applies_merge_patches() {
        // The example from RFC 7396 section 3.
        let target = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"], "content": "This will be unchanged"});
        let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null}, "tags": ["example"]});
        let r = run("merge_patch", json!({"target": target, "patch": patch}))
            .await
            .unwrap();
        assert_eq!(
            r["result"],
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"], "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        let r = run(
            "merge_patch",
            json!({"target": [1], "patch": {"a": {"b": null, "c": 1}}}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], json!({"a": {"c": 1}}));
    }

    #[tokio::test]
    async fn parses_json_text() {
        let r = run(
            "parse",
            json!({"text": "{\"a\": [1, 2]}", "format": "compact"}),
        )
        .await
        .unwrap();
        assert_eq!(r["valid"], json!(true));
        assert_eq!(r["type"], "object");
        assert_eq!(r["formatted"], "{\"a\":[1,2]}");
        let r = run("parse", json!({"text": "{\n  \"a\": [1, 2,]\n}"}))
            .await
            .unwrap();
        assert_eq!(r["valid"], json!(false));
        assert_eq!(r["line"], json!(2));
        let deep = "[".repeat(10_000);
        let r = run("parse", json!({"text": deep})).await.unwrap();
        assert_eq!(r["valid"], json!(false));
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("jq", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
