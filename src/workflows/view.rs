//! A run as the API shows it: `GET /api/agent-webhooks/runs/{runId}`, the
//! trigger's answer, and the body of a callback.

use serde_json::{json, Value};

use crate::clock::{from_millis, iso};
use crate::store::RunRow;

fn time(t: Option<i64>) -> Value {
    t.map(|t| Value::String(iso(from_millis(t))))
        .unwrap_or(Value::Null)
}

fn object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// Every field of the spec's run object.
pub fn run_json(r: &RunRow) -> Value {
    json!({
        "run_id": r.id,
        "workflow_id": r.workflow_id,
        "status": r.status,
        "prompt": r.prompt,
        "response_text": r.response_text,
        "session_id": r.session_id,
        "model": r.model,
        "error_code": r.error_code,
        "error_message": r.error_message,
        "callback_url": r.callback_url,
        "callback_status": r.callback_status,
        "callback_last_status": r.callback_last_status,
        "callback_last_error": r.callback_last_error,
        "callback_attempted_at": time(r.callback_attempted_at),
        "callback_delivered_at": time(r.callback_delivered_at),
        "request_metadata": object(&r.request_metadata),
        "run_metadata": object(&r.run_metadata),
        "created_at": iso(from_millis(r.created_at)),
        "updated_at": iso(from_millis(r.updated_at)),
        "started_at": time(r.started_at),
        "completed_at": time(r.completed_at),
    })
}

/// The short form the trigger answers with.
pub fn run_summary(r: &RunRow) -> Value {
    json!({
        "run_id": r.id,
        "workflow_id": r.workflow_id,
        "status": r.status,
        "created_at": iso(from_millis(r.created_at)),
        "updated_at": iso(from_millis(r.updated_at)),
    })
}
