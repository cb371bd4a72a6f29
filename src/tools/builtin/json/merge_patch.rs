//! The `merge_patch` action: a JSON Merge Patch (RFC 7396) applied to a
//! document.

use serde_json::{Map, Value};

use super::MAX_DEPTH;
use crate::tools::ToolError;

/// RFC 7396 section 2, applied in place.
pub(super) fn merge_patch(
    target: &mut Value,
    patch: &Value,
    depth: usize,
) -> Result<(), ToolError> {
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
