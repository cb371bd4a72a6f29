//! A purchase's parameters checked against the action's compiled schema,
//! with errors shaped as the spec's validation errors.

use serde_json::Value;

use crate::catalog::Product;

/// One parameter problem: where under `parameters`, pydantic-style type, message, input.
#[derive(Debug, Clone)]
pub struct ParamError {
    pub path: Vec<Value>,
    pub kind: &'static str,
    pub message: String,
    pub input: Value,
}

/// Maps a schema error to pydantic's closest type code.
fn schema_error_kind(kind: &jsonschema::error::ValidationErrorKind) -> &'static str {
    use jsonschema::error::{TypeKind, ValidationErrorKind as K};
    use jsonschema::JsonType;
    match kind {
        K::Required { .. } => "missing",
        K::AdditionalProperties { .. } => "extra_forbidden",
        K::Type {
            kind: TypeKind::Single(t),
        } => match t {
            JsonType::String => "string_type",
            JsonType::Integer => "int_type",
            JsonType::Number => "float_type",
            JsonType::Boolean => "bool_type",
            JsonType::Array => "list_type",
            JsonType::Object => "dict_type",
            JsonType::Null => "none_required",
        },
        K::Minimum { .. } => "greater_than_equal",
        K::Maximum { .. } => "less_than_equal",
        K::ExclusiveMinimum { .. } => "greater_than",
        K::ExclusiveMaximum { .. } => "less_than",
        K::MinLength { .. } => "string_too_short",
        K::MaxLength { .. } => "string_too_long",
        K::MinItems { .. } => "too_short",
        K::MaxItems { .. } => "too_long",
        K::Enum { .. } | K::Constant { .. } => "enum",
        K::Pattern { .. } => "string_pattern_mismatch",
        _ => "value_error",
    }
}

/// Validates parameters with the action's compiled schema.
pub fn validate_params(
    product: &Product,
    action: &str,
    params: &Value,
) -> Result<(), Vec<ParamError>> {
    let Some(a) = product.action(action) else {
        return Ok(());
    };
    let errors: Vec<ParamError> = a
        .validator
        .iter_errors(params)
        .take(20)
        .map(|e| {
            let pointer = serde_json::to_value(e.instance_path())
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut path: Vec<Value> = pointer
                .split('/')
                .skip(1)
                .map(|seg| seg.replace("~1", "/").replace("~0", "~"))
                .map(|seg| {
                    seg.parse::<u64>()
                        .map(Value::from)
                        .unwrap_or(Value::String(seg))
                })
                .collect();
            if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                path.push(property.clone());
            }
            ParamError {
                path,
                kind: schema_error_kind(e.kind()),
                message: e.to_string(),
                input: e.instance().clone().into_owned(),
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
