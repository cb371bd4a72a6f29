//! The OpenAPI document and the docs page: the document is valid OpenAPI
//! 3.1, lists exactly the routes the router serves, matches the committed
//! `openapi.json`, agrees with the spec on
//! the spec's endpoints, and describes what the server really answers.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp};

async fn live_document(app: &TestApp) -> Value {
    let (status, doc) = app.get("/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK, "{doc}");
    doc
}

/// Follows `$ref`s to the schema they name.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(r) = schema.get("$ref").and_then(Value::as_str) else {
            return schema;
        };
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        schema = doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("$ref {r} resolves to nothing"));
    }
    panic!("a $ref cycle")
}

/// The JSON types a schema admits; empty for "any".
fn types_of(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut out = BTreeSet::new();
    match schema.get("type") {
        Some(Value::String(t)) => {
            out.insert(t.clone());
        }
        Some(Value::Array(ts)) => out.extend(ts.iter().filter_map(Value::as_str).map(String::from)),
        _ => {}
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for branch in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.extend(types_of(doc, branch));
        }
    }
    if out.is_empty() && schema.get("properties").is_some() {
        out.insert("object".into());
    }
    if out.contains("integer") {
        // Every integer is a JSON number too.
        out.insert("number".into());
    }
    out
}

/// The non-null branch of a schema: through `$ref`s and nullable `oneOf`s.
fn non_null<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let real: Vec<&Value> = branches
                .iter()
                .filter(|b| resolve(doc, b).get("type") != Some(&json!("null")))
                .collect();
            if real.len() == 1 {
                return non_null(doc, real[0]);
            }
        }
    }
    schema
}

/// A property of an object schema, and whether it is required.
fn property<'a>(doc: &'a Value, schema: &'a Value, name: &str) -> Option<(&'a Value, bool)> {
    let schema = non_null(doc, schema);
    // A body of one of several shapes: the branch that has the property.
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            return branches.iter().find_map(|b| property(doc, b, name));
        }
    }
    let prop = schema.get("properties")?.get(name)?;
    let required = schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|n| n == name));
    Some((prop, required))
}

/// The schema at a spec field path such as `data.grants[]._id`.
fn field<'a>(doc: &'a Value, root: &'a Value, path: &str) -> Option<(&'a Value, bool)> {
    let mut current = (root, true);
    for part in path.split('.') {
        let (name, items) = match part.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (part, false),
        };
        current = property(doc, current.0, name)?;
        if items {
            current = (non_null(doc, current.0).get("items")?, true);
        }
    }
    Some(current)
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    doc["paths"][path]
        .get(method)
        .unwrap_or_else(|| panic!("{method} {path} is not documented"))
}

fn json_schema<'a>(doc: &'a Value, container: &'a Value) -> &'a Value {
    let container = resolve(doc, container);
    container["content"]["application/json"]
        .get("schema")
        .unwrap_or_else(|| panic!("no application/json schema in {container}"))
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = live_document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Tollgate");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], app.url.as_str());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["type"],
        "http"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    // A parser we did not write reads it, and every reference resolves.
    let spec = oas3::from_json(doc.to_string()).expect("oas3 parses the document");
    spec.validate_version()
        .expect("a supported OpenAPI version");
    let mut operation_ids = HashSet::new();
    let mut count = 0;
    for (path, method, op) in spec.operations() {
        count += 1;
        let id = op.operation_id.clone().unwrap_or_default();
        assert!(
            operation_ids.insert(id.clone()),
            "operationId {id:?} repeats"
        );
        assert!(op.summary.is_some(), "{method} {path} has no summary");
        for p in &op.parameters {
            let p = p.resolve(&spec).expect("parameter resolves");
            if p.location == oas3::spec::ParameterIn::Path {
                assert!(
                    path.contains(&format!("{{{}}}", p.name)),
                    "{path} has no {{{}}}",
                    p.name
                );
            }
        }
        if let Some(body) = &op.request_body {
            body.resolve(&spec).expect("request body resolves");
        }
        let responses = op.responses.as_ref().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has no responses");
        for (status, r) in responses {
            assert!(status.parse::<u16>().is_ok(), "{status}");
            let r = r.resolve(&spec).expect("response resolves");
            assert!(
                r.description.is_some(),
                "{method} {path} {status} has no description"
            );
            for media in r.content.values() {
                if let Some(schema) = &media.schema {
                    schema.resolve(&spec).expect("schema resolves");
                }
            }
        }
    }
    assert!(count > 50, "only {count} operations");
    // Every $ref anywhere in the document points at something.
    fn refs(doc: &Value, v: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    resolve(doc, v);
                    assert!(r.starts_with("#/components/"), "{r}");
                }
                m.values().for_each(|c| refs(doc, c));
            }
            Value::Array(a) => a.iter().for_each(|c| refs(doc, c)),
            _ => {}
        }
    }
    refs(&doc, &doc);
}

