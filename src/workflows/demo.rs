//! The demo account's workflows: useful graphs of builtin tools, public, and
//! enabled on its default budget, so a newcomer can trigger one at once.

use crate::clock::Timestamp;
use crate::id::WorkflowId;
use crate::id::{BudgetId, UserId};
use serde_json::{json, Value};

use crate::app::AppInner;
use crate::store::{Visibility, WorkflowEngine, WorkflowRow, WorkflowStatus};

/// (name, description, definition) of each demo workflow.
fn definitions() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "Calculator",
            "Evaluates the prompt as an arithmetic expression, e.g. \"2 * (3 + 4)\", and answers with the result.",
            json!({"steps": [
                {"id": "calc", "type": "tool", "tool": "calculator", "action": "evaluate",
                 "parameters": {"expression": "{{prompt}}"}, "next": "answer"},
                {"id": "answer", "type": "prompt", "template": "{{prompt}} = {{steps.calc.output.result}}"}
            ]}),
        ),
        (
            "Text report",
            "Measures the prompt's text (words, sentences, reading time) and gives it a URL slug.",
            json!({"steps": [
                {"id": "stats", "type": "tool", "tool": "text_utils", "action": "stats",
                 "parameters": {"text": "{{prompt}}"}, "next": "slug"},
                {"id": "slug", "type": "tool", "tool": "text_utils", "action": "transform",
                 "parameters": {"text": "{{prompt}}", "operation": "slugify"}, "next": "report"},
                {"id": "report", "type": "prompt",
                 "template": "{{steps.stats.output.words}} words in {{steps.stats.output.sentences}} sentence(s); slug: {{steps.slug.output.result}}"}
            ]}),
        ),
    ]
}

/// Creates the demo workflows for `user_id` and enables them on `budget_id`.
pub async fn create(
    app: &AppInner,
    user_id: UserId,
    budget_id: BudgetId,
) -> anyhow::Result<Vec<WorkflowId>> {
    let now = Timestamp::from(app.clock.now());
    let mut ids = Vec::new();
    for (name, description, definition) in definitions() {
        let w = WorkflowRow {
            id: WorkflowId::new(),
            owner_id: user_id,
            name: name.into(),
            description: description.into(),
            visibility: Visibility::Public,
            engine: WorkflowEngine::Graph,
            definition: definition.to_string(),
            status: WorkflowStatus::Active,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        app.store.insert_workflow(&w).await?;
        app.store
            .enable_workflow(budget_id, w.id, w.version, now)
            .await?;
        ids.push(w.id);
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn demo_definitions_are_valid_graphs_of_builtin_tools() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::connect(&format!("sqlite://{}/t.db", dir.path().display()))
            .await
            .unwrap();
        let catalog = crate::catalog::Catalog::load(store, crate::tools::builtins())
            .await
            .unwrap();
        for (name, _, def) in super::definitions() {
            crate::workflows::definition::parse_graph(&def, &catalog.snapshot())
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
}
