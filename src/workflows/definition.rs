//! Workflow definitions and their validation. A graph is a DAG of steps;
//! the only iteration is `for_each`, so a cycle is an error. Errors name the
//! step and say what is wrong.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

use super::template::{templates_in, Template};
use crate::catalog::Snapshot;

/// Where under the definition, and what is wrong.
pub type DefinitionError = (Vec<Value>, String);

/// A step condition of a `branch`.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub value_of: Template,
    pub op: String,
    pub operand: Value,
    pub next: String,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// A purchase of `tool`'s `action` with templated parameters.
    Tool {
        tool: String,
        action: String,
        parameters: Value,
    },
    /// Text from a template.
    Prompt { template: Template },
    /// Goes to the first condition's target that holds, else `default`.
    Branch {
        conditions: Vec<Condition>,
        default: Option<String>,
    },
    /// Joins paths; its output maps each predecessor that ran to its output.
    Merge,
    /// Runs `body` (a tool or prompt step) once per item of a list.
    ForEach {
        items: Template,
        body: Box<StepKind>,
        max_items: usize,
    },
    /// Opens an approval request for a person and ends the run.
    NotifyHuman { message: Template },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Steps that run after this one (a branch's targets are in its conditions).
    pub next: Vec<String>,
}

impl Step {
    /// Every step this one can lead to.
    pub fn successors(&self) -> Vec<String> {
        match &self.kind {
            StepKind::Branch {
                conditions,
                default,
            } => {
                let mut s: Vec<String> = conditions.iter().map(|c| c.next.clone()).collect();
                s.extend(default.clone());
                s
            }
            _ => self.next.clone(),
        }
    }
}

/// A validated step graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub start: String,
    /// In a topological order.
    pub steps: Vec<Step>,
}

/// Condition operators.
pub const OPS: [&str; 9] = [
    "eq", "ne", "gt", "gte", "lt", "lte", "contains", "exists", "truthy",
];
const MAX_STEPS: usize = 100;

fn step_loc(i: usize, field: &str) -> Vec<Value> {
    vec!["steps".into(), i.into(), field.into()]
}

fn next_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(vec![]),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| "next must be a step id or a list of them".to_string())
            })
            .collect(),
        _ => Err("next must be a step id or a list of them".into()),
    }
}

