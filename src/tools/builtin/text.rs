//! Text utilities: statistics, case and slug transforms, regex replace and extraction.

use std::collections::HashMap;

use async_trait::async_trait;
use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

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
                    price_credits: 1,
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
                    price_credits: 1,
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
                    price_credits: 1,
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

fn str_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a string")))
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

fn bool_param(params: &Value, field: &str) -> bool {
    params.get(field).and_then(Value::as_bool).unwrap_or(false)
}

// ---- stats ----

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

fn stats(text: &str) -> Value {
    let characters = text.chars().count();
    let characters_no_spaces = text.chars().filter(|c| !c.is_whitespace()).count();
    let words: Vec<&str> = text.split_whitespace().collect();
    let word_count = words.len();
    let lines = if text.is_empty() {
        0
    } else {
        text.lines().count()
    };
    let paragraphs = text
        .split("\n\n")
        .flat_map(|block| block.split("\r\n\r\n"))
        .filter(|p| !p.trim().is_empty())
        .count();

    // A sentence ends at a run of . ! ? followed by whitespace or the end; trailing
    // words without a terminator still make one.
    let mut sentences = 0;
    let mut in_sentence = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '.' | '!' | '?') {
            while matches!(chars.peek(), Some('.' | '!' | '?')) {
                chars.next();
            }
            if in_sentence
                && chars
                    .peek()
                    .is_none_or(|n| n.is_whitespace() || matches!(n, '"' | '\'' | ')'))
            {
                sentences += 1;
                in_sentence = false;
            }
        } else if c.is_alphanumeric() {
            in_sentence = true;
        }
    }
    if in_sentence {
        sentences += 1;
    }

    let mut frequency: HashMap<String, usize> = HashMap::new();
    let mut letters = 0usize;
    for word in &words {
        let cleaned: String = word
            .trim_matches(|c: char| !is_word_char(c))
            .chars()
            .flat_map(char::to_lowercase)
            .collect();
        if !cleaned.is_empty() {
            letters += cleaned.chars().count();
            *frequency.entry(cleaned).or_default() += 1;
        }
    }
    let unique_words = frequency.len();
    let mut top: Vec<(String, usize)> = frequency.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    let reading_minutes = word_count as f64 / READING_WPM;

    json!({
        "characters": characters,
        "characters_no_spaces": characters_no_spaces,
        "bytes": text.len(),
        "words": word_count,
        "unique_words": unique_words,
        "lines": lines,
        "sentences": sentences,
        "paragraphs": paragraphs,
        "average_word_length": if word_count == 0 { 0.0 } else { (letters as f64 / word_count as f64 * 100.0).round() / 100.0 },
        "reading_time_seconds": (reading_minutes * 60.0).round() as u64,
        "reading_time_minutes": (reading_minutes * 10.0).round() / 10.0,
        "top_words": top.into_iter().map(|(word, count)| json!({"word": word, "count": count})).collect::<Vec<_>>(),
    })
}

// ---- transform ----

/// Splits text into words at non-alphanumeric characters and at case changes
/// (`parseHTTPResponse` gives parse, HTTP, Response).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|c| !c.is_empty())
    {
        let chars: Vec<char> = chunk.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0 && !current.is_empty() {
                let prev = chars[i - 1];
                let next = chars.get(i + 1).copied();
                let lower_to_upper = prev.is_lowercase() && c.is_uppercase();
                let acronym_end =
                    prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
                let digit_to_upper = prev.is_numeric() && c.is_uppercase();
                if lower_to_upper || acronym_end || digit_to_upper {
                    words.push(std::mem::take(&mut current));
                }
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// ASCII spelling of common accented Latin letters, for slugs.
fn ascii_fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ð' => "d",
        _ => return None,
    })
}

fn slugify(text: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let piece = if c.is_ascii_alphanumeric() {
            Some(c.to_string())
        } else {
            ascii_fold(c).map(str::to_string)
        };
        match piece {
            Some(p) => {
                if pending_dash && !slug.is_empty() {
                    slug.push('-');
                }
                pending_dash = false;
                slug.push_str(&p);
            }
            None => pending_dash = true,
        }
    }
    slug
}

