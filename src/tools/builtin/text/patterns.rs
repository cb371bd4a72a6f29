//! The regular-expression actions, `regex_replace` and `extract`, with the
//! compile limits and the output limit they share.

use regex::{Regex, RegexBuilder};
use serde_json::{json, Map, Value};

use super::{
    bool_param, str_param, text_param, MAX_MATCHES, MAX_OUTPUT_BYTES, MAX_PATTERN_CHARS,
    MAX_REPLACEMENT_CHARS, PRESETS, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT,
};
use crate::tools::ToolError;

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

pub(super) fn regex_replace(params: &Value) -> Result<Value, ToolError> {
    let text = text_param(params)?;
    let re = compile(
        "pattern",
        str_param(params, "pattern")?,
        bool_param(params, "case_insensitive", false),
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

pub(super) fn extract(params: &Value) -> Result<Value, ToolError> {
    let text = text_param(params)?;
    let case_insensitive = bool_param(params, "case_insensitive", false);
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
    let unique = bool_param(params, "unique", false);
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
