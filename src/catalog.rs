//! The tool catalog: products and their actions, held in memory with each
//! action's JSON Schema compiled once, and refreshed when the database says
//! the catalog changed (on this node at once, on others within seconds).

use crate::clock::Timestamp;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::{json, Value};

use crate::id::ProductId;
use crate::money::Credits;
use crate::store::{ProductKind, ProductRow, ProductStatus, Store, StoreResult};
use crate::tools::{BuiltinSpec, BuiltinTool};

/// One operation of a product.
pub struct Action {
    pub name: String,
    pub description: String,
    pub parameters: Value,
    pub price_credits: Credits,
    pub validator: jsonschema::Validator,
}

/// Where a product wants a stored credential put on the vendor call.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialSpec {
    pub name: String,
    /// `header`, `body` or `query`.
    pub location: String,
    /// Header name, body field or query parameter.
    pub field: String,
}

/// A product as the hot path uses it.
pub struct Product {
    pub row: ProductRow,
    pub actions: Vec<Action>,
    pub credentials: Vec<CredentialSpec>,
    pub builtin: Option<Arc<dyn BuiltinTool>>,
    /// The product as `GET /products/fetch` lists it, serialised once per
    /// catalog version by the first request that needs it.
    pub listing: std::sync::OnceLock<Box<serde_json::value::RawValue>>,
}

impl Product {
    pub fn id(&self) -> ProductId {
        self.row.id
    }

    pub fn is_active(&self) -> bool {
        self.row.status == ProductStatus::Active
    }

    pub fn action(&self, name: &str) -> Option<&Action> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// True when `action` is a builtin tool's that changes nothing outside
    /// the call: such a call runs first and is charged in one write.
    pub fn runs_without_outside_effect(&self, action: &str) -> bool {
        self.builtin
            .as_ref()
            .is_some_and(|t| !t.has_outside_effect(action))
    }

    /// Each action's price, as a JSON object: what an owner agrees to when
    /// they enable the product.
    pub fn prices_json(&self) -> String {
        let prices: serde_json::Map<String, Value> = self
            .actions
            .iter()
            .map(|a| (a.name.clone(), Value::from(a.price_credits)))
            .collect();
        Value::Object(prices).to_string()
    }

    /// Actions as the API shows them.
    pub fn actions_json(&self) -> Vec<Value> {
        self.actions
            .iter()
            .map(|a| json!({"name": a.name, "description": a.description, "parameters": a.parameters, "price_credits": a.price_credits}))
            .collect()
    }

    /// An OpenAI-style function definition: one function per product with an
    /// `action` selector and the union of the actions' parameters.
    pub fn function_definition(&self) -> Value {
        let mut properties = serde_json::Map::new();
        let names: Vec<&str> = self.actions.iter().map(|a| a.name.as_str()).collect();
        let mut lines = vec![
            self.row.description.clone(),
            String::new(),
            "Actions:".to_string(),
        ];
        properties.insert(
            "action".into(),
            json!({"type": "string", "enum": names, "description": "Which action to perform."}),
        );
        for a in &self.actions {
            let required: Vec<String> = a.parameters["required"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            lines.push(format!(
                "- {} ({} credits): {}{}",
                a.name,
                a.price_credits,
                a.description,
                if required.is_empty() {
                    String::new()
                } else {
                    format!(" Requires: {}.", required.join(", "))
                }
            ));
            if let Some(props) = a.parameters["properties"].as_object() {
                for (k, v) in props {
                    properties.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
        json!({
            "type": "function",
            "function": {
                "name": self.row.name,
                "description": lines.join("\n"),
                "parameters": {"type": "object", "properties": properties, "required": ["action"]},
            }
        })
    }
}

/// How an identifier resolved to a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    ObjectId,
    Slug,
    ExactName,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::ObjectId => "object_id",
            Lookup::Slug => "slug",
            Lookup::ExactName => "exact_name",
        }
    }
}

/// The catalog at one moment.
#[derive(Default)]
pub struct Snapshot {
    /// Every product, ordered by name then id: the stable listing order.
    pub products: Vec<Arc<Product>>,
    by_id: HashMap<ProductId, Arc<Product>>,
    by_slug: HashMap<String, Arc<Product>>,
    by_name: HashMap<String, Arc<Product>>,
    version: (i64, i64),
}

impl Snapshot {
    /// Resolves an ObjectId, then a slug, then an exact name.
    pub fn resolve(&self, ident: &str) -> Option<(Arc<Product>, Lookup)> {
        let ident = ident.trim();
        if let Some(id) = ProductId::parse(ident) {
            if let Some(p) = self.by_id.get(&id) {
                return Some((p.clone(), Lookup::ObjectId));
            }
        }
        if let Some(p) = self.by_slug.get(ident) {
            return Some((p.clone(), Lookup::Slug));
        }
        if let Some(p) = self.by_name.get(ident) {
            return Some((p.clone(), Lookup::ExactName));
        }
        None
    }

