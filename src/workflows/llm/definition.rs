//! An LLM workflow's definition and its validation against the catalog.

use crate::id::ProductId;
use serde_json::Value;

use crate::catalog::{DefinitionErrors, Snapshot};
use crate::money::Credits;

const DEFAULT_MAX_STEPS: u32 = 8;
const MAX_STEPS: u32 = 50;
const DEFAULT_MAX_CREDITS: i64 = 100;
const MAX_CREDITS: i64 = 1_000_000;
const MAX_SYSTEM_PROMPT_CHARS: usize = 20_000;
const MAX_MODEL_CHARS: usize = 200;
/// OpenAI accepts at most 128 functions per request.
const MAX_TOOLS: usize = 128;
const FIELDS: &[&str] = &[
    "model",
    "system_prompt",
    "tools",
    "max_steps",
    "max_credits",
    "temperature",
];

/// An LLM workflow's definition.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmDefinition {
    /// The model to ask; the operator's default when `None`.
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    /// Product ids of the tools offered, resolved from ids, slugs or names, without repeats.
    pub tools: Vec<ProductId>,
    /// Most model calls one run makes.
    pub max_steps: u32,
    /// Most credits one run's tool calls may spend.
    pub max_credits: Credits,
    pub temperature: Option<f64>,
}

/// Validates an LLM workflow's definition against the catalog. Errors give a
/// location under the definition and a message.
pub fn parse_definition(
    def: &Value,
    catalog: &Snapshot,
) -> Result<LlmDefinition, DefinitionErrors> {
    let Some(obj) = def.as_object() else {
        return Err(vec![(
            Vec::new(),
            "an LLM workflow's definition must be a JSON object".into(),
        )]);
    };
    let mut errors: DefinitionErrors = Vec::new();
    let at = |field: &str| vec![Value::from(field)];
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        errors.push((
            at(key),
            format!(
                "unknown field {key:?}; the fields are {}",
                FIELDS.join(", ")
            ),
        ));
    }
    let given = |k: &str| obj.get(k).filter(|v| !v.is_null());

    let model = match given("model") {
        None => None,
        Some(Value::String(m)) if !m.trim().is_empty() && m.chars().count() <= MAX_MODEL_CHARS => {
            Some(m.clone())
        }
        Some(_) => {
            errors.push((
                at("model"),
                format!("model must be a model name of 1 to {MAX_MODEL_CHARS} characters"),
            ));
            None
        }
    };
    let system_prompt = match given("system_prompt") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_SYSTEM_PROMPT_CHARS => Some(s.clone()),
        Some(_) => {
            errors.push((at("system_prompt"), format!("system_prompt must be a string of at most {MAX_SYSTEM_PROMPT_CHARS} characters")));
            None
        }
    };
    let mut tools = Vec::new();
    match given("tools") {
        None => {}
        Some(Value::Array(list)) => {
            if list.len() > MAX_TOOLS {
                errors.push((
                    at("tools"),
                    format!("a workflow offers at most {MAX_TOOLS} tools"),
                ));
            }
            for (i, t) in list.iter().enumerate() {
                let loc = vec![Value::from("tools"), Value::from(i)];
                match t.as_str() {
                    None => errors.push((
                        loc,
                        "each tool is a product id, slug or name (a string)".into(),
                    )),
                    Some(ident) => match catalog.resolve(ident) {
                        None => errors.push((loc, format!("no tool {ident:?} in the catalog"))),
                        Some((product, _)) => {
                            if !tools.contains(&product.row.id) {
                                tools.push(product.row.id);
                            }
                        }
                    },
                }
            }
        }
        Some(_) => errors.push((
            at("tools"),
            "tools must be a list of product ids, slugs or names".into(),
        )),
    }
    let max_steps = match given("max_steps") {
        None => DEFAULT_MAX_STEPS,
        Some(v) => match v
            .as_u64()
            .filter(|n| (1..=u64::from(MAX_STEPS)).contains(n))
        {
            Some(n) => n as u32,
            None => {
                errors.push((
                    at("max_steps"),
                    format!("max_steps must be a whole number from 1 to {MAX_STEPS}"),
                ));
                DEFAULT_MAX_STEPS
            }
        },
    };
    let max_credits = match given("max_credits") {
        None => DEFAULT_MAX_CREDITS,
        Some(v) => match v.as_i64().filter(|n| (0..=MAX_CREDITS).contains(n)) {
            Some(n) => n,
            None => {
                errors.push((
                    at("max_credits"),
                    format!(
                        "max_credits must be a whole number of credits from 0 to {MAX_CREDITS}"
                    ),
                ));
                DEFAULT_MAX_CREDITS
            }
        },
    };
    let temperature = match given("temperature") {
        None => None,
        Some(v) => match v.as_f64().filter(|t| (0.0..=2.0).contains(t)) {
            Some(t) => Some(t),
            None => {
                errors.push((
                    at("temperature"),
                    "temperature must be a number from 0 to 2".into(),
                ));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(LlmDefinition {
        model,
        system_prompt,
        tools,
        max_steps,
        max_credits: Credits::new(max_credits),
        temperature,
    })
}
