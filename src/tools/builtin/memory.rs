//! Instance memory: key-value storage scoped to the connection instance and
//! kept in the database, so an agent can remember things between calls.

use crate::clock::Timestamp;
use async_trait::async_trait;
use serde_json::{json, Value};

use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Keys one instance may hold.
const MAX_KEYS: i64 = 1000;
/// Largest stored value, as JSON text.
const MAX_VALUE_BYTES: usize = 64 * 1024;

pub struct Tool;

fn key_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 200, "description": "The key, 1-200 characters."})
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "instance-memory",
            name: "instance_memory",
            display_name: "Instance Memory",
            description: "Remember values between calls: key-value storage private to your connection instance (send the same x-instance-id header to reach the same memory).",
            category: "storage",
            actions: vec![
                ActionSpec {
                    name: "set",
                    description: "Store any JSON value under a key, replacing what was there.",
                    parameters: json!({"type": "object", "properties": {"key": key_schema(), "value": {"description": "Any JSON value, up to 64 KiB."}}, "required": ["key", "value"], "additionalProperties": false}),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "get",
                    description: "Read the value stored under a key; found is false when there is none.",
                    parameters: json!({"type": "object", "properties": {"key": key_schema()}, "required": ["key"], "additionalProperties": false}),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "delete",
                    description: "Forget a key.",
                    parameters: json!({"type": "object", "properties": {"key": key_schema()}, "required": ["key"], "additionalProperties": false}),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "list",
                    description: "List stored keys and values, in key order.",
                    parameters: json!({"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "Most entries to return (default 100)."}}, "additionalProperties": false}),
                    price_credits: Credits::new(1),
                },
            ],
        }
    }

    fn has_outside_effect(&self, action: &str) -> bool {
        matches!(action, "set" | "delete")
    }

    async fn call(
        &self,
        action: &str,
        params: &Value,
        ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        let failed =
            |e: crate::store::StoreError| ToolError::Failed(format!("memory is unavailable: {e}"));
        let key = params["key"].as_str().unwrap_or_default();
        match action {
            "set" => {
                let value = params["value"].to_string();
                if value.len() > MAX_VALUE_BYTES {
                    return Err(ToolError::invalid(
                        "value",
                        format!("the value is larger than {MAX_VALUE_BYTES} bytes"),
                    ));
                }
                let exists = ctx
                    .store
                    .memory_get(ctx.instance_id, key)
                    .await
                    .map_err(failed)?
                    .is_some();
                if !exists
                    && ctx
                        .store
                        .memory_count(ctx.instance_id)
                        .await
                        .map_err(failed)?
                        >= MAX_KEYS
                {
                    return Err(ToolError::invalid(
                        "key",
                        format!("this instance already holds {MAX_KEYS} keys; delete some first"),
                    ));
                }
                ctx.store
                    .memory_set(ctx.instance_id, key, &value, Timestamp::from(ctx.now))
                    .await
                    .map_err(failed)?;
                Ok(json!({"key": key, "stored": true, "replaced": exists}))
            }
            "get" => {
                let stored = ctx
                    .store
                    .memory_get(ctx.instance_id, key)
                    .await
                    .map_err(failed)?;
                let value = stored
                    .as_deref()
                    .map(|s| serde_json::from_str(s).unwrap_or(Value::Null));
                Ok(json!({"key": key, "found": value.is_some(), "value": value}))
            }
            "delete" => {
                let deleted = ctx
                    .store
                    .memory_delete(ctx.instance_id, key)
                    .await
                    .map_err(failed)?;
                Ok(json!({"key": key, "deleted": deleted}))
            }
            "list" => {
                let limit = params["limit"].as_i64().unwrap_or(100);
                let entries = ctx
                    .store
                    .memory_list(ctx.instance_id, limit)
                    .await
                    .map_err(failed)?;
                let items: Vec<Value> = entries
                    .into_iter()
                    .map(|(k, v)| json!({"key": k, "value": serde_json::from_str::<Value>(&v).unwrap_or(Value::Null)}))
                    .collect();
                Ok(json!({"count": items.len(), "entries": items}))
            }
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action {other:?}"),
            )),
        }
    }
}
