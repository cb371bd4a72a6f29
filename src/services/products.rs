//! Publishing tools: a vendor's `http` tools, checked and stored. Vendors
//! change only their own tools; administrators change any, and may turn a
//! builtin tool off and on again.

use crate::id::ProductId;
use serde_json::Value;
use tollgate_api::{ActiveStatus, VendorProductRequest};

use crate::app::AppInner;
use crate::auth::Caller;
use crate::catalog::{
    is_function_name, is_slug, parse_actions, parse_credentials, CredentialSpec, DefinitionErrors,
};
use crate::clock::Timestamp;
use crate::id::ObjectId;
use crate::store::{ProductKind, ProductRow, ProductStatus, StoreError};

/// One refused field of a definition: where, why, and what was given.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRefusal {
    /// The path below the body: `["actions", 0, "parameters"]`.
    pub loc: Vec<Value>,
    pub message: String,
    pub input: Value,
}

/// Why a tool cannot be published or changed.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No tool with the id belongs to the caller.
    #[error("no such product")]
    NotFound,
    /// The definition breaks the catalog's rules.
    #[error("invalid product definition")]
    Invalid(Vec<FieldRefusal>),
    /// Another tool answers to the slug or name.
    #[error("{0}")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Headers a vendor call carries itself: a credential there would replace
/// or shadow the call's token, or break the request.
const RESERVED_HEADERS: [&str; 6] = [
    "authorization",
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
];

/// Fields of the call body a credential would overwrite.
const RESERVED_BODY_FIELDS: [&str; 5] = [
    "order_id",
    "product_id",
    "action",
    "parameters",
    "instance_id",
];