    pub fn by_id(&self, id: ProductId) -> Option<&Arc<Product>> {
        self.by_id.get(&id)
    }
}

/// Why a product definition was refused: (location under the body, message).
pub type DefinitionErrors = Vec<(Vec<Value>, String)>;

/// Compiles a JSON Schema for action parameters; remote and file `$ref`s
/// cannot resolve (those features are off), so a schema cannot make the
/// server fetch anything.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator, String> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err("parameters must be a JSON Schema with \"type\": \"object\"".into());
    }
    jsonschema::validator_for(schema).map_err(|e| format!("not a valid JSON Schema: {e}"))
}

/// Parses stored actions; errors name the action.
pub fn parse_actions(actions: &Value) -> Result<Vec<Action>, DefinitionErrors> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    let Some(list) = actions.as_array() else {
        return Err(vec![(
            vec!["actions".into()],
            "actions must be a list".into(),
        )]);
    };
    if list.is_empty() {
        errors.push((
            vec!["actions".into()],
            "a product needs at least one action".into(),
        ));
    }
    for (i, a) in list.iter().enumerate() {
        let loc = |field: &str| vec![Value::from("actions"), Value::from(i), Value::from(field)];
        let name = a["name"].as_str().unwrap_or_default();
        if !is_function_name(name) {
            errors.push((
                loc("name"),
                "an action name is 1-64 characters of a-z, A-Z, 0-9, _ or -".into(),
            ));
        }
        if list[..i].iter().any(|b| b["name"] == a["name"]) {
            errors.push((
                loc("name"),
                format!("the action name {name:?} is used twice"),
            ));
        }
        let price = a["price_credits"].as_i64();
        if !price.is_some_and(|p| (0..=1_000_000_000).contains(&p)) {
            errors.push((
                loc("price_credits"),
                "price_credits must be a whole number of credits, 0 or more".into(),
            ));
        }
        let parameters = if a.get("parameters").is_none_or(Value::is_null) {
            json!({"type": "object", "properties": {}})
        } else {
            a["parameters"].clone()
        };
        match compile_schema(&parameters) {
            Ok(validator) => parsed.push(Action {
                name: name.to_string(),
                description: a["description"].as_str().unwrap_or_default().to_string(),
                parameters,
                price_credits: Credits::new(price.unwrap_or(0)),
                validator,
            }),
            Err(e) => errors.push((loc("parameters"), e)),
        }
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(errors)
    }
}

/// Parses declared credentials.
pub fn parse_credentials(value: &Value) -> Result<Vec<CredentialSpec>, DefinitionErrors> {
    let mut errors = Vec::new();
    let mut specs = Vec::new();
    let list = match value {
        Value::Null => return Ok(specs),
        Value::Array(l) => l,
        _ => {
            return Err(vec![(
                vec!["required_credentials".into()],
                "required_credentials must be a list".into(),
            )])
        }
    };
    for (i, c) in list.iter().enumerate() {
        let loc = |f: &str| {
            vec![
                Value::from("required_credentials"),
                Value::from(i),
                Value::from(f),
            ]
        };
        let name = c["name"].as_str().unwrap_or_default();
        let location = c["location"].as_str().unwrap_or("header");
        let field = c["field"].as_str().unwrap_or(name);
        if !is_function_name(name) {
            errors.push((
                loc("name"),
                "a credential name is 1-64 characters of a-z, A-Z, 0-9, _ or -".into(),
            ));
        }
        if !matches!(location, "header" | "body" | "query") {
            errors.push((
                loc("location"),
                "location must be header, body or query".into(),
            ));
        }
        if field.is_empty()
            || field.len() > 128
            || !field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.push((
                loc("field"),
                "field must be 1-128 characters of a-z, A-Z, 0-9, - or _".into(),
            ));
        }
        specs.push(CredentialSpec {
            name: name.into(),
            location: location.into(),
            field: field.into(),
        });
    }
    if errors.is_empty() {
        Ok(specs)
    } else {
        Err(errors)
    }
}

