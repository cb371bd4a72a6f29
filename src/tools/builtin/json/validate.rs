//! The `validate` action: JSON Schema validation, offline, with bounded
//! regexes and bounded error messages.

use serde_json::{json, Value};

use super::{MAX_MESSAGE_CHARS, MAX_VALIDATION_ERRORS, SCHEMA_REGEX_SIZE_LIMIT};
use crate::tools::ToolError;

fn clip(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        message
    } else {
        let mut short: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        short.push('…');
        short
    }
}

pub(super) fn validate(data: &Value, schema: &Value) -> Result<Value, ToolError> {
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
