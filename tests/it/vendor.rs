//! Vendor (HTTP) tools: publishing, the signed call to a real vendor server,
//! credential injection, failures that cost nothing, and ownership.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate::clock::Timestamp;
use tollgate::store::OrderStatus;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode as AxumStatus, Uri};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Backend, TestApp, TestUser};

const PRICE: i64 = 7;
/// More than the harness's 64 KiB `tool_max_response_bytes`.
const OVERSIZED: usize = 100 * 1024;

/// One request the vendor server accepted, with its verified claims.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub query: Option<String>,
    pub body: Value,
    pub claims: Value,
}

struct VendorInner {
    key: DecodingKey,
    issuer: String,
    /// Product ids this vendor serves: the audiences it accepts.
    audiences: Mutex<Vec<String>>,
    received: Mutex<Vec<Received>>,
    rejected: Mutex<usize>,
}

impl VendorInner {
    fn verify(&self, token: &str) -> Result<Value, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&self.audiences.lock().unwrap());
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        jsonwebtoken::decode::<Value>(token, &self.key, &validation).map(|d| d.claims)
    }
}

/// A vendor's tool server, verifying Tollgate's token on every call the way
/// a vendor would: with the key from `GET /public/jwt-public-key`.
#[derive(Clone)]
pub struct VendorServer {
    base: String,
    inner: Arc<VendorInner>,
}

impl VendorServer {
    pub async fn start(app: &TestApp) -> VendorServer {
        let (status, body) = app.get("/public/jwt-public-key", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["algorithm"], "EdDSA");
        let pem = body["public_key"].as_str().expect("a PEM public key");
        let inner = Arc::new(VendorInner {
            key: DecodingKey::from_ed_pem(pem.as_bytes()).expect("an Ed25519 PEM"),
            issuer: app.url.clone(),
            audiences: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            rejected: Mutex::new(0),
        });
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        VendorServer {
            base: format!("http://{addr}"),
            inner,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Accepts tokens whose audience is this product.
    pub fn serve(&self, product_id: &str) {
        self.inner
            .audiences
            .lock()
            .unwrap()
            .push(product_id.to_string());
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    pub fn rejected(&self) -> usize {
        *self.inner.rejected.lock().unwrap()
    }
}

async fn handle(
    State(inner): State<Arc<VendorInner>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let claims = match token.map(|t| inner.verify(t)) {
        Some(Ok(claims)) if claims["aud"] == body["product_id"] => claims,
        _ => {
            *inner.rejected.lock().unwrap() += 1;
            return (
                AxumStatus::UNAUTHORIZED,
                axum::Json(json!({"error": "invalid token"})),
            )
                .into_response();
        }
    };
    inner.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers: headers.clone(),
        query: uri.query().map(str::to_string),
        body: body.clone(),
        claims,
    });
    match uri.path() {
        "/ok" => axum::Json(json!({
            "echo": body["parameters"],
            "action": body["action"],
            "served_by": "test-vendor",
        }))
        .into_response(),
        "/fail" => (
            AxumStatus::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "the vendor broke"})),
        )
            .into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            axum::Json(json!({"late": true})).into_response()
        }
        "/big" => axum::Json(json!({"blob": "x".repeat(OVERSIZED)})).into_response(),
        "/big-stream" => {
            // No Content-Length: the limit must hold while reading.
            let chunks = (0..OVERSIZED / 1024)
                .map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'y'; 1024])));
            Body::from_stream(futures::stream::iter(chunks)).into_response()
        }
        "/delayed" => {
            tokio::time::sleep(Duration::from_millis(300)).await;
            axum::Json(json!({"done": true})).into_response()
        }
        "/redirect" => (AxumStatus::FOUND, [(header::LOCATION, "/ok")]).into_response(),
        _ => AxumStatus::NOT_FOUND.into_response(),
    }
}

