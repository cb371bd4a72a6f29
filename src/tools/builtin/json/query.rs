//! The `query` action: a JSONPath query, its cost bounded before it runs
//! and its output bounded while it is collected.

use std::io::Write;

use serde_json::{json, Value};
use serde_json_path::JsonPath;

use super::{
    MAX_DESCENDANT_SEGMENTS, MAX_OUTPUT_BYTES, MAX_PATH_CHARS, MAX_PATH_NESTING, MAX_RESULTS,
};
use crate::tools::ToolError;

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

pub(super) fn query(data: &Value, path: &str) -> Result<Value, ToolError> {
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