/// Routes are registered in one table (`http::routes`, utoipa-axum's
/// `routes!`), from which both the router and the document are built: no
/// source file registers a route any other way.
#[test]
fn every_route_is_registered_through_the_documented_table() {
    let mut files = Vec::new();
    crate::harness::rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let plain = regex::Regex::new(r"\.(route|route_service|nest|nest_service)\s*\(").unwrap();
    let offending: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let src = std::fs::read_to_string(file).unwrap();
            src.lines()
                .enumerate()
                .filter(|(_, line)| plain.is_match(line))
                .map(|(n, line)| format!("{}:{}: {}", file.display(), n + 1, line.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        offending.is_empty(),
        "routes registered outside the route table: {offending:#?}"
    );
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_the_router_serves() {
    let doc = tollgate::http::openapi::document();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for m in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ]
            .contains(&m.as_str())
            {
                documented.insert((path.clone(), m.clone()));
            }
        }
    }
    assert!(documented.contains(&("/openapi.json".into(), "get".into())));
    assert!(documented.contains(&(
        "/budgets/{budget_id}/api-keys/{key_id}".into(),
        "delete".into()
    )));
    assert!(documented.contains(&("/mcp".into(), "post".into())));

    // Every documented operation is served: it answers something other
    // than "no route".
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let param = regex::Regex::new(r"\{[^}]+\}").unwrap();
    for (path, m) in &documented {
        let concrete = param.replace_all(path, "x");
        let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
        let (_, body) = app.request(method, &concrete, None, None).await;
        assert_ne!(body["error"], "route_not_found", "{m} {path}");
        assert_ne!(body["error"], "method_not_allowed", "{m} {path}");
    }
}

/// The document is committed as `openapi.json`, so a change to the API shows
/// in review. `TOLLGATE_UPDATE_OPENAPI=1 cargo test --test it openapi`
/// rewrites the file after an intended change.
#[test]
fn the_document_matches_the_committed_openapi_json() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let mut current = serde_json::to_string_pretty(tollgate::http::openapi::document()).unwrap();
    current.push('\n');
    if std::env::var_os("TOLLGATE_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != current {
        let line = committed
            .lines()
            .zip(current.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(current.lines().count()));
        panic!(
            "openapi.json differs from the document the server serves, first at line {}; \
             if the change is intended, run TOLLGATE_UPDATE_OPENAPI=1 cargo test --test it openapi \
             and commit openapi.json",
            line + 1
        );
    }
}

struct SpecOp {
    method: &'static str,
    path: &'static str,
    statuses: &'static [u16],
    /// Name, location, required.
    params: &'static [(&'static str, &'static str, bool)],
    /// Where (`request` or a status), field path, JSON type, required.
    fields: &'static [(&'static str, &'static str, &'static str, bool)],
}