fn transform(text: &str, operation: &str) -> Result<Value, ToolError> {
    let lower_words = || {
        split_words(text)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
    };
    let result = match operation {
        "upper" => text.to_uppercase(),
        "lower" => text.to_lowercase(),
        "title" => {
            let mut out = String::with_capacity(text.len());
            let mut at_word_start = true;
            for c in text.chars() {
                if c.is_alphanumeric() {
                    if at_word_start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    at_word_start = false;
                } else {
                    out.push(c);
                    at_word_start = c != '\'' && c != '’';
                }
            }
            out
        }
        "sentence_case" => {
            let mut out = String::with_capacity(text.len());
            let mut at_sentence_start = true;
            for c in text.chars() {
                if c.is_alphabetic() {
                    if at_sentence_start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    at_sentence_start = false;
                } else {
                    out.push(c);
                    if matches!(c, '.' | '!' | '?') {
                        at_sentence_start = true;
                    }
                }
            }
            out
        }
        "snake_case" => lower_words().join("_"),
        "kebab_case" => lower_words().join("-"),
        "constant_case" => split_words(text)
            .iter()
            .map(|w| w.to_uppercase())
            .collect::<Vec<_>>()
            .join("_"),
        "camel_case" => {
            let words = split_words(text);
            let mut out = String::new();
            for (i, word) in words.iter().enumerate() {
                if i == 0 {
                    out.push_str(&word.to_lowercase());
                } else {
                    out.push_str(&capitalize(word));
                }
            }
            out
        }
        "pascal_case" => split_words(text).iter().map(|w| capitalize(w)).collect(),
        "slugify" => slugify(text),
        "reverse" => text.chars().rev().collect(),
        "trim" => text.trim().to_string(),
        "collapse_whitespace" => text.split_whitespace().collect::<Vec<_>>().join(" "),
        other => {
            return Err(ToolError::invalid(
                "operation",
                format!(
                    "unknown operation \"{other}\"; use one of: {}",
                    OPERATIONS.join(", ")
                ),
            ))
        }
    };
    Ok(json!({"operation": operation, "result": result}))
}

// ---- regex ----

fn compile(field: &str, pattern: &str, case_insensitive: bool) -> Result<Regex, ToolError> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(ToolError::invalid(
            field,
            format!("the pattern is longer than {MAX_PATTERN_CHARS} characters"),
        ));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|e| ToolError::invalid(field, format!("invalid regular expression: {e}")))
}

fn too_large() -> ToolError {
    ToolError::invalid(
        "text",
        format!(
            "the result would be larger than {} MiB",
            MAX_OUTPUT_BYTES >> 20
        ),
    )
}

fn regex_replace(params: &Value) -> Result<Value, ToolError> {
    let text = text_param(params)?;
    let re = compile(
        "pattern",
        str_param(params, "pattern")?,
        bool_param(params, "case_insensitive"),
    )?;
    let replacement = str_param(params, "replacement")?;
    if replacement.chars().count() > MAX_REPLACEMENT_CHARS {
        return Err(ToolError::invalid(
            "replacement",
            format!("the replacement is longer than {MAX_REPLACEMENT_CHARS} characters"),
        ));
    }
    let limit = params
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);

    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut replacements = 0u64;
    for caps in re.captures_iter(text) {
        if replacements >= limit {
            break;
        }
        let Some(whole) = caps.get(0) else { continue };
        out.push_str(&text[last..whole.start()]);
        caps.expand(replacement, &mut out);
        last = whole.end();
        replacements += 1;
        if out.len() > MAX_OUTPUT_BYTES {
            return Err(too_large());
        }
    }
    out.push_str(&text[last..]);
    if out.len() > MAX_OUTPUT_BYTES {
        return Err(too_large());
    }
    Ok(json!({"result": out, "replacements": replacements}))
}

