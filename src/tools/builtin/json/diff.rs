//! The `diff` action: the changes between two documents, as JSON Pointer
//! paths with their old and new values.

use serde_json::{json, Value};

use super::{MAX_DEPTH, MAX_RESULTS};
use crate::tools::ToolError;

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

pub(super) fn diff(before: &Value, after: &Value) -> Result<Value, ToolError> {
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
