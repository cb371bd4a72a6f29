//! The `parse` action: whether text is JSON, its value and type, and the
//! text pretty-printed or compacted.

use serde_json::{json, Value};

use super::MAX_JSON_TEXT_CHARS;
use crate::tools::ToolError;

pub(super) fn parse(text: &str, format: Option<&str>) -> Result<Value, ToolError> {
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