fn extract(params: &Value) -> Result<Value, ToolError> {
    let text = text_param(params)?;
    let case_insensitive = bool_param(params, "case_insensitive");
    let re = match (
        params.get("pattern").and_then(Value::as_str),
        params.get("preset").and_then(Value::as_str),
    ) {
        (Some(_), Some(_)) => {
            return Err(ToolError::invalid(
                "preset",
                "give either pattern or preset, not both",
            ))
        }
        (Some(pattern), None) => compile("pattern", pattern, case_insensitive)?,
        (None, Some(preset)) => {
            let (_, pattern) = PRESETS
                .iter()
                .find(|(name, _)| *name == preset)
                .ok_or_else(|| {
                    ToolError::invalid("preset", format!("unknown preset \"{preset}\""))
                })?;
            compile("preset", pattern, case_insensitive)?
        }
        (None, None) => return Err(ToolError::invalid("pattern", "give a pattern or a preset")),
    };
    let unique = bool_param(params, "unique");
    let max_matches = params
        .get("max_matches")
        .and_then(Value::as_u64)
        .unwrap_or(1000)
        .clamp(1, MAX_MATCHES) as usize;
    let names: Vec<Option<&str>> = re.capture_names().collect();

    let mut matches = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    let mut truncated = false;
    let mut out_bytes = 0usize;
    // Character offsets, counted forward from the previous match.
    let (mut byte_pos, mut char_pos) = (0usize, 0usize);
    for caps in re.captures_iter(text) {
        let Some(whole) = caps.get(0) else { continue };
        if unique && !seen.insert(whole.as_str()) {
            continue;
        }
        total += 1;
        if matches.len() >= max_matches {
            truncated = true;
            continue;
        }
        char_pos += text[byte_pos..whole.start()].chars().count();
        byte_pos = whole.start();
        let start = char_pos;
        let end = start + whole.as_str().chars().count();

        let mut groups = Vec::new();
        let mut named = Map::new();
        for (i, name) in names.iter().enumerate().skip(1) {
            let value = caps.get(i).map(|m| m.as_str());
            out_bytes += value.map_or(0, str::len);
            groups.push(json!(value));
            if let Some(name) = name {
                named.insert((*name).to_string(), json!(value));
            }
        }
        out_bytes += whole.len();
        if out_bytes > MAX_OUTPUT_BYTES {
            truncated = true;
            break;
        }
        let mut item = json!({"match": whole.as_str(), "start": start, "end": end});
        if !groups.is_empty() {
            item["groups"] = Value::Array(groups);
        }
        if !named.is_empty() {
            item["named"] = Value::Object(named);
        }
        matches.push(item);
    }
    Ok(
        json!({"matches": matches, "count": matches.len(), "total_matches": total, "truncated": truncated}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, run_tool};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    async fn transformed(text: &str, operation: &str) -> String {
        let r = run("transform", json!({"text": text, "operation": operation}))
            .await
            .unwrap();
        r["result"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn counts_text() {
        let text = "Hello world. This is a test! Is it?\n\nSecond paragraph here";
        let r = run("stats", json!({"text": text})).await.unwrap();
        assert_eq!(r["words"], json!(11));
        assert_eq!(r["sentences"], json!(4));
        assert_eq!(r["lines"], json!(3));
        assert_eq!(r["paragraphs"], json!(2));
        assert_eq!(r["characters"], json!(text.chars().count()));
        assert_eq!(r["top_words"][0], json!({"word": "is", "count": 2}));
        let empty = run("stats", json!({"text": ""})).await.unwrap();
        assert_eq!(empty["words"], json!(0));
        assert_eq!(empty["sentences"], json!(0));
        assert_eq!(empty["reading_time_seconds"], json!(0));
    }

    #[tokio::test]
    async fn changes_case() {
        assert_eq!(
            transformed("parseHTTPResponse code", "snake_case").await,
            "parse_http_response_code"
        );
        assert_eq!(
            transformed("Hello World-again", "kebab_case").await,
            "hello-world-again"
        );
        assert_eq!(
            transformed("hello_big world", "camel_case").await,
            "helloBigWorld"
        );
        assert_eq!(
            transformed("hello_big world", "pascal_case").await,
            "HelloBigWorld"
        );
        assert_eq!(transformed("max value", "constant_case").await, "MAX_VALUE");
        assert_eq!(
            transformed("the QUICK fox's tail", "title").await,
            "The Quick Fox's Tail"
        );
        assert_eq!(
            transformed("hello. WORLD", "sentence_case").await,
            "Hello. World"
        );
        assert_eq!(
            transformed("  Crème Brûlée: 100% Déjà vu!  ", "slugify").await,
            "creme-brulee-100-deja-vu"
        );
        assert_eq!(transformed("abc", "reverse").await, "cba");
        assert_eq!(
            transformed(" a  b\n c ", "collapse_whitespace").await,
            "a b c"
        );
        assert_eq!(transformed(" x ", "trim").await, "x");
        let err = run("transform", json!({"text": "x", "operation": "shout"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("operation"));
    }

    #[tokio::test]
    async fn replaces_with_groups() {
        let r = run(
            "regex_replace",
            json!({"text": "2024-03-10 and 2023-01-02", "pattern": r"(\d{4})-(\d{2})-(\d{2})", "replacement": "$3/$2/$1"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], "10/03/2024 and 02/01/2023");
        assert_eq!(r["replacements"], json!(2));
        let r = run(
            "regex_replace",
            json!({"text": "Cat cat CAT", "pattern": "cat", "replacement": "dog", "case_insensitive": true, "limit": 2}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], "dog dog CAT");
    }

    #[tokio::test]
    async fn rejects_bad_patterns_and_huge_output() {
        let err = run(
            "regex_replace",
            json!({"text": "x", "pattern": "(", "replacement": ""}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("pattern"));
        let err = run("extract", json!({"text": "x", "pattern": r"(a)\1"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("pattern"));
        let err = run(
            "extract",
            json!({"text": "x", "pattern": r"\w{1000}{1000}"}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("pattern"));
        let text = "a".repeat(100_000);
        let err = run(
            "regex_replace",
            json!({"text": text, "pattern": "", "replacement": "x".repeat(100)}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("text"));
        let err = run("extract", json!({"text": "x"})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("pattern"));
    }

    #[tokio::test]
    async fn extracts_matches() {
        let text =
            "Write to ana@example.com or bob@test.org, or ana@example.com again. Né: ok@x.io";
        let r = run("extract", json!({"text": text, "preset": "email"}))
            .await
            .unwrap();
        assert_eq!(r["count"], json!(4));
        assert_eq!(r["matches"][0]["match"], "ana@example.com");
        assert_eq!(r["matches"][0]["start"], json!(9));
        let byte = text.find("ok@x.io").unwrap();
        assert_eq!(
            r["matches"][3]["start"],
            json!(text[..byte].chars().count())
        );
        let r = run(
            "extract",
            json!({"text": text, "preset": "email", "unique": true}),
        )
        .await
        .unwrap();
        assert_eq!(r["count"], json!(3));
        let r = run(
            "extract",
            json!({"text": "a=1, b=22", "pattern": r"(?P<key>\w)=(\d+)", "max_matches": 1}),
        )
        .await
        .unwrap();
        assert_eq!(r["matches"][0]["groups"], json!(["a", "1"]));
        assert_eq!(r["matches"][0]["named"], json!({"key": "a"}));
        assert_eq!(r["truncated"], json!(true));
        assert_eq!(r["total_matches"], json!(2));
        let r = run(
            "extract",
            json!({"text": "see https://example.com/a?b=1.", "preset": "url"}),
        )
        .await
        .unwrap();
        assert_eq!(r["matches"][0]["match"], "https://example.com/a?b=1");
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("shout", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
