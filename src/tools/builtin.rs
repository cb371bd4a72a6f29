//! The builtin tools. Each file is one tool; `all()` lists them in catalog order.

use std::sync::Arc;

use serde_json::Value;

use super::{BuiltinTool, ToolError};

// Tools that need only their input.
// (one `mod` line per tool file)
mod calculator;
mod csv;
mod datetime;
mod encoding;
mod json;
mod markdown;
mod random;
mod text;

// Tools that use the store or the network.
mod memory;
mod web_fetch;

/// Every builtin tool, in catalog order.
pub fn all() -> Vec<Arc<dyn BuiltinTool>> {
    vec![
        // (one entry per tool)
        Arc::new(calculator::Tool),
        Arc::new(text::Tool),
        Arc::new(json::Tool),
        Arc::new(encoding::Tool),
        Arc::new(datetime::Tool),
        Arc::new(csv::Tool),
        Arc::new(markdown::Tool),
        Arc::new(random::Tool),
        Arc::new(memory::Tool),
        Arc::new(web_fetch::Tool),
    ]
}

/// The string parameter `field`, or an invalid-input error naming it.
fn str_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a string")))
}

/// The boolean parameter `field`, or `default` when it is absent or not a
/// boolean.
fn bool_param(params: &Value, field: &str, default: bool) -> bool {
    params
        .get(field)
        .and_then(Value::as_bool)
        .unwrap_or(default)
}

/// Runs one action of `tool` in a fresh test context.
#[cfg(test)]
pub(crate) async fn run_tool(
    tool: &dyn BuiltinTool,
    action: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, super::ToolError> {
    let (ctx, _dir) = test_context().await;
    tool.call(action, &params, &ctx).await
}

/// The field an invalid-input error points at; panics on any other error.
#[cfg(test)]
pub(crate) fn field_of(err: super::ToolError) -> Option<String> {
    match err {
        super::ToolError::InvalidInput { field, .. } => field,
        other => panic!("expected invalid input, got {other:?}"),
    }
}

/// A context for tool tests, on a fresh SQLite store in a temporary directory
/// (kept alive by the returned guard).
#[cfg(test)]
pub(crate) async fn test_context() -> (super::ToolContext, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}/tools.db", dir.path().display());
    let store = crate::store::sqlite::SqliteStore::connect(&url)
        .await
        .expect("test store");
    let ctx = super::ToolContext {
        store: Arc::new(store),
        user_id: crate::id::UserId::new(),
        instance_id: crate::id::InstanceId::new(),
        outbound: Arc::new(super::outbound::Outbound::new(Default::default())),
        now: chrono::Utc::now(),
    };
    (ctx, dir)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::all;

    fn is_slug(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    fn is_function_name(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    }

    #[test]
    fn every_builtin_spec_is_well_formed() {
        let mut slugs = HashSet::new();
        let mut names = HashSet::new();
        for tool in all() {
            let spec = tool.spec();
            assert!(is_slug(spec.slug), "bad slug {:?}", spec.slug);
            assert!(is_function_name(spec.name), "bad name {:?}", spec.name);
            assert!(slugs.insert(spec.slug), "duplicate slug {}", spec.slug);
            assert!(names.insert(spec.name), "duplicate name {}", spec.name);
            assert!(!spec.display_name.is_empty() && !spec.description.is_empty());
            assert!(!spec.category.is_empty(), "{} has no category", spec.slug);
            assert!(
                spec.actions.len() >= 2,
                "{} has fewer than 2 actions",
                spec.slug
            );
            let mut actions = HashSet::new();
            for action in &spec.actions {
                let at = format!("{}.{}", spec.slug, action.name);
                assert!(is_function_name(action.name), "bad action name {at}");
                assert!(actions.insert(action.name), "duplicate action {at}");
                assert!(!action.description.is_empty(), "{at} has no description");
                assert!(action.price_credits.is_positive(), "{at} has no price");
                assert_eq!(action.parameters["type"], "object", "{at} parameters");
                jsonschema::validator_for(&action.parameters)
                    .unwrap_or_else(|e| panic!("{at} parameters do not compile: {e}"));
                if let Some(props) = action.parameters["properties"].as_object() {
                    for (prop, schema) in props {
                        assert!(
                            schema["description"].is_string(),
                            "{at}.{prop} has no description"
                        );
                    }
                }
            }
        }
    }
}