/// Function names as OpenAI accepts them.
pub fn is_function_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Slugs: lower-case words joined by hyphens.
pub fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn builtin_row(spec: &BuiltinSpec, now: i64) -> ProductRow {
    let actions: Vec<Value> = spec
        .actions
        .iter()
        .map(|a| json!({"name": a.name, "description": a.description, "parameters": a.parameters, "price_credits": a.price_credits}))
        .collect();
    ProductRow {
        id: ProductId::new(),
        slug: spec.slug.into(),
        name: spec.name.into(),
        display_name: spec.display_name.into(),
        description: spec.description.into(),
        category: spec.category.into(),
        vendor_id: None,
        kind: ProductKind::Builtin,
        endpoint: None,
        required_credentials: "[]".into(),
        actions: Value::Array(actions).to_string(),
        status: ProductStatus::Active,
        timeout_ms: None,
        created_at: Timestamp::from_millis(now),
        updated_at: Timestamp::from_millis(now),
    }
}

/// The catalog cache.
pub struct Catalog {
    store: Arc<dyn Store>,
    builtins: HashMap<String, Arc<dyn BuiltinTool>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// One reload at a time, so a slow reload that read older rows cannot
    /// replace the snapshot of a later one (a product just published would
    /// vanish until the next refresh).
    reloading: tokio::sync::Mutex<()>,
}

impl Catalog {
    /// Seeds the builtin tools (safe from several nodes at once) and loads
    /// the catalog.
    pub async fn load(
        store: Arc<dyn Store>,
        builtins: Vec<Arc<dyn BuiltinTool>>,
    ) -> anyhow::Result<Catalog> {
        let now = chrono::Utc::now().timestamp_millis();
        let mut by_slug = HashMap::new();
        for tool in builtins {
            let spec = tool.spec();
            store
                .upsert_builtin_product(&builtin_row(&spec, now))
                .await?;
            by_slug.insert(spec.slug.to_string(), tool);
        }
        let catalog = Catalog {
            store,
            builtins: by_slug,
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            reloading: tokio::sync::Mutex::new(()),
        };
        catalog.reload().await?;
        Ok(catalog)
    }

    /// The current catalog.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().expect("catalog lock").clone()
    }

    /// Rebuilds the snapshot from the database.
    pub async fn reload(&self) -> StoreResult<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let version = self.store.catalog_version().await?;
        let rows = self.store.products().await?;
        let mut snap = Snapshot {
            version,
            ..Snapshot::default()
        };
        for row in rows {
            let actions = match serde_json::from_str::<Value>(&row.actions)
                .ok()
                .map(|v| parse_actions(&v))
            {
                Some(Ok(a)) => a,
                _ => {
                    tracing::error!(product_id = %row.id, "a stored product has unusable actions; it is left out");
                    continue;
                }
            };
            let credentials = serde_json::from_str::<Value>(&row.required_credentials)
                .ok()
                .and_then(|v| parse_credentials(&v).ok())
                .unwrap_or_default();
            let builtin = (row.kind == ProductKind::Builtin)
                .then(|| self.builtins.get(&row.slug).cloned())
                .flatten();
            if row.kind == ProductKind::Builtin && builtin.is_none() {
                // A builtin this binary does not have (an older or newer node's).
                continue;
            }
            let product = Arc::new(Product {
                row,
                actions,
                credentials,
                builtin,
                listing: std::sync::OnceLock::new(),
            });
            snap.by_id.insert(product.row.id, product.clone());
            snap.by_slug
                .insert(product.row.slug.clone(), product.clone());
            snap.by_name
                .insert(product.row.name.clone(), product.clone());
            snap.products.push(product);
        }
        *self.snapshot.write().expect("catalog lock") = Arc::new(snap);
        Ok(())
    }

    /// Reloads when another node changed the catalog.
    pub async fn refresh_if_changed(&self) -> StoreResult<bool> {
        let version = self.store.catalog_version().await?;
        if version == self.snapshot().version {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// Ids of the builtin tools a new user's default budget starts with.
    pub fn builtin_ids(&self) -> Vec<ProductId> {
        self.snapshot()
            .products
            .iter()
            .filter(|p| p.row.kind == ProductKind::Builtin && p.is_active())
            .map(|p| p.row.id)
            .collect()
    }
}
