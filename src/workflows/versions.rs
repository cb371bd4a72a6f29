//! Workflow versions and the consent they need. Every change of a workflow's
//! engine or definition makes a new version. A budget runs the version its
//! owner enabled: the workflow's owner always runs the newest one (they made
//! it), anyone else the one pinned on their budget until they approve a newer
//! one. The rule is strict: any change of engine or definition asks again,
//! since even a changed prompt template can send other data to the same tool.

use crate::id::BudgetId;
use crate::id::WorkflowId;
use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::definition::{graph_tools, parse_graph};
use crate::catalog::Snapshot;
use crate::store::{ProductKind, WorkflowEngine, WorkflowRow, WorkflowVersionRow};

/// Whether `new` changes what `old` runs: its engine or its definition.
pub fn definition_changed(old: &WorkflowRow, new: &WorkflowRow) -> bool {
    let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
    old.engine != new.engine || parse(&old.definition) != parse(&new.definition)
}

/// `w` as it was at version `v`: its engine and definition then.
pub fn at_version(w: &WorkflowRow, v: &WorkflowVersionRow) -> WorkflowRow {
    WorkflowRow {
        engine: v.engine,
        definition: v.definition.clone(),
        version: v.version,
        ..w.clone()
    }
}

/// The tool names a workflow's definition calls, as written.
pub fn tool_names(snapshot: &Snapshot, w: &WorkflowRow) -> Vec<String> {
    let def: Value = serde_json::from_str(&w.definition).unwrap_or(Value::Null);
    match w.engine {
        WorkflowEngine::Graph => parse_graph(&def, snapshot)
            .map(|g| graph_tools(&g))
            .unwrap_or_default(),
        WorkflowEngine::Llm => def["tools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The approval request's subject: one request per workflow version.
pub fn update_subject(workflow_id: WorkflowId, version: i64) -> String {
    format!("{workflow_id}:{version}")
}

/// The workflow and version an update request's subject names.
pub fn parse_update_subject(subject: &str) -> Option<(WorkflowId, i64)> {
    let (id, version) = subject.rsplit_once(':')?;
    Some((WorkflowId::parse(id)?, version.parse().ok()?))
}

/// What an update request shows the budget's owner: the versions, and the
/// tools (product names) the new version calls that the pinned one did not,
/// and the other way round, and which added tools call outside addresses.
pub fn update_detail(
    snapshot: &Snapshot,
    pinned: &WorkflowRow,
    newest: &WorkflowRow,
    budget_id: BudgetId,
) -> Value {
    // Tools by product name, as a person knows them.
    let names = |w: &WorkflowRow| -> BTreeSet<String> {
        tool_names(snapshot, w)
            .into_iter()
            .map(|t| {
                snapshot
                    .resolve(&t)
                    .map(|(p, _)| p.row.name.clone())
                    .unwrap_or(t)
            })
            .collect()
    };
    let (before, after) = (names(pinned), names(newest));
    // Added tools that send data out of Tollgate: vendor tools and web fetch.
    let outside: Vec<&String> = after
        .difference(&before)
        .filter(|t| {
            snapshot.resolve(t).is_some_and(|(p, _)| {
                p.row.kind != ProductKind::Builtin
                    || p.row.endpoint.is_some()
                    || p.row.name == "web_fetch"
            })
        })
        .collect();
    json!({
        "workflow_id": newest.id, "name": newest.name, "description": newest.description,
        "budget_id": budget_id,
        "pinned_version": pinned.version, "version": newest.version,
        "engine_changed": pinned.engine != newest.engine,
        "tools_added": after.difference(&before).collect::<Vec<_>>(),
        "tools_removed": before.difference(&after).collect::<Vec<_>>(),
        "outside_calls_added": outside,
        "definition": serde_json::from_str::<Value>(&newest.definition).unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_subjects_round_trip() {
        let s = update_subject(WorkflowId::parse("0123456789abcdef01234567").unwrap(), 12);
        assert_eq!(
            parse_update_subject(&s),
            Some((WorkflowId::parse("0123456789abcdef01234567").unwrap(), 12))
        );
        assert_eq!(parse_update_subject("nocolon"), None);
        assert_eq!(parse_update_subject("a:b"), None);
    }
}
