//! A run as the API shows it: `GET /api/agent-webhooks/runs/{runId}`, the
//! trigger's answer, and the body of a callback.

use serde_json::Value;
use tollgate_api::{CallbackStatus, Object, Run, RunStatus, RunSummary};

use crate::clock::{from_millis, iso, Timestamp};
use crate::store::{self, RunRow};

fn time(t: Option<i64>) -> Option<String> {
    t.map(|t| iso(from_millis(t)))
}

fn object(text: &str) -> Object {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => m,
        _ => Object::new(),
    }
}

/// A run's status as the wire spells it.
fn run_status(s: store::RunStatus) -> RunStatus {
    match s {
        store::RunStatus::Queued => RunStatus::Queued,
        store::RunStatus::Running => RunStatus::Running,
        store::RunStatus::Succeeded => RunStatus::Succeeded,
        store::RunStatus::Failed => RunStatus::Failed,
        store::RunStatus::Cancelled => RunStatus::Cancelled,
    }
}

fn callback_status(s: store::CallbackStatus) -> CallbackStatus {
    match s {
        store::CallbackStatus::Pending => CallbackStatus::Pending,
        store::CallbackStatus::Delivered => CallbackStatus::Delivered,
        store::CallbackStatus::Failed => CallbackStatus::Failed,
        store::CallbackStatus::Skipped => CallbackStatus::Skipped,
    }
}

/// Every field of the spec's run object.
pub fn run_view(r: &RunRow) -> Run {
    Run {
        run_id: r.id.to_string(),
        workflow_id: r.workflow_id.to_string(),
        status: run_status(r.status),
        prompt: r.prompt.clone(),
        response_text: r.response_text.clone(),
        session_id: r.session_id.clone(),
        model: r.model.clone(),
        error_code: r.error_code.clone(),
        error_message: r.error_message.clone(),
        callback_url: r.callback_url.clone(),
        callback_status: callback_status(r.callback_status),
        callback_last_status: r.callback_last_status,
        callback_last_error: r.callback_last_error.clone(),
        callback_attempted_at: time(r.callback_attempted_at.map(Timestamp::millis)),
        callback_delivered_at: time(r.callback_delivered_at.map(Timestamp::millis)),
        request_metadata: object(&r.request_metadata),
        run_metadata: object(&r.run_metadata),
        created_at: r.created_at.iso(),
        updated_at: r.updated_at.iso(),
        started_at: time(r.started_at.map(Timestamp::millis)),
        completed_at: time(r.completed_at.map(Timestamp::millis)),
    }
}

/// The short form the trigger answers with.
pub fn run_summary(r: &RunRow) -> RunSummary {
    RunSummary {
        run_id: r.id.to_string(),
        workflow_id: r.workflow_id.to_string(),
        status: run_status(r.status),
        created_at: r.created_at.iso(),
        updated_at: r.updated_at.iso(),
    }
}