/// Refuses credentials put where the call already puts something.
fn reserved_fields(specs: &[CredentialSpec]) -> Result<(), DefinitionErrors> {
    let errors: DefinitionErrors = specs
        .iter()
        .enumerate()
        .filter(|(_, c)| match c.location.as_str() {
            "header" => RESERVED_HEADERS.contains(&c.field.to_ascii_lowercase().as_str()),
            "body" => RESERVED_BODY_FIELDS.contains(&c.field.as_str()),
            _ => false,
        })
        .map(|(i, c)| {
            (
                vec!["required_credentials".into(), i.into(), "field".into()],
                format!(
                    "the call sets the {} {:?} itself; put the credential elsewhere",
                    c.location, c.field
                ),
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The refusals of `errors`, each with the part of `req` it names.
fn refused(errors: DefinitionErrors, req: &VendorProductRequest) -> ProductError {
    let body = serde_json::to_value(req).unwrap_or(Value::Null);
    ProductError::Invalid(
        errors
            .into_iter()
            .map(|(loc, message)| {
                let mut input = &body;
                for part in &loc {
                    input = match part {
                        Value::String(k) => input.get(k.as_str()).unwrap_or(&Value::Null),
                        Value::Number(n) => input
                            .get(n.as_u64().unwrap_or(0) as usize)
                            .unwrap_or(&Value::Null),
                        _ => &Value::Null,
                    };
                }
                FieldRefusal {
                    input: input.clone(),
                    loc,
                    message,
                }
            })
            .collect(),
    )
}

/// Applies the fields present in `req` to `row`, checking each.
fn apply(
    app: &AppInner,
    row: &mut ProductRow,
    req: &VendorProductRequest,
    creating: bool,
) -> Result<(), DefinitionErrors> {
    let mut errors: DefinitionErrors = Vec::new();
    if creating {
        let given = [
            ("slug", req.slug.is_some()),
            ("name", req.name.is_some()),
            ("display_name", req.display_name.is_some()),
            ("endpoint", req.endpoint.is_some()),
        ];
        for (name, _) in given.iter().filter(|(_, given)| !given) {
            errors.push((vec![(*name).into()], "this field is required".into()));
        }
    }
    if let Some(slug) = &req.slug {
        if is_slug(slug) {
            row.slug = slug.clone();
        } else {
            errors.push((
                vec!["slug".into()],
                "a slug is lower-case letters, digits and single hyphens".into(),
            ));
        }
    }
    if let Some(name) = &req.name {
        if is_function_name(name) {
            row.name = name.clone();
        } else {
            errors.push((
                vec!["name".into()],
                "a name is 1-64 characters of a-z, A-Z, 0-9, _ or -".into(),
            ));
        }
    }
    if let Some(v) = &req.display_name {
        row.display_name = v.clone();
    }
    if let Some(v) = &req.description {
        row.description = v.clone();
    }
    if let Some(v) = &req.category {
        row.category = v.clone();
    }
    if let Some(endpoint) = &req.endpoint {
        match app.outbound.check_url(endpoint) {
            Ok(_) => row.endpoint = Some(endpoint.clone()),
            Err(e) => errors.push((
                vec!["endpoint".into()],
                format!("the endpoint is not allowed: {e}"),
            )),
        }
    }
    if let Some(status) = req.status {
        row.status = match status {
            ActiveStatus::Active => ProductStatus::Active,
            ActiveStatus::Disabled => ProductStatus::Disabled,
        };
    }
    if let Some(ms) = req.timeout_ms {
        row.timeout_ms = Some(ms);
    }
    if let Some(creds) = &req.required_credentials {
        let creds = Value::Array(creds.iter().cloned().map(Value::Object).collect());
        match parse_credentials(&creds).and_then(|specs| reserved_fields(&specs)) {
            Ok(()) => row.required_credentials = creds.to_string(),
            Err(e) => errors.extend(e),
        }
    }
    match &req.actions {
        Some(actions) => {
            let actions = Value::Array(actions.iter().cloned().map(Value::Object).collect());
            match parse_actions(&actions) {
                Ok(_) => row.actions = actions.to_string(),
                Err(e) => errors.extend(e),
            }
        }
        None if creating => errors.push((
            vec!["actions".into()],
            "a product needs at least one action".into(),
        )),
        None => {}
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Slugs and names share one lookup (`product_id` may be either), so neither
/// may equal another product's slug or name, nor look like an id.
fn check_identifiers(app: &AppInner, row: &ProductRow) -> Result<(), ProductError> {
    let snapshot = app.catalog.snapshot();
    for ident in [&row.slug, &row.name] {
        if ObjectId::is_valid(ident) {
            return Err(ProductError::Exists(
                "A slug or name may not look like a product id.".into(),
            ));
        }
        if snapshot
            .resolve(ident)
            .is_some_and(|(p, _)| p.row.id != row.id)
        {
            return Err(ProductError::Exists(format!(
                "Another product already answers to {ident:?}."
            )));
        }
    }
    Ok(())
}

/// A unique index refused the slug or name: another tool took it first.
fn taken(e: StoreError) -> ProductError {
    match e {
        StoreError::Conflict(_) => {
            ProductError::Exists("A product with this slug or name already exists.".into())
        }
        e => e.into(),
    }
}

/// Publishes an `http` tool of the caller's.
pub async fn publish(
    app: &AppInner,
    caller: &Caller,
    req: &VendorProductRequest,
) -> Result<ProductRow, ProductError> {
    let now = Timestamp::from(app.clock.now());
    let mut row = ProductRow {
        id: ProductId::new(),
        slug: String::new(),
        name: String::new(),
        display_name: String::new(),
        description: String::new(),
        category: "general".into(),
        vendor_id: Some(caller.user_id),
        kind: ProductKind::Http,
        endpoint: None,
        required_credentials: "[]".into(),
        actions: "[]".into(),
        status: ProductStatus::Active,
        timeout_ms: None,
        created_at: now,
        updated_at: now,
    };
    apply(app, &mut row, req, true).map_err(|e| refused(e, req))?;
    if row.endpoint.is_none() {
        return Err(refused(
            vec![(
                vec!["endpoint".into()],
                "an http tool needs an endpoint".into(),
            )],
            req,
        ));
    }
    check_identifiers(app, &row)?;
    app.store.insert_product(&row).await.map_err(taken)?;
    app.catalog.reload().await?;
    Ok(row)
}

/// The caller's tools: every tool, for an administrator.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<ProductRow>, ProductError> {
    let rows = app.store.products().await?;
    Ok(rows
        .into_iter()
        .filter(|p| caller.is_admin() || p.vendor_id == Some(caller.user_id))
        .collect())
}

/// Changes the fields `req` gives of the caller's tool `product_id`. Of a
/// builtin tool only the status may change; the rest ships with the server.
pub async fn update(
    app: &AppInner,
    caller: &Caller,
    product_id: ProductId,
    req: &VendorProductRequest,
) -> Result<ProductRow, ProductError> {
    let mut row = app
        .store
        .products()
        .await?
        .into_iter()
        .find(|p| p.id == product_id)
        .ok_or(ProductError::NotFound)?;
    if !caller.is_admin() && row.vendor_id != Some(caller.user_id) {
        return Err(ProductError::NotFound);
    }
    if row.kind == ProductKind::Builtin {
        let only_status = VendorProductRequest {
            status: req.status,
            ..VendorProductRequest::default()
        };
        if *req != only_status {
            return Err(refused(
                vec![(
                    vec![],
                    "only the status of a builtin tool can be changed".into(),
                )],
                req,
            ));
        }
    }
    apply(app, &mut row, req, false).map_err(|e| refused(e, req))?;
    row.updated_at =
        Timestamp::from(app.clock.now()).max(row.updated_at + chrono::Duration::milliseconds(1));
    check_identifiers(app, &row)?;
    app.store.update_product(&row).await.map_err(taken)?;
    app.catalog.reload().await?;
    Ok(row)
}