fn parse_kind(
    v: &Value,
    id: &str,
    catalog: &Snapshot,
    loc: &dyn Fn(&str) -> Vec<Value>,
    errors: &mut Vec<DefinitionError>,
    nested: bool,
) -> Option<StepKind> {
    let kind = v["type"].as_str().unwrap_or_default();
    let template = |field: &str, errors: &mut Vec<DefinitionError>| -> Option<Template> {
        match v[field].as_str() {
            Some(t) => match Template::parse(t) {
                Ok(t) => Some(t),
                Err(e) => {
                    errors.push((loc(field), format!("step {id}: {e}")));
                    None
                }
            },
            None => {
                errors.push((loc(field), format!("step {id}: {field} must be a string")));
                None
            }
        }
    };
    match kind {
        "tool" => {
            let tool = v["tool"].as_str().unwrap_or_default();
            let action = v["action"].as_str().unwrap_or_default();
            let Some((product, _)) = catalog.resolve(tool) else {
                errors.push((loc("tool"), format!("step {id}: unknown tool {tool:?}")));
                return None;
            };
            let action = if action.is_empty() && product.actions.len() == 1 {
                product.actions[0].name.clone()
            } else {
                action.to_string()
            };
            if product.action(&action).is_none() {
                let names: Vec<&str> = product.actions.iter().map(|a| a.name.as_str()).collect();
                errors.push((
                    loc("action"),
                    format!(
                        "step {id}: tool {tool} has no action {action:?}; it has {}",
                        names.join(", ")
                    ),
                ));
                return None;
            }
            let parameters = if v["parameters"].is_null() {
                json!({})
            } else {
                v["parameters"].clone()
            };
            if !parameters.is_object() {
                errors.push((
                    loc("parameters"),
                    format!("step {id}: parameters must be an object"),
                ));
                return None;
            }
            if let Err(e) = templates_in(&parameters) {
                errors.push((loc("parameters"), format!("step {id}: {e}")));
                return None;
            }
            Some(StepKind::Tool {
                tool: product.row.id.to_string(),
                action,
                parameters,
            })
        }
        "prompt" => template("template", errors).map(|template| StepKind::Prompt { template }),
        "branch" if !nested => {
            let mut conditions = Vec::new();
            for (j, c) in v["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                let op = c["op"].as_str().unwrap_or("truthy").to_string();
                if !OPS.contains(&op.as_str()) {
                    errors.push((
                        loc("conditions"),
                        format!(
                            "step {id}: condition {j} has unknown op {op:?}; use one of {}",
                            OPS.join(", ")
                        ),
                    ));
                    continue;
                }
                let Some(value_of) = c["value"].as_str().and_then(|t| Template::parse(t).ok())
                else {
                    errors.push((loc("conditions"), format!("step {id}: condition {j} needs \"value\", a template such as \"{{{{steps.x.output.n}}}}\"")));
                    continue;
                };
                let Some(next) = c["next"].as_str() else {
                    errors.push((
                        loc("conditions"),
                        format!("step {id}: condition {j} needs \"next\""),
                    ));
                    continue;
                };
                conditions.push(Condition {
                    value_of,
                    op,
                    operand: c["operand"].clone(),
                    next: next.to_string(),
                });
            }
            let default = v["default"].as_str().map(str::to_string);
            if conditions.is_empty() && default.is_none() {
                errors.push((
                    loc("conditions"),
                    format!("step {id}: a branch needs conditions or a default"),
                ));
            }
            Some(StepKind::Branch {
                conditions,
                default,
            })
        }
        "merge" if !nested => Some(StepKind::Merge),
        "for_each" if !nested => {
            let items = template("items", errors)?;
            let body = &v["do"];
            let max_items = v["max_items"].as_u64().unwrap_or(50).clamp(1, 500) as usize;
            let inner = parse_kind(
                body,
                id,
                catalog,
                &|f| {
                    let mut l = loc("do");
                    l.push(f.into());
                    l
                },
                errors,
                true,
            )?;
            if !matches!(inner, StepKind::Tool { .. } | StepKind::Prompt { .. }) {
                errors.push((
                    loc("do"),
                    format!("step {id}: for_each runs a tool or prompt step"),
                ));
                return None;
            }
            Some(StepKind::ForEach {
                items,
                body: Box::new(inner),
                max_items,
            })
        }
        "notify_human" if !nested => {
            template("message", errors).map(|message| StepKind::NotifyHuman { message })
        }
        other => {
            errors.push((loc("type"), format!("step {id}: unknown step type {other:?}; use tool, prompt, branch, merge, for_each or notify_human")));
            None
        }
    }
}

/// Every template of a step kind.
fn kind_templates(kind: &StepKind) -> Vec<Template> {
    match kind {
        StepKind::Tool { parameters, .. } => templates_in(parameters).unwrap_or_default(),
        StepKind::Prompt { template } => vec![template.clone()],
        StepKind::Branch { conditions, .. } => {
            conditions.iter().map(|c| c.value_of.clone()).collect()
        }
        StepKind::Merge => vec![],
        StepKind::ForEach { items, body, .. } => {
            let mut t = vec![items.clone()];
            t.extend(kind_templates(body));
            t
        }
        StepKind::NotifyHuman { message } => vec![message.clone()],
    }
}