/// A product definition as a vendor sends it.
pub fn definition(slug: &str, endpoint: &str, credentials: Value) -> Value {
    json!({
        "slug": slug,
        "name": slug.replace('-', "_"),
        "display_name": format!("Tool {slug}"),
        "description": "Looks things up for agents.",
        "category": "data",
        "endpoint": endpoint,
        "timeout_ms": 500,
        "required_credentials": credentials,
        "actions": [{
            "name": "lookup",
            "description": "Looks up a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
                "required": ["city"],
                "additionalProperties": false,
            },
            "price_credits": PRICE,
        }],
    })
}

fn api_key_header() -> Value {
    json!([{"name": "api_key", "location": "header", "field": "X-Api-Key"}])
}

/// Publishes a product and answers its id.
pub async fn publish(app: &TestApp, vendor: &TestUser, def: Value) -> String {
    let (status, body) = app.post("/vendor/products", Some(&vendor.token), def).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["vendor_id"], vendor.user_id.as_str());
    assert_eq!(body["data"]["status"], "active");
    body["data"]["product_id"].as_str().unwrap().to_string()
}

async fn publish_served(
    app: &TestApp,
    vendor: &TestUser,
    server: &VendorServer,
    slug: &str,
    path: &str,
    credentials: Value,
) -> String {
    let id = publish(
        app,
        vendor,
        definition(slug, &server.url(path), credentials),
    )
    .await;
    server.serve(&id);
    id
}