/// The spec's endpoints, as `../shared/spec/programmatic-access.md` lists
/// them (under our parameter names: `{workflow_id}` for `{workflowId}`,
/// `{run_id}` for `{runId}`).
const SPEC: &[SpecOp] = &[
    SpecOp {
        method: "get",
        path: "/credits/balance",
        statuses: &[200, 422],
        params: &[],
        fields: &[
            ("200", "success", "boolean", false),
            ("200", "message", "string", false),
            ("200", "data", "object", true),
            ("200", "data.balance", "integer", true),
            ("200", "data.expiration", "string", false),
            ("200", "data.expires_in_days", "integer", false),
            ("422", "detail", "array", false),
            ("422", "detail[]", "object", false),
            ("422", "detail[].loc", "array", true),
            ("422", "detail[].loc[]", "string", false),
            ("422", "detail[].msg", "string", true),
            ("422", "detail[].type", "string", true),
            ("422", "detail[].input", "any", false),
            ("422", "detail[].ctx", "object", false),
        ],
    },
    SpecOp {
        method: "get",
        path: "/credits/history",
        statuses: &[200, 422],
        params: &[("limit", "query", false)],
        fields: &[
            ("200", "success", "boolean", false),
            ("200", "message", "string", false),
            ("200", "data", "object", true),
            ("200", "data.grants", "array", true),
            ("200", "data.grants[]", "object", false),
            ("200", "data.grants[]._id", "string", true),
            ("200", "data.grants[].user_id", "string", true),
            ("200", "data.grants[].amount_credits", "integer", true),
            ("200", "data.grants[].amount_usd", "number", true),
            ("200", "data.grants[].remaining_credits", "integer", true),
            ("200", "data.grants[].credit_type", "string", true),
            ("200", "data.grants[].source_metadata", "object", false),
            ("200", "data.grants[].date_created", "string", true),
            ("200", "data.grants[].pooled_at", "string", false),
            ("200", "data.grants[].expires_at", "string", false),
            ("200", "data.transactions", "array", true),
            ("200", "data.transactions[]", "object", false),
            ("200", "data.transactions[]._id", "string", true),
            ("200", "data.transactions[].user_id", "string", true),
            (
                "200",
                "data.transactions[].transaction_type",
                "string",
                true,
            ),
            ("200", "data.transactions[].amount_credits", "integer", true),
            ("200", "data.transactions[].amount_usd", "number", true),
            (
                "200",
                "data.transactions[].balance_after_credits",
                "integer",
                true,
            ),
            (
                "200",
                "data.transactions[].balance_after_usd",
                "number",
                true,
            ),
            ("200", "data.transactions[].date_created", "string", true),
            ("422", "detail", "array", false),
            ("422", "detail[]", "object", false),
            ("422", "detail[].loc", "array", true),
            ("422", "detail[].loc[]", "string", false),
            ("422", "detail[].msg", "string", true),
            ("422", "detail[].type", "string", true),
            ("422", "detail[].input", "any", false),
            ("422", "detail[].ctx", "object", false),
        ],
    },
    SpecOp {
        method: "post",
        path: "/issues/report",
        statuses: &[200, 422],
        params: &[("x-instance-id", "header", false)],
        fields: &[
            ("request", "product_id", "string", true),
            ("request", "error_message", "string", true),
            ("request", "recommended_improvements", "string", false),
            ("200", "success", "boolean", false),
            ("200", "message", "string", false),
            ("200", "data", "object", true),
            ("200", "data.issue_id", "string", true),
            ("200", "data.product_found", "boolean", true),
            ("200", "data.lookup_method", "string", true),
            ("200", "data.product_id", "string", true),
            ("200", "data.product_name", "string", false),
            ("200", "data.status", "string", true),
            ("422", "detail", "array", false),
            ("422", "detail[]", "object", false),
            ("422", "detail[].loc", "array", true),
            ("422", "detail[].loc[]", "string", false),
            ("422", "detail[].msg", "string", true),
            ("422", "detail[].type", "string", true),
            ("422", "detail[].input", "any", false),
            ("422", "detail[].ctx", "object", false),
        ],
    },
    SpecOp {
        method: "get",
        path: "/products/fetch",
        statuses: &[200, 422],
        params: &[
            ("page", "query", false),
            ("page_size", "query", false),
            ("X-Page", "header", false),
            ("X-Page-Size", "header", false),
            ("x-instance-id", "header", false),
            ("x-instance-metadata", "header", false),
        ],
        fields: &[
            ("200", "success", "boolean", false),
            ("200", "instance_id", "string", false),
            ("200", "details", "object", true),
            ("200", "details.tools_on_this_page", "integer", true),
            ("200", "details.total_qualified_tools", "integer", true),
            ("200", "details.page_returned", "integer", true),
            ("200", "details.page_size_requested", "integer", true),
            ("200", "details.page_source", "string", true),
            ("200", "details.page_size_source", "string", true),
            ("200", "details.total_pages", "integer", true),
            ("200", "details.has_next_page", "boolean", true),
            ("200", "details.has_previous_page", "boolean", true),
            ("200", "preprompt", "string", true),
            ("200", "tools", "array", true),
            ("200", "tools[]", "object", false),
            ("200", "tools[].product_id", "string", false),
            ("200", "tools[].name", "string", false),
            ("200", "tools[].display_name", "string", false),
            ("200", "tools[].description", "string", false),
            ("200", "pagination", "object", true),
            ("200", "pagination.page", "integer", true),
            ("200", "pagination.page_size", "integer", true),
            ("200", "pagination.total_count", "integer", true),
            ("200", "pagination.total_pages", "integer", true),
            ("200", "pagination.has_next", "boolean", true),
            ("200", "pagination.has_prev", "boolean", true),
            ("200", "example_tool_call", "string", false),
            ("422", "detail", "array", false),
            ("422", "detail[]", "object", false),
            ("422", "detail[].loc", "array", true),
            ("422", "detail[].loc[]", "string", false),
            ("422", "detail[].msg", "string", true),
            ("422", "detail[].type", "string", true),
            ("422", "detail[].input", "any", false),
            ("422", "detail[].ctx", "object", false),
        ],
    },
    SpecOp {
        method: "post",
        path: "/products/purchase",
        statuses: &[200, 422],
        params: &[
            ("x-instance-id", "header", false),
            ("x-instance-metadata", "header", false),
        ],
        fields: &[
            ("request", "product_id", "string", true),
            ("request", "parameters", "object", false),
            ("200", "success", "boolean", false),
            ("200", "data", "object", false),
            ("200", "order_id", "string", false),
            ("200", "instance_id", "string", false),
            ("422", "detail", "array", false),
            ("422", "detail[]", "object", false),
            ("422", "detail[].loc", "array", true),
            ("422", "detail[].loc[]", "string", false),
            ("422", "detail[].msg", "string", true),
            ("422", "detail[].type", "string", true),
            ("422", "detail[].input", "any", false),
            ("422", "detail[].ctx", "object", false),
        ],
    },
    SpecOp {
        method: "post",
        path: "/api/agent-webhooks/{workflow_id}/trigger",
        statuses: &[200, 202, 400, 401, 409, 500],
        params: &[],
        fields: &[
            ("request", "prompt", "string", true),
            ("request", "request_id", "string", false),
            ("request", "callback_url", "string", false),
            ("request", "request_metadata", "object", false),
            ("200", "success", "boolean", true),
            ("200", "data", "object", true),
            ("200", "data.run", "object", true),
            ("200", "data.run.run_id", "string", true),
            ("200", "data.run.workflow_id", "string", true),
            ("200", "data.run.status", "string", true),
            ("200", "data.run.created_at", "string", true),
            ("200", "data.run.updated_at", "string", true),
            ("200", "data.status_url", "string", true),
            ("200", "message", "string", true),
            ("202", "success", "boolean", true),
            ("202", "data", "object", true),
            ("202", "data.run", "object", true),
            ("202", "data.run.run_id", "string", true),
            ("202", "data.run.workflow_id", "string", true),
            ("202", "data.run.status", "string", true),
            ("202", "data.run.created_at", "string", true),
            ("202", "data.run.updated_at", "string", true),
            ("202", "data.status_url", "string", true),
            ("202", "message", "string", true),
            ("400", "success", "boolean", true),
            ("400", "error", "string", true),
            ("400", "message", "string", true),
            ("401", "success", "boolean", true),
            ("401", "error", "string", true),
            ("401", "message", "string", true),
            ("409", "success", "boolean", true),
            ("409", "error", "string", true),
            ("409", "message", "string", true),
            ("409", "data", "object", false),
            ("409", "data.workflow_request_id", "any", false),
            ("409", "data.credential_request_ids", "array", false),
            ("409", "data.credential_request_ids[]", "string", false),
            ("409", "data.add_workflow", "any", false),
            ("409", "data.missing_credentials", "array", false),
            ("409", "data.missing_credentials[]", "object", false),
            ("500", "success", "boolean", true),
            ("500", "error", "string", true),
            ("500", "message", "string", true),
        ],
    },
    SpecOp {
        method: "get",
        path: "/api/agent-webhooks/runs/{run_id}",
        statuses: &[200, 400, 401, 404, 500],
        params: &[],
        fields: &[
            ("200", "success", "boolean", true),
            ("200", "data", "object", true),
            ("200", "data.run", "object", true),
            ("200", "data.run.run_id", "string", true),
            ("200", "data.run.workflow_id", "string", true),
            ("200", "data.run.status", "string", true),
            ("200", "data.run.prompt", "string", true),
            ("200", "data.run.response_text", "any", false),
            ("200", "data.run.session_id", "any", false),
            ("200", "data.run.model", "any", false),
            ("200", "data.run.error_code", "any", false),
            ("200", "data.run.error_message", "any", false),
            ("200", "data.run.callback_url", "any", false),
            ("200", "data.run.callback_status", "string", true),
            ("200", "data.run.callback_last_status", "any", false),
            ("200", "data.run.callback_last_error", "any", false),
            ("200", "data.run.callback_attempted_at", "any", false),
            ("200", "data.run.callback_delivered_at", "any", false),
            ("200", "data.run.request_metadata", "object", false),
            ("200", "data.run.run_metadata", "object", false),
            ("200", "data.run.created_at", "string", true),
            ("200", "data.run.updated_at", "string", true),
            ("200", "data.run.started_at", "any", false),
            ("200", "data.run.completed_at", "any", false),
            ("400", "success", "boolean", true),
            ("400", "error", "string", true),
            ("400", "message", "string", true),
            ("401", "success", "boolean", true),
            ("401", "error", "string", true),
            ("401", "message", "string", true),
            ("404", "success", "boolean", true),
            ("404", "error", "string", true),
            ("404", "message", "string", true),
            ("500", "success", "boolean", true),
            ("500", "error", "string", true),
            ("500", "message", "string", true),
        ],
    },
    SpecOp {
        method: "get",
        path: "/health",
        statuses: &[200],
        params: &[],
        fields: &[("200", "status", "string", true)],
    },
    SpecOp {
        method: "get",
        path: "/public/jwt-public-key",
        statuses: &[200],
        params: &[],
        fields: &[
            ("200", "success", "boolean", false),
            ("200", "public_key", "string", true),
            ("200", "algorithm", "string", true),
            ("200", "message", "string", true),
        ],
    },
];

