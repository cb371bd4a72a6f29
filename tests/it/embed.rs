//! The embed widget over HTTP: the loader and assets with their validators,
//! the pages' content types and policy, their 400 and 404 pages, escaping of
//! hostile names, and bundles that only their owners may see when private.

use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH,
    X_CONTENT_TYPE_OPTIONS,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_ESCAPED: &str = "&lt;img src=x onerror=alert(1)&gt;";

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn fetch(app: &TestApp, path: &str, token: Option<&str>) -> Page {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request sent");
    Page {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: resp.text().await.unwrap(),
    }
}

fn header(page: &Page, name: reqwest::header::HeaderName) -> &str {
    page.headers
        .get(&name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// Asserts an HTML answer under the pages' strict policy.
fn assert_html_under_policy(page: &Page) {
    assert!(
        header(page, CONTENT_TYPE).starts_with("text/html"),
        "{:?}",
        page.headers
    );
    assert_eq!(header(page, X_CONTENT_TYPE_OPTIONS), "nosniff");
    let csp = header(page, CONTENT_SECURITY_POLICY);
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "frame-ancestors *",
        "base-uri 'none'",
        "form-action 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
    assert!(page.body.starts_with("<!doctype html>"));
    assert!(!page.body.contains("<script>"), "no inline script");
    assert!(!page.body.contains("<style"), "no inline style");
    assert!(!page.body.contains(" style="), "no style attributes");
}

/// Creates a workflow (public unless said otherwise) owned by `owner`.
async fn workflow(app: &TestApp, owner: &TestUser, name: &str, visibility: &str) -> String {
    let (status, body) = app
        .post(
            "/workflows",
            Some(&owner.token),
            json!({"name": name, "description": "Adds things up.", "visibility": visibility, "engine": "graph",
                   "definition": {"steps": [{"id": "answer", "type": "prompt", "template": "{{prompt}}"}]}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["workflow_id"].as_str().unwrap().to_string()
}

async fn bundle(app: &TestApp, owner: &TestUser, body: Value) -> Value {
    let (status, resp) = app.post("/bundles", Some(&owner.token), body).await;
    assert_eq!(status, StatusCode::CREATED, "{resp}");
    resp["data"].clone()
}

async fn embed_js_is_javascript_with_validators_and_answers_304_to_its_etag(app: TestApp) {
    let page = fetch(&app, "/embed.js", None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(header(&page, CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(header(&page, X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(header(&page, CACHE_CONTROL).contains("max-age="));
    let etag = header(&page, ETAG).to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    for needle in [
        "TollgateEmbed",
        "document.currentScript",
        "data-workflow-id",
        "data-bundle-id",
        "data-product-id",
        "data-position",
        "data-color",
    ] {
        assert!(page.body.contains(needle), "the loader handles {needle}");
    }

    for tag in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let resp = app
            .client
            .get(format!("{}/embed.js", app.url))
            .header(IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert_eq!(resp.headers()[ETAG], etag.as_str());
        assert!(resp.headers().contains_key(CACHE_CONTROL));
        assert!(resp.text().await.unwrap().is_empty());
    }
    let resp = app
        .client
        .get(format!("{}/embed.js", app.url))
        .header(IF_NONE_MATCH, "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    for (path, kind) in [
        ("/embed/assets/page.js", "text/javascript"),
        ("/embed/assets/page.css", "text/css"),
    ] {
        let page = fetch(&app, path, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(header(&page, CONTENT_TYPE).starts_with(kind), "{path}");
        assert!(page.headers.contains_key(ETAG));
        assert_eq!(header(&page, X_CONTENT_TYPE_OPTIONS), "nosniff");
    }
    let page = fetch(&app, "/embed/assets/page.js", None).await;
    assert!(
        !page.body.contains("innerHTML"),
        "the pages never parse markup"
    );
    assert_eq!(
        fetch(&app, "/embed/assets/nope.js", None).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn embed_pages_are_html_under_a_strict_policy(app: TestApp) {
    let owner = app.new_user().await;
    let wf = workflow(&app, &owner, "Adder", "public").await;
    let page = fetch(&app, &format!("/embed/{wf}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_html_under_policy(&page);
    assert!(page.body.contains("<title>Adder</title>"));
    assert!(page.body.contains("src=\"/embed/assets/page.js?v="));
    assert!(page.body.contains("href=\"/embed/assets/page.css?v="));
    assert!(page.body.contains("data-kind=\"workflow\""));

    let (_, fetched) = app
        .get("/products/fetch?page_size=100", Some(&owner.token))
        .await;
    let calculator = fetched["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "calculator")
        .expect("the calculator is in the catalog")["product_id"]
        .as_str()
        .unwrap()
        .to_string();
    for ident in [calculator.as_str(), "calculator"] {
        let page = fetch(&app, &format!("/embed/product/{ident}"), None).await;
        assert_eq!(page.status, StatusCode::OK, "{ident}: {}", page.body);
        assert_html_under_policy(&page);
        assert!(page.body.contains("data-kind=\"product\""));
        assert!(
            page.body.contains("evaluate"),
            "the actions are handed over"
        );
        assert!(page.body.contains(&calculator));
    }

    let b = bundle(
        &app,
        &owner,
        json!({"name": "Maths", "visibility": "public", "product_ids": ["calculator"], "workflow_ids": [wf]}),
    )
    .await;
    let page = fetch(
        &app,
        &format!("/embed/bundle/{}", b["bundle_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_html_under_policy(&page);
    assert!(page.body.contains("data-kind=\"bundle\""));
    assert!(page.body.contains("Adder") && page.body.contains("evaluate"));
}

async fn unknown_ids_get_an_html_404_and_malformed_ids_an_html_400(app: TestApp) {
    let unknown = tollgate::id::new_id();
    for (path, status) in [
        (format!("/embed/{unknown}"), StatusCode::NOT_FOUND),
        (format!("/embed/bundle/{unknown}"), StatusCode::NOT_FOUND),
        (format!("/embed/product/{unknown}"), StatusCode::NOT_FOUND),
        ("/embed/product/no-such-tool".into(), StatusCode::NOT_FOUND),
        ("/embed/not-an-id".into(), StatusCode::BAD_REQUEST),
        ("/embed/bundle/12345".into(), StatusCode::BAD_REQUEST),
        (
            "/embed/product/%3Cscript%3E".into(),
            StatusCode::BAD_REQUEST,
        ),
        ("/embed/product/a%20b".into(), StatusCode::BAD_REQUEST),
    ] {
        let page = fetch(&app, &path, None).await;
        assert_eq!(page.status, status, "{path}: {}", page.body);
        assert_html_under_policy(&page);
        assert!(!page.body.contains("<script"), "error pages run nothing");
        let word = if status == StatusCode::NOT_FOUND {
            "Not found"
        } else {
            "Bad request"
        };
        assert!(page.body.contains(word), "{path}: {}", page.body);
    }
}

async fn hostile_names_are_escaped_in_the_pages(app: TestApp) {
    let owner = app.new_user().await;
    let wf = workflow(&app, &owner, HOSTILE, "public").await;
    let page = fetch(&app, &format!("/embed/{wf}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(HOSTILE), "{}", page.body);
    assert!(page
        .body
        .contains(&format!("<title>{HOSTILE_ESCAPED}</title>")));

    let vendor = app.new_vendor().await;
    let mut def = crate::vendor::definition("hostile-tool", "http://127.0.0.1:9/x", json!([]));
    def["display_name"] = json!(HOSTILE);
    def["description"] = json!("\"><script>alert(1)</script>");
    let product = crate::vendor::publish(&app, &vendor, def).await;
    let page = fetch(&app, &format!("/embed/product/{product}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(!page.body.contains(HOSTILE));
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(page.body.contains(HOSTILE_ESCAPED));

    let b = bundle(
        &app,
        &owner,
        json!({"name": HOSTILE, "description": "' onmouseover='alert(1)", "visibility": "public",
               "product_ids": [product], "workflow_ids": [wf]}),
    )
    .await;
    let page = fetch(
        &app,
        &format!("/embed/bundle/{}", b["bundle_id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(HOSTILE));
    assert!(!page.body.contains("' onmouseover='"));
    assert!(page.body.contains("&#39; onmouseover=&#39;alert(1)"));
}

async fn bundles_are_their_owners_and_private_ones_are_404_to_others(app: TestApp) {
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let own_private_wf = workflow(&app, &owner, "Mine", "private").await;
    let b = bundle(
        &app,
        &owner,
        json!({"name": "Kit", "description": "Tools I use", "product_ids": ["calculator", "calculator"],
               "workflow_ids": [own_private_wf]}),
    )
    .await;
    let id = b["bundle_id"].as_str().unwrap().to_string();
    assert_eq!(b["visibility"], "private", "bundles start private");
    assert_eq!(b["owner_id"], owner.user_id.as_str());
    assert_eq!(b["product_ids"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(b["workflow_ids"], json!([own_private_wf]));
    assert!(b["embed_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/embed/bundle/{id}")));

    let (status, got) = app.get(&format!("/bundles/{id}"), Some(&owner.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["data"]["name"], "Kit");
    let (status, got) = app.get(&format!("/bundles/{id}"), Some(&other.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{got}");
    assert_eq!(got["error"], "bundle_not_found");
    let (status, _) = app
        .request(
            Method::PATCH,
            &format!("/bundles/{id}"),
            Some(&other.token),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = app.get("/bundles", Some(&other.token)).await;
    assert!(listed["data"]["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["bundle_id"] != id.as_str()));
    let (_, listed) = app.get("/bundles", Some(&owner.token)).await;
    assert_eq!(listed["data"]["bundles"][0]["bundle_id"], id.as_str());
    let (status, _) = app.get("/bundles", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A private bundle's page is not found, except for its owner.
    assert_eq!(
        fetch(&app, &format!("/embed/bundle/{id}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, &format!("/embed/bundle/{id}"), Some(&other.token))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(&app, &format!("/embed/bundle/{id}"), Some(&owner.token))
            .await
            .status,
        StatusCode::OK
    );

    // Published, everyone sees it; only its owner changes it.
    let (status, patched) = app
        .request(
            Method::PATCH,
            &format!("/bundles/{id}"),
            Some(&owner.token),
            Some(json!({"visibility": "public", "name": "Kit 2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["data"]["name"], "Kit 2");
    assert_eq!(
        patched["data"]["workflow_ids"],
        json!([own_private_wf]),
        "members kept"
    );
    let (status, _) = app.get(&format!("/bundles/{id}"), Some(&other.token)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .request(
            Method::PATCH,
            &format!("/bundles/{id}"),
            Some(&other.token),
            Some(json!({"name": "taken"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let page = fetch(&app, &format!("/embed/bundle/{id}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains(&own_private_wf),
        "a private workflow stays hidden on a public bundle's page"
    );

    // Members must exist and be the owner's to offer.
    let (status, body) = app
        .post(
            "/bundles",
            Some(&other.token),
            json!({"name": "Borrowed", "product_ids": ["no-such-tool"], "workflow_ids": [own_private_wf]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "product_ids", 0]));
    assert_eq!(body["detail"][1]["loc"], json!(["body", "workflow_ids", 0]));
    let (status, body) = app
        .post(
            "/bundles",
            Some(&other.token),
            json!({"product_ids": "calculator", "visibility": "secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let kinds: Vec<&str> = body["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"missing") && kinds.contains(&"enum") && kinds.contains(&"list_type"),
        "{body}"
    );
    // Too many members, and a member that is not a string, each located.
    let many: Vec<String> = (0..101).map(|i| format!("tool-{i}")).collect();
    let (status, body) = app
        .post(
            "/bundles",
            Some(&other.token),
            json!({"name": "Big", "product_ids": many, "workflow_ids": ["ok", 7]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["type"], "too_long", "{body}");
    assert_eq!(body["detail"][0]["ctx"]["max_length"], 100, "{body}");
    assert_eq!(body["detail"][1]["loc"], json!(["body", "workflow_ids", 1]));
    assert_eq!(body["detail"][1]["type"], "string_type", "{body}");
}

async fn the_embed_page_of_another_users_private_workflow_is_404(app: TestApp) {
    let owner = app.new_user().await;
    let other = app.new_user().await;
    let wf = workflow(&app, &owner, "Private", "private").await;
    assert_eq!(
        fetch(&app, &format!("/embed/{wf}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    let page = fetch(&app, &format!("/embed/{wf}"), Some(&other.token)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_html_under_policy(&page);
    assert!(!page.body.contains("Private"), "nothing about it leaks");
    assert_eq!(
        fetch(&app, &format!("/embed/{wf}"), Some(&owner.token))
            .await
            .status,
        StatusCode::OK
    );

    // A disabled public workflow is gone from its page too.
    let public = workflow(&app, &owner, "Public", "public").await;
    let (status, _) = app
        .request(
            Method::PATCH,
            &format!("/workflows/{public}"),
            Some(&owner.token),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        fetch(&app, &format!("/embed/{public}"), None).await.status,
        StatusCode::NOT_FOUND
    );
}

crate::on_both_backends!(
    embed_js_is_javascript_with_validators_and_answers_304_to_its_etag,
    embed_pages_are_html_under_a_strict_policy,
    unknown_ids_get_an_html_404_and_malformed_ids_an_html_400,
    hostile_names_are_escaped_in_the_pages,
    bundles_are_their_owners_and_private_ones_are_404_to_others,
    the_embed_page_of_another_users_private_workflow_is_404,
);

#[tokio::test]
async fn frame_ancestors_follow_the_setting() {
    let app = TestApp::spawn_with(Backend::Sqlite, |args| {
        args.embed_frame_ancestors = "https://shop.example 'self'".into();
    })
    .await
    .unwrap();
    let page = fetch(&app, "/embed/product/calculator", None).await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = header(&page, CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("frame-ancestors https://shop.example 'self';"),
        "{csp}"
    );
}