async fn enable(app: &TestApp, user: &TestUser, product_id: &str) {
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/budgets/{}/products/{product_id}", user.budget_id),
            Some(&user.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn store_credential(
    app: &TestApp,
    user: &TestUser,
    product_id: &str,
    name: &str,
    value: &str,
) {
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/credentials/{product_id}/{name}"),
            Some(&user.token),
            Some(json!({"value": value})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn funded_customer(app: &TestApp, credits: i64) -> TestUser {
    let admin = app.new_admin().await;
    let user = app.new_user().await;
    app.grant(&admin, &user, credits, None).await;
    user
}

async fn buy(
    app: &TestApp,
    user: &TestUser,
    product_id: &str,
    params: Value,
) -> (StatusCode, Value) {
    let mut parameters = json!({"action": "lookup"});
    for (k, v) in params.as_object().unwrap() {
        parameters[k] = v.clone();
    }
    app.post(
        "/products/purchase",
        Some(&user.token),
        json!({"product_id": product_id, "parameters": parameters}),
    )
    .await
}

async fn purchases(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let (_, h) = app
        .get("/credits/history?limit=500", Some(&user.token))
        .await;
    h["data"]["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["transaction_type"] == "purchase")
        .cloned()
        .collect()
}

async fn balance_of(app: &TestApp, user: &TestUser) -> i64 {
    app.balance(user).await["balance"].as_i64().unwrap()
}

async fn a_vendor_tool_is_called_with_a_verifiable_token_and_the_stored_credential(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let product = publish_served(&app, &vendor, &server, "weather", "/ok", api_key_header()).await;
    let user = funded_customer(&app, 100).await;
    enable(&app, &user, &product).await;
    store_credential(&app, &user, &product, "api_key", "sk-live-123").await;

    let (status, body) = buy(&app, &user, &product, json!({"city": "Oslo", "days": 3})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({"echo": {"city": "Oslo", "days": 3}, "action": "lookup", "served_by": "test-vendor"})
    );
    assert_eq!(body["product_id"], product.as_str());
    assert_eq!(body["action"], "lookup");
    assert_eq!(body["price_credits"], PRICE);
    let order_id = body["order_id"].as_str().unwrap();
    let instance_id = body["instance_id"].as_str().unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1, "one call, no retries");
    let call = &received[0];
    assert_eq!(call.path, "/ok");
    assert_eq!(call.claims["iss"], app.url.as_str());
    assert_eq!(call.claims["aud"], product.as_str());
    assert_eq!(call.claims["sub"], user.user_id.as_str());
    assert_eq!(call.claims["jti"], order_id);
    let iat = call.claims["iat"].as_i64().unwrap();
    let exp = call.claims["exp"].as_i64().unwrap();
    assert!(exp > chrono::Utc::now().timestamp(), "not expired");
    assert!(exp - iat <= 120, "a short-lived token: {}", exp - iat);
    assert_eq!(call.headers["x-api-key"], "sk-live-123");
    assert_eq!(call.query, None);
    assert_eq!(
        call.body,
        json!({
            "order_id": order_id,
            "product_id": product,
            "action": "lookup",
            "parameters": {"city": "Oslo", "days": 3},
            "instance_id": instance_id,
        })
    );
    assert_eq!(server.rejected(), 0);

    assert_eq!(balance_of(&app, &user).await, 100 - PRICE);
    let p = purchases(&app, &user).await;
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0]["amount_credits"], -PRICE);
    assert_eq!(p[0]["balance_after_credits"], 100 - PRICE);
    let order = app
        .state
        .store
        .order_by_id(order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, OrderStatus::Succeeded);
    assert_eq!(order.product_id, product);
}

async fn the_vendor_rejects_tokens_it_cannot_verify(app: TestApp) {
    use ed25519_dalek::pkcs8::EncodePrivateKey;

    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let product = publish_served(&app, &vendor, &server, "weather", "/ok", json!([])).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |aud: &str, iss: &str| json!({"iss": iss, "aud": aud, "sub": "0123456789abcdef01234567", "jti": "0123456789abcdef01234567", "iat": now, "exp": now + 60, "action": "lookup"});
    let call = |token: String| {
        let server = server.clone();
        let product = product.clone();
        async move {
            reqwest::Client::new()
                .post(server.url("/ok"))
                .bearer_auth(token)
                .json(&json!({"order_id": "0123456789abcdef01234567", "product_id": product, "action": "lookup", "parameters": {"city": "Oslo"}, "instance_id": "0123456789abcdef01234567"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    // Signed by another Ed25519 key: refused.
    let der = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
        .to_pkcs8_der()
        .unwrap();
    let forged_key = EncodingKey::from_ed_der(der.as_bytes());
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims(&product, &app.url),
        &forged_key,
    )
    .unwrap();
    assert_eq!(call(forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(call("not-a-jwt".into()).await, StatusCode::UNAUTHORIZED);

    // Signed by Tollgate but for another product or from another issuer: refused.
    let other_aud = app
        .state
        .tokens
        .sign(&claims("ffffffffffffffffffffffff", &app.url))
        .unwrap();
    assert_eq!(call(other_aud).await, StatusCode::UNAUTHORIZED);
    let other_iss = app
        .state
        .tokens
        .sign(&claims(&product, "https://elsewhere.example"))
        .unwrap();
    assert_eq!(call(other_iss).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.rejected(), 4);
    assert!(server.received().is_empty());

    // The same claims signed by Tollgate's key verify.
    let genuine = app.state.tokens.sign(&claims(&product, &app.url)).unwrap();
    assert_eq!(call(genuine).await, StatusCode::OK);
    assert_eq!(server.received().len(), 1);
}

async fn failed_vendor_calls_cost_nothing_and_only_success_is_charged(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let ok = publish_served(&app, &vendor, &server, "ok-tool", "/ok", json!([])).await;
    let fail = publish_served(&app, &vendor, &server, "fail-tool", "/fail", json!([])).await;
    let slow = publish_served(&app, &vendor, &server, "slow-tool", "/slow", json!([])).await;
    let big = publish_served(&app, &vendor, &server, "big-tool", "/big", json!([])).await;
    let stream = publish_served(
        &app,
        &vendor,
        &server,
        "stream-tool",
        "/big-stream",
        json!([]),
    )
    .await;
    let user = funded_customer(&app, 100).await;
    for p in [&ok, &fail, &slow, &big, &stream] {
        enable(&app, &user, p).await;
    }

    let city = json!({"city": "Oslo"});
    let (status, body) = buy(&app, &user, &fail, city.clone()).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "vendor_error");
    let failed_order = body["data"]["order_id"].as_str().unwrap().to_string();

    let started = Instant::now();
    let (status, body) = buy(&app, &user, &slow, city.clone()).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert_eq!(body["error"], "tool_timeout");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the product's 500 ms time-out holds: {:?}",
        started.elapsed()
    );
    let timed_out_order = body["data"]["order_id"].as_str().unwrap().to_string();

    for p in [&big, &stream] {
        let (status, body) = buy(&app, &user, p, city.clone()).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["error"], "vendor_error");
        assert!(!body.to_string().contains("xxxx") && !body.to_string().contains("yyyy"));
    }

    assert_eq!(balance_of(&app, &user).await, 100, "failures cost nothing");
    assert!(purchases(&app, &user).await.is_empty());
    for (order_id, code) in [
        (&failed_order, "tool_failed"),
        (&timed_out_order, "tool_timeout"),
    ] {
        let order = app
            .state
            .store
            .order_by_id(order_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(order.status, OrderStatus::Failed);
        assert_eq!(order.error_code.as_deref(), Some(code));
        assert_eq!(order.transaction_id, None);
    }

    let (status, body) = buy(&app, &user, &ok, city).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance_of(&app, &user).await, 100 - PRICE);
    let p = purchases(&app, &user).await;
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["amount_credits"], -PRICE);
    let paths: Vec<String> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/fail", "/slow", "/big", "/big-stream", "/ok"],
        "each call made once"
    );
}

async fn a_missing_credential_asks_the_owner_once_and_stored_values_stay_sealed(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let product = publish_served(&app, &vendor, &server, "weather", "/ok", api_key_header()).await;
    let user = funded_customer(&app, 100).await;
    enable(&app, &user, &product).await;

    let (status, first) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{first}");
    assert_eq!(first["error"], "missing_credentials");
    assert_eq!(
        first["data"]["missing_credentials"],
        json!([{"product_id": product, "name": "api_key", "location": "header", "field": "X-Api-Key"}])
    );
    let ids = first["data"]["credential_request_ids"].clone();
    assert_eq!(ids.as_array().unwrap().len(), 1, "{ids}");
    let (status, second) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        second["data"]["credential_request_ids"], ids,
        "same request"
    );
    let (_, approvals) = app.get("/approvals", Some(&user.token)).await;
    let open: Vec<&Value> = approvals["data"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "credential" && a["status"] == "open")
        .collect();
    assert_eq!(open.len(), 1, "{approvals}");
    assert_eq!(open[0]["id"], ids[0]);
    assert!(server.received().is_empty(), "the vendor was not called");
    assert_eq!(balance_of(&app, &user).await, 100);

    // A credential for a name the product does not declare is refused.
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/credentials/{product}/other"),
            Some(&user.token),
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "credential_not_declared");

    let secret = "sk-very-secret-value-42";
    store_credential(&app, &user, &product, "api_key", secret).await;
    let (status, listed) = app.get("/credentials", Some(&user.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.to_string().contains(secret), "{listed}");
    let creds = listed["data"]["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["product_id"], product.as_str());
    assert_eq!(creds[0]["name"], "api_key");
    assert!(creds[0].get("value").is_none());
    let rows = app
        .state
        .store
        .credentials_of_user(user.id())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].value_sealed.contains(secret));
    assert_eq!(
        app.state.master.open(&rows[0].value_sealed).unwrap(),
        secret.as_bytes()
    );

    let (status, body) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.received()[0].headers["x-api-key"], secret);

    // Another customer's stored credential is theirs alone.
    let other = funded_customer(&app, 100).await;
    enable(&app, &other, &product).await;
    let (status, body) = buy(&app, &other, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(server.received().len(), 1);
}

async fn query_and_body_credentials_are_injected_where_declared(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let in_query = publish_served(
        &app,
        &vendor,
        &server,
        "query-tool",
        "/ok?region=eu",
        json!([{"name": "key", "location": "query", "field": "key"}]),
    )
    .await;
    let in_body = publish_served(
        &app,
        &vendor,
        &server,
        "body-tool",
        "/ok",
        json!([{"name": "token", "location": "body", "field": "vendor_token"}]),
    )
    .await;
    let user = funded_customer(&app, 100).await;
    for p in [&in_query, &in_body] {
        enable(&app, &user, p).await;
    }
    store_credential(&app, &user, &in_query, "key", "q secret&=1").await;
    store_credential(&app, &user, &in_body, "token", "b-secret").await;

    let (status, body) = buy(&app, &user, &in_query, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = buy(&app, &user, &in_body, json!({"city": "Rome"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let received = server.received();
    assert_eq!(received.len(), 2);
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(received[0].query.as_deref().unwrap()).unwrap();
    assert_eq!(
        query,
        [
            ("region".to_string(), "eu".to_string()),
            ("key".to_string(), "q secret&=1".to_string())
        ]
    );
    assert!(received[0].body.get("vendor_token").is_none());
    assert!(received[0].headers.get("x-api-key").is_none());
    assert_eq!(received[1].query, None);
    assert_eq!(received[1].body["vendor_token"], "b-secret");
    assert_eq!(received[1].body["parameters"], json!({"city": "Rome"}));
    assert_eq!(received[1].body["product_id"], in_body.as_str());
    assert_eq!(balance_of(&app, &user).await, 100 - 2 * PRICE);
}

async fn vendors_touch_only_their_own_products(app: TestApp) {
    let owner = app.new_vendor().await;
    let rival = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let product = publish_served(&app, &owner, &server, "weather", "/ok", json!([])).await;
    let user = funded_customer(&app, 100).await;
    enable(&app, &user, &product).await;

    let patch = |who: &TestUser, body: Value| {
        let path = format!("/vendor/products/{product}");
        let token = who.token.clone();
        let app = &app;
        async move {
            app.request(Method::PATCH, &path, Some(&token), Some(body))
                .await
        }
    };
    let (status, body) = patch(&rival, json!({"status": "disabled"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "product_not_found");
    let (status, body) = patch(&rival, json!({"endpoint": "http://127.0.0.1:1/steal"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, listed) = app.get("/vendor/products", Some(&rival.token)).await;
    assert_eq!(listed["data"]["products"], json!([]));
    let (_, listed) = app.get("/vendor/products", Some(&owner.token)).await;
    assert_eq!(
        listed["data"]["products"][0]["product_id"],
        product.as_str()
    );
    assert_eq!(
        listed["data"]["products"][0]["endpoint"],
        server.url("/ok").as_str()
    );

    let (status, body) = app
        .post(
            "/vendor/products",
            Some(&user.token),
            definition("mine", &server.url("/ok"), json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "vendor_required");
    let (status, body) = patch(&user, json!({"status": "disabled"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "vendor_required");

    let fetched_ids = |body: &Value| -> Vec<String> {
        body["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["product_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, fetched) = app
        .get("/products/fetch?page_size=100", Some(&user.token))
        .await;
    assert!(fetched_ids(&fetched).contains(&product));

    let (status, body) = patch(&owner, json!({"status": "disabled"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["status"], "disabled");
    let (status, body) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "product_disabled");
    let (_, fetched) = app
        .get("/products/fetch?page_size=100", Some(&user.token))
        .await;
    assert!(!fetched_ids(&fetched).contains(&product), "{fetched}");
    assert!(server.received().is_empty());
    assert_eq!(balance_of(&app, &user).await, 100);

    let (status, body) = patch(&owner, json!({"status": "active"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance_of(&app, &user).await, 100 - PRICE);
}

fn locs(body: &Value) -> Vec<Value> {
    body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("a FastAPI 422: {body}"))
        .iter()
        .map(|d| d["loc"].clone())
        .collect()
}

async fn bad_definitions_are_refused_with_the_field_named(app: TestApp) {
    let vendor = app.new_vendor().await;
    let endpoint = "http://127.0.0.1:9/tool";
    let good = definition("weather", endpoint, json!([]));

    let mut bad_slug = good.clone();
    bad_slug["slug"] = json!("Not A Slug!");
    let mut no_actions = good.clone();
    no_actions["actions"] = json!([]);
    let mut actions_missing = good.clone();
    actions_missing.as_object_mut().unwrap().remove("actions");
    let mut array_schema = good.clone();
    array_schema["actions"][0]["parameters"] = json!({"type": "array"});
    let mut not_a_schema = good.clone();
    not_a_schema["actions"][0]["parameters"] = json!("city");
    let mut bad_location = good.clone();
    bad_location["required_credentials"] =
        json!([{"name": "api_key", "location": "cookie", "field": "k"}]);
    let mut authorization_header = good.clone();
    authorization_header["required_credentials"] =
        json!([{"name": "api_key", "location": "header", "field": "Authorization"}]);
    let mut content_type_header = good.clone();
    content_type_header["required_credentials"] = json!([
        {"name": "api_key", "location": "query", "field": "key"},
        {"name": "kind", "location": "header", "field": "content-TYPE"},
    ]);
    let mut parameters_field = good.clone();
    parameters_field["required_credentials"] =
        json!([{"name": "api_key", "location": "body", "field": "parameters"}]);
    let mut no_endpoint = good.clone();
    no_endpoint.as_object_mut().unwrap().remove("endpoint");
    let cases: Vec<(Value, Vec<Value>)> = vec![
        (bad_slug, vec![json!(["body", "slug"])]),
        (no_actions, vec![json!(["body", "actions"])]),
        (actions_missing, vec![json!(["body", "actions"])]),
        (
            array_schema,
            vec![json!(["body", "actions", 0, "parameters"])],
        ),
        (
            not_a_schema,
            vec![json!(["body", "actions", 0, "parameters"])],
        ),
        (
            bad_location,
            vec![json!(["body", "required_credentials", 0, "location"])],
        ),
        (
            authorization_header,
            vec![json!(["body", "required_credentials", 0, "field"])],
        ),
        (
            content_type_header,
            vec![json!(["body", "required_credentials", 1, "field"])],
        ),
        (
            parameters_field,
            vec![json!(["body", "required_credentials", 0, "field"])],
        ),
        (no_endpoint, vec![json!(["body", "endpoint"])]),
    ];
    for (def, expected) in cases {
        let (status, body) = app
            .post("/vendor/products", Some(&vendor.token), def.clone())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{def} -> {body}");
        assert_eq!(locs(&body), expected, "{def} -> {body}");
        assert!(body["detail"][0]["msg"].as_str().unwrap().len() > 10);
    }
    let (_, listed) = app.get("/vendor/products", Some(&vendor.token)).await;
    assert_eq!(listed["data"]["products"], json!([]), "nothing was stored");

    let id = publish(&app, &vendor, good.clone()).await;
    let mut same_slug = definition("weather", endpoint, json!([]));
    same_slug["name"] = json!("another_name");
    let (status, body) = app
        .post("/vendor/products", Some(&vendor.token), same_slug)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "product_exists");
    let rival = app.new_vendor().await;
    let (status, body) = app.post("/vendor/products", Some(&rival.token), good).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "product_exists");

    // An update is checked the same way and leaves the product as it was.
    let (status, body) = app
        .request(
            Method::PATCH,
            &format!("/vendor/products/{id}"),
            Some(&vendor.token),
            Some(json!({"actions": [{"name": "lookup", "parameters": {"type": "string"}, "price_credits": 1}]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(locs(&body), [json!(["body", "actions", 0, "parameters"])]);
    let (_, listed) = app.get("/vendor/products", Some(&vendor.token)).await;
    assert_eq!(
        listed["data"]["products"][0]["actions"][0]["price_credits"],
        PRICE
    );
}

async fn a_credential_that_cannot_be_sent_in_a_header_is_refused(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let in_header = publish_served(
        &app,
        &vendor,
        &server,
        "header-tool",
        "/ok",
        api_key_header(),
    )
    .await;
    let in_body = publish_served(
        &app,
        &vendor,
        &server,
        "body-tool",
        "/ok",
        json!([{"name": "api_key", "location": "body", "field": "vendor_key"}]),
    )
    .await;
    let user = funded_customer(&app, 100).await;
    for p in [&in_header, &in_body] {
        enable(&app, &user, p).await;
    }

    // A pasted key with a line break cannot be a header value.
    let (status, body) = app
        .request(
            Method::PUT,
            &format!("/credentials/{in_header}/api_key"),
            Some(&user.token),
            Some(json!({"value": "sk-pasted-key\n"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "value"]));
    assert_eq!(body["detail"][0]["type"], "value_error");
    assert!(
        !body.to_string().contains("sk-pasted-key"),
        "the secret is not echoed: {body}"
    );
    assert!(app
        .state
        .store
        .credentials_of_user(user.id())
        .await
        .unwrap()
        .is_empty());

    // In a body field, the same value is fine and arrives intact.
    store_credential(&app, &user, &in_body, "api_key", "sk-pasted-key\n").await;
    let (status, body) = buy(&app, &user, &in_body, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(server.received()[0].body["vendor_key"], "sk-pasted-key\n");

    // A stored value that cannot be sent fails the call before the vendor
    // is reached, and costs nothing.
    app.state
        .store
        .put_credential(&tollgate::store::CredentialRow {
            user_id: user.id(),
            product_id: in_header.parse().unwrap(),
            name: "api_key".into(),
            value_sealed: app.state.master.seal(b"sk-old\r\nX-Injected: 1"),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        })
        .await
        .unwrap();
    let before = balance_of(&app, &user).await;
    let (status, body) = buy(&app, &user, &in_header, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "vendor_error");
    assert!(!body.to_string().contains("sk-old"), "{body}");
    assert_eq!(server.received().len(), 1, "the vendor was not called");
    assert_eq!(balance_of(&app, &user).await, before);
}

async fn redirects_from_a_vendor_are_not_followed(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let product = publish_served(&app, &vendor, &server, "hopper", "/redirect", json!([])).await;
    let user = funded_customer(&app, 100).await;
    enable(&app, &user, &product).await;
    let (status, body) = buy(&app, &user, &product, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["error"], "vendor_error");
    assert!(body.get("data").and_then(|d| d.get("echo")).is_none());
    let paths: Vec<String> = server.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/redirect"], "the redirect target was never called");
    assert_eq!(balance_of(&app, &user).await, 100);
    assert!(purchases(&app, &user).await.is_empty());
}

/// The vendor did the work, so it is paid even though the client that asked
/// went away before the answer came.
async fn a_client_that_disconnects_mid_call_is_charged_for_the_finished_vendor_call(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let tool = publish_served(
        &app,
        &vendor,
        &server,
        "delayed-tool",
        "/delayed",
        json!([]),
    )
    .await;
    let user = funded_customer(&app, 100).await;
    enable(&app, &user, &tool).await;

    let cut = app
        .client
        .post(format!("{}/products/purchase", app.url))
        .bearer_auth(&user.token)
        .timeout(Duration::from_millis(100))
        .json(&json!({"product_id": tool, "parameters": {"action": "lookup", "city": "Oslo"}}))
        .send()
        .await;
    assert!(
        cut.is_err(),
        "the client gave up before the vendor answered"
    );

    // The call goes on without the client and is captured when it ends.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let bought = purchases(&app, &user).await;
        if bought.len() == 1 {
            assert_eq!(bought[0]["amount_credits"], -PRICE);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the finished call was never charged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.received().len(), 1, "the vendor was called once");
    assert_eq!(balance_of(&app, &user).await, 100 - PRICE);
    let wallet = app.state.store.wallet(user.id()).await.unwrap().unwrap();
    assert_eq!(
        wallet.held_credits.get(),
        0,
        "no hold is left to the sweeper"
    );
}

/// A vendor raises its price from 7 to 5,000: the budget that enabled the
/// tool at 7 is asked before it is charged more, and a caller's
/// `max_price_credits` refuses anything dearer.
async fn a_raised_price_asks_the_owner_before_it_is_charged(app: TestApp) {
    let vendor = app.new_vendor().await;
    let server = VendorServer::start(&app).await;
    let tool = publish_served(&app, &vendor, &server, "priced-tool", "/ok", json!([])).await;
    let user = funded_customer(&app, 10_000).await;
    enable(&app, &user, &tool).await;
    let (status, body) = buy(&app, &user, &tool, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance_of(&app, &user).await, 10_000 - PRICE);

    let mut raised = definition("priced-tool", &server.url("/ok"), json!([]));
    raised["actions"][0]["price_credits"] = json!(5_000);
    let (status, body) = app
        .request(
            Method::PATCH,
            &format!("/vendor/products/{tool}"),
            Some(&vendor.token),
            Some(json!({"actions": raised["actions"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = buy(&app, &user, &tool, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "price_not_approved");
    assert_eq!(body["data"]["agreed_price_credits"], PRICE);
    assert_eq!(body["data"]["price_credits"], 5_000);
    let approval = body["data"]["approval_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        balance_of(&app, &user).await,
        10_000 - PRICE,
        "nothing charged"
    );
    assert_eq!(server.received().len(), 1, "the vendor was not called");
    // Asking again does not open a second request.
    let (_, again) = buy(&app, &user, &tool, json!({"city": "Oslo"})).await;
    assert_eq!(again["data"]["approval_request_id"], approval.as_str());

    let (status, body) = app
        .post(
            &format!("/approvals/{approval}/approve"),
            Some(&user.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The caller's own ceiling still holds.
    let (status, body) = app
        .post(
            "/products/purchase",
            Some(&user.token),
            json!({"product_id": tool, "max_price_credits": 100, "parameters": {"action": "lookup", "city": "Oslo"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "price_above_max");
    assert_eq!(balance_of(&app, &user).await, 10_000 - PRICE);
    let (status, body) = buy(&app, &user, &tool, json!({"city": "Oslo"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(balance_of(&app, &user).await, 10_000 - PRICE - 5_000);
}

crate::on_both_backends!(
    a_raised_price_asks_the_owner_before_it_is_charged,
    a_client_that_disconnects_mid_call_is_charged_for_the_finished_vendor_call,
    a_vendor_tool_is_called_with_a_verifiable_token_and_the_stored_credential,
    the_vendor_rejects_tokens_it_cannot_verify,
    failed_vendor_calls_cost_nothing_and_only_success_is_charged,
    a_missing_credential_asks_the_owner_once_and_stored_values_stay_sealed,
    query_and_body_credentials_are_injected_where_declared,
    vendors_touch_only_their_own_products,
    bad_definitions_are_refused_with_the_field_named,
    a_credential_that_cannot_be_sent_in_a_header_is_refused,
    redirects_from_a_vendor_are_not_followed,
);

#[tokio::test]
async fn without_an_allowlist_endpoints_on_private_addresses_are_refused() {
    let app = TestApp::spawn_with(Backend::Sqlite, |a| a.outbound_allowlist = String::new())
        .await
        .unwrap();
    let vendor = app.new_vendor().await;
    for endpoint in [
        "http://127.0.0.1:8080/tool",
        "http://10.0.0.7/tool",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/tool",
        "http://localhost:8080/tool",
        "ftp://example.com/tool",
    ] {
        let (status, body) = app
            .post(
                "/vendor/products",
                Some(&vendor.token),
                definition("weather", endpoint, json!([])),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{endpoint}: {body}"
        );
        assert_eq!(locs(&body), [json!(["body", "endpoint"])], "{endpoint}");
        assert_eq!(body["detail"][0]["input"], endpoint);
    }
    let (status, body) = app
        .post(
            "/vendor/products",
            Some(&vendor.token),
            definition("weather", "https://tools.example.com/weather", json!([])),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