#[test]
fn the_spec_endpoints_agree_with_the_spec() {
    let doc = tollgate::http::openapi::document();
    for op in SPEC {
        let o = operation(doc, op.method, op.path);
        let what = format!("{} {}", op.method, op.path);
        for status in op.statuses {
            assert!(
                o["responses"].get(status.to_string()).is_some(),
                "{what} does not document {status}"
            );
        }
        if op.path != "/health" && op.path != "/public/jwt-public-key" {
            assert_eq!(
                o["security"],
                json!([{"bearer": []}]),
                "{what} needs the bearer token"
            );
        }
        for (name, location, required) in op.params {
            let p = o["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"] == *name && p["in"] == *location)
                .unwrap_or_else(|| panic!("{what} has no {location} parameter {name}"));
            assert_eq!(
                p["required"].as_bool().unwrap_or(false),
                *required,
                "{what} {name}"
            );
        }
        for (place, path, kind, required) in op.fields {
            let root = if *place == "request" {
                assert_eq!(o["requestBody"]["required"], true, "{what} body");
                json_schema(doc, &o["requestBody"])
            } else {
                json_schema(doc, &o["responses"][*place])
            };
            let (schema, is_required) =
                field(doc, root, path).unwrap_or_else(|| panic!("{what} {place}: no field {path}"));
            let types = types_of(doc, schema);
            if *kind == "any" {
                assert!(
                    types.is_empty() || types.contains("null") || types.len() > 1,
                    "{what} {place} {path} should admit any value, not {types:?}"
                );
            } else {
                assert!(
                    types.contains(*kind),
                    "{what} {place} {path}: {kind} expected, documented {types:?}"
                );
            }
            if !path.ends_with("[]") {
                assert_eq!(
                    is_required, *required,
                    "{what} {place} {path}: required should be {required}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_docs_page_is_compiled_in_and_locked_down() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let resp = app
        .client
        .get(format!("{}/docs", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(
        csp.contains("script-src 'self';") && csp.contains("style-src 'self';"),
        "{csp}"
    );
    assert!(csp.contains("connect-src 'self';"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let html = resp.text().await.unwrap();

    // No inline script or style; everything comes from /docs/assets.
    let script = regex::Regex::new(r#"<script([^>]*)>([\s\S]*?)</script>"#).unwrap();
    let src_attr = regex::Regex::new(r#"src="([^"]+)""#).unwrap();
    let mut scripts = Vec::new();
    for c in script.captures_iter(&html) {
        assert!(c[2].trim().is_empty(), "inline script: {}", &c[2]);
        let src = src_attr.captures(&c[1]).expect("a script src")[1].to_string();
        scripts.push(src);
    }
    assert!(
        !html.contains("<style") && !html.contains(" style=") && !html.contains(" on"),
        "inline style or handler"
    );
    let styles: Vec<String> = regex::Regex::new(r#"<link rel="stylesheet" href="([^"]+)""#)
        .unwrap()
        .captures_iter(&html)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(scripts, ["/docs/assets/docs.js"]);
    assert_eq!(styles, ["/docs/assets/docs.css"]);
    for (url, kind) in [(&scripts[0], "text/javascript"), (&styles[0], "text/css")] {
        let resp = app
            .client
            .get(format!("{}{url}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind),
            "{url}"
        );
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert!(!resp.text().await.unwrap().is_empty());
    }
    let js = app
        .client
        .get(format!("{}/docs/assets/docs.js", app.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        js.contains("/openapi.json"),
        "the page renders the live document"
    );
    assert!(
        !js.contains("innerHTML"),
        "the page builds its DOM without parsing HTML"
    );
    let (status, body) = app.get("/docs/assets/nope.js", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "asset_not_found");
}

/// Checks a live body against its documented schema: every required field
/// is there and no field is undocumented, all the way down.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) {
    let schema = non_null(doc, schema);
    if value.is_null() {
        return;
    }
    let types = types_of(doc, schema);
    let kind = match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::Null => unreachable!(),
    };
    assert!(
        types.is_empty() || types.contains(kind),
        "{at}: a {kind}, documented as {types:?}"
    );
    match value {
        Value::Object(obj) => {
            let Some(props) = schema.get("properties").and_then(Value::as_object) else {
                return;
            };
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                assert!(obj.contains_key(r), "{at}: required field {r} is missing");
            }
            for (k, v) in obj {
                let prop = props
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}: field {k} is not documented"));
                conforms(doc, prop, v, &format!("{at}.{k}"));
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    conforms(doc, item_schema, v, &format!("{at}[{i}]"));
                }
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn live_responses_match_the_documented_schemas() {
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let doc = live_document(&app).await;
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    let expiry = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    app.grant(&admin, &user, 500, Some(expiry)).await;

    let (status, health) = app.get("/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let schema = json_schema(&doc, &operation(&doc, "get", "/health")["responses"]["200"]);
    conforms(&doc, schema, &health, "/health");

    let (status, balance) = app.get("/credits/balance", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK, "{balance}");
    assert!(balance["data"]["expiration"].is_string(), "{balance}");
    let schema = json_schema(
        &doc,
        &operation(&doc, "get", "/credits/balance")["responses"]["200"],
    );
    conforms(&doc, schema, &balance, "/credits/balance");

    let (status, history) = app.get("/credits/history", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert!(!history["data"]["grants"].as_array().unwrap().is_empty());
    assert!(!history["data"]["transactions"]
        .as_array()
        .unwrap()
        .is_empty());
    let schema = json_schema(
        &doc,
        &operation(&doc, "get", "/credits/history")["responses"]["200"],
    );
    conforms(&doc, schema, &history, "/credits/history");

    // Errors take their documented shapes too.
    let (status, unauthorized) = app.get("/credits/balance", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let schema = json_schema(
        &doc,
        &operation(&doc, "get", "/credits/balance")["responses"]["401"],
    );
    conforms(&doc, schema, &unauthorized, "401");
    let (status, invalid) = app.get("/credits/history?limit=x", Some(&user.token)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let schema = json_schema(
        &doc,
        &operation(&doc, "get", "/credits/history")["responses"]["422"],
    );
    conforms(&doc, schema, &invalid, "422");
}