/// Parses and checks a graph definition against the catalog.
pub fn parse_graph(def: &Value, catalog: &Snapshot) -> Result<Graph, Vec<DefinitionError>> {
    let mut errors = Vec::new();
    let Some(raw_steps) = def["steps"].as_array() else {
        return Err(vec![(
            vec!["steps".into()],
            "a graph needs a list of steps".into(),
        )]);
    };
    if raw_steps.is_empty() || raw_steps.len() > MAX_STEPS {
        return Err(vec![(
            vec!["steps".into()],
            format!("a graph has 1 to {MAX_STEPS} steps"),
        )]);
    }
    let mut steps = Vec::new();
    let mut seen = HashSet::new();
    for (i, v) in raw_steps.iter().enumerate() {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        {
            errors.push((
                step_loc(i, "id"),
                format!("step {i}: an id is 1-64 letters, digits, _ or -"),
            ));
            continue;
        }
        if !seen.insert(id.clone()) {
            errors.push((
                step_loc(i, "id"),
                format!("step {id}: the id is used twice"),
            ));
            continue;
        }
        let next = match next_list(&v["next"]) {
            Ok(n) => n,
            Err(e) => {
                errors.push((step_loc(i, "next"), format!("step {id}: {e}")));
                continue;
            }
        };
        if let Some(kind) = parse_kind(v, &id, catalog, &|f| step_loc(i, f), &mut errors, false) {
            if matches!(kind, StepKind::NotifyHuman { .. } | StepKind::Branch { .. })
                && !next.is_empty()
            {
                errors.push((
                    step_loc(i, "next"),
                    format!(
                        "step {id}: a {} step takes no next",
                        v["type"].as_str().unwrap_or_default()
                    ),
                ));
            }
            steps.push(Step { id, kind, next });
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let index: HashMap<&str, usize> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for (i, s) in steps.iter().enumerate() {
        for n in s.successors() {
            if !index.contains_key(n.as_str()) {
                errors.push((
                    step_loc(i, "next"),
                    format!("step {}: leads to unknown step {n:?}", s.id),
                ));
            }
        }
    }
    let start = def["start"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| steps[0].id.clone());
    if !index.contains_key(start.as_str()) {
        errors.push((
            vec!["start".into()],
            format!("start names unknown step {start:?}"),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // Topological order (Kahn); what is left over sits on a cycle.
    let mut indegree = vec![0usize; steps.len()];
    for s in &steps {
        for n in s.successors() {
            indegree[index[n.as_str()]] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..steps.len())
        .filter(|&i| indegree[i] == 0)
        .rev()
        .collect();
    let mut order = Vec::new();
    while let Some(i) = ready.pop() {
        order.push(i);
        for n in steps[i].successors() {
            let j = index[n.as_str()];
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(j);
            }
        }
    }
    if order.len() < steps.len() {
        for (i, s) in steps.iter().enumerate() {
            if !order.contains(&i) {
                errors.push((
                    step_loc(i, "next"),
                    format!(
                        "step {}: is on a cycle; repeat work with for_each instead",
                        s.id
                    ),
                ));
            }
        }
        return Err(errors);
    }
    // Reachability from the start, and each step's ancestors.
    let mut reachable = HashSet::new();
    let mut stack = vec![start.clone()];
    while let Some(id) = stack.pop() {
        if reachable.insert(id.clone()) {
            stack.extend(steps[index[id.as_str()]].successors());
        }
    }
    let mut ancestors: HashMap<String, HashSet<String>> = HashMap::new();
    for &i in &order {
        let s = &steps[i];
        let mine = ancestors.get(&s.id).cloned().unwrap_or_default();
        for n in s.successors() {
            let entry = ancestors.entry(n).or_default();
            entry.insert(s.id.clone());
            entry.extend(mine.iter().cloned());
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if !reachable.contains(&s.id) {
            errors.push((
                step_loc(i, "id"),
                format!(
                    "step {}: is unreachable from the start step {start:?}",
                    s.id
                ),
            ));
            continue;
        }
        let mine = ancestors.get(&s.id).cloned().unwrap_or_default();
        for t in kind_templates(&s.kind) {
            for path in t.refs() {
                let in_loop = matches!(s.kind, StepKind::ForEach { .. });
                match path[0].as_str() {
                    "steps" if !mine.contains(&path[1]) => errors.push((
                        step_loc(i, "id"),
                        format!(
                            "step {}: refers to steps.{} which does not run before it",
                            s.id, path[1]
                        ),
                    )),
                    "item" | "index" if !in_loop => errors.push((
                        step_loc(i, "id"),
                        format!(
                            "step {}: {{{{{}}}}} is only defined inside for_each",
                            s.id, path[0]
                        ),
                    )),
                    _ => {}
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let ordered = order.into_iter().map(|i| steps[i].clone()).collect();
    Ok(Graph {
        start,
        steps: ordered,
    })
}

/// Product names a definition's steps call.
pub fn graph_tools(g: &Graph) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &g.steps {
        let kind = match &s.kind {
            StepKind::ForEach { body, .. } => body.as_ref(),
            k => k,
        };
        if let StepKind::Tool { tool, .. } = kind {
            if !out.contains(tool) {
                out.push(tool.clone());
            }
        }
    }
    out
}
