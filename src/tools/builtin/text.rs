//! Text utilities: statistics, case and slug transforms, regex replace and extraction.

mod patterns;
mod stats;
#[cfg(test)]
mod tests;
mod transform;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{bool_param, str_param};
use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use patterns::{extract, regex_replace};
use stats::stats;
use transform::transform;
/// Largest text accepted, in characters.
const MAX_TEXT_CHARS: usize = 1_000_000;
/// Longest regular expression accepted, in characters.
const MAX_PATTERN_CHARS: usize = 1_000;
/// Longest replacement template accepted, in characters.
const MAX_REPLACEMENT_CHARS: usize = 10_000;
/// Largest text a replace or an extraction may produce, in bytes.
const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Most matches `extract` returns.
const MAX_MATCHES: u64 = 10_000;
/// Compiled-program limits, so a pattern cannot claim much memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
const REGEX_DFA_SIZE_LIMIT: usize = 4 << 20;
/// Average adult silent reading speed, words per minute.
const READING_WPM: f64 = 238.0;

const OPERATIONS: &[&str] = &[
    "upper",
    "lower",
    "title",
    "sentence_case",
    "snake_case",
    "kebab_case",
    "camel_case",
    "pascal_case",
    "constant_case",
    "slugify",
    "reverse",
    "trim",
    "collapse_whitespace",
];

/// Ready-made patterns for `extract`.
const PRESETS: &[(&str, &str)] = &[
    ("email", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),
    (
        "url",
        r#"https?://[^\s<>"'()\[\]{}]+[^\s<>"'()\[\]{}.,;:!?]"#,
    ),
    (
        "number",
        r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?",
    ),
    ("hashtag", r"#[\p{L}\p{N}_]+"),
    ("mention", r"@[A-Za-z0-9_]+"),
    (
        "ipv4",
        r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b",
    ),
    (
        "iso_date",
        r"\b\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])\b",
    ),
];

/// Counts, transforms and searches text.
pub struct Tool;

fn text_property(description: &str) -> Value {
    json!({"type": "string", "maxLength": MAX_TEXT_CHARS, "description": description})
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        let preset_names: Vec<&str> = PRESETS.iter().map(|(name, _)| *name).collect();
        BuiltinSpec {
            slug: "text-utils",
            name: "text_utils",
            display_name: "Text Utilities",
            description: "Counts words, sentences and reading time; changes case (snake_case, camelCase, \
                slugs, ...); and finds, extracts or replaces text with regular expressions.",
            category: "text",
            actions: vec![
                ActionSpec {
                    name: "stats",
                    description: "Count characters, words, lines, sentences and paragraphs, estimate \
                        reading time, and list the most frequent words.",
                    parameters: json!({
                        "type": "object",
                        "properties": {"text": text_property("The text to measure.")},
                        "required": ["text"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "transform",
                    description: "Change the text's case or form: upper, lower, title, sentence_case, \
                        snake_case, kebab_case, camel_case, pascal_case, constant_case, slugify, reverse, \
                        trim, collapse_whitespace.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": text_property("The text to transform."),
                            "operation": {"type": "string", "enum": OPERATIONS, "description": "The transform to apply."}
                        },
                        "required": ["text", "operation"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "regex_replace",
                    description: "Replace every match of a regular expression (Rust regex syntax, no \
                        look-around or backreferences). The replacement may refer to groups as $1 or ${name}.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": text_property("The text to search."),
                            "pattern": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_CHARS, "description": "The regular expression to find."},
                            "replacement": {"type": "string", "maxLength": MAX_REPLACEMENT_CHARS, "description": "What each match becomes; $1, $2 or ${name} insert groups, $$ a literal $."},
                            "case_insensitive": {"type": "boolean", "description": "Match regardless of letter case. Default false."},
                            "limit": {"type": "integer", "minimum": 1, "description": "Replace only the first N matches. Default: all."}
                        },
                        "required": ["text", "pattern", "replacement"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "extract",
                    description: "List the matches of a regular expression, or of a preset (email, url, \
                        number, hashtag, mention, ipv4, iso_date), with their capture groups and positions.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": text_property("The text to search."),
                            "pattern": {"type": "string", "minLength": 1, "maxLength": MAX_PATTERN_CHARS, "description": "The regular expression to find. Give this or preset."},
                            "preset": {"type": "string", "enum": preset_names, "description": "A ready-made pattern to find instead of pattern."},
                            "case_insensitive": {"type": "boolean", "description": "Match regardless of letter case. Default false."},
                            "unique": {"type": "boolean", "description": "Return each distinct match text once. Default false."},
                            "max_matches": {"type": "integer", "minimum": 1, "maximum": MAX_MATCHES, "description": "Most matches to return. Default 1000."}
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
            "stats" => Ok(stats(text_param(params)?)),
            "transform" => transform(text_param(params)?, str_param(params, "operation")?),
            "regex_replace" => regex_replace(params),
            "extract" => extract(params),
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

fn text_param(params: &Value) -> Result<&str, ToolError> {
    let text = str_param(params, "text")?;
    if text.len() > MAX_TEXT_CHARS * 4 || text.chars().count() > MAX_TEXT_CHARS {
        return Err(ToolError::invalid(
            "text",
            format!("the text is longer than {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(text)
}
