//! A typed async client for Tollgate: the AgentPMT Programmatic Access
//! endpoints (credits, tools, purchases, workflow triggers and runs) plus
//! sign-in, budgets and API keys.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tollgate_client::Error> {
//! let client = tollgate_client::Client::new("http://127.0.0.1:8080").with_token("tg_...");
//! let balance = client.balance().await?;
//! let result = client
//!     .purchase("calculator", "evaluate", serde_json::json!({"expression": "6*7"}), Default::default())
//!     .await?;
//! println!("{} credits left; 6*7 = {}", balance.balance, result.data["result"]);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server could not be reached or answered something unreadable.
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    /// The server refused the request with a stable code.
    #[error("{code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
        body: Value,
    },
}

impl Error {
    /// The stable error code (`insufficient_credits`, `validation_error`, ...).
    pub fn code(&self) -> &str {
        match self {
            Error::Transport(_) => "transport_error",
            Error::Api { code, .. } => code,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Transport(e) => e.status().map(|s| s.as_u16()),
            Error::Api { status, .. } => Some(*status),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

// The bodies are the server's own wire types, from `tollgate-api`; the
// names below are this client's short names for them.
pub use tollgate_api as api;

/// `GET /credits/balance`'s `data`.
pub type Balance = api::CustomerCreditBalanceData;
/// A credit grant in `GET /credits/history`.
pub type Grant = api::CustomerCreditGrant;
/// A ledger transaction in `GET /credits/history`.
pub type Transaction = api::CustomerCreditTransaction;
/// `GET /credits/history`'s `data`.
pub type History = api::CustomerCreditHistoryData;
/// One action of a tool, with its parameters' JSON Schema and price.
pub type Action = api::ToolAction;
/// A tool of the budget, as `GET /products/fetch` lists it.
pub type Tool = api::ProductsFetchTool;
/// The page position of a `GET /products/fetch` answer.
pub type Pagination = api::ProductsFetchPagination;
/// One page of `GET /products/fetch`.
pub type ToolsPage = api::ProductsFetchResponse;
/// The answer to `POST /products/purchase`.
pub type Purchase = api::PurchaseResponse;
/// The body of `POST /api/agent-webhooks/{workflowId}/trigger`.
pub type TriggerRequest = api::TriggerRequest;
/// A run as a trigger answers it.
pub type RunSummary = api::RunSummary;
/// Every field of a run, as `GET /api/agent-webhooks/runs/{runId}` shows it.
pub type Run = api::Run;
/// The answer to `POST /auth/login`.
pub type Login = api::LoginResponse;
/// The account `POST /auth/signup` created.
pub type Account = api::SignupData;
/// A budget API key just created, with its secret (shown this once).
pub type ApiKey = api::CreatedApiKey;
/// A budget, as `GET /budgets` lists it.
pub type Budget = api::Budget;

/// Options of a purchase.
#[derive(Debug, Clone, Default)]
pub struct PurchaseOptions {
    /// Replays instead of charging twice when the same key is sent again.
    pub idempotency_key: Option<String>,
    /// The connection instance to act in (`x-instance-id`).
    pub instance_id: Option<String>,
}

/// A triggered run, and whether the trigger was an idempotent replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Triggered {
    pub run: RunSummary,
    pub status_url: String,
    /// True for an idempotent replay (HTTP 202) of an earlier trigger; the
    /// status code, not the body, says so.
    pub replayed: bool,
}

/// A Tollgate API client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("tollgate-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        Client {
            base: base_url.into().trim_end_matches('/').to_string(),
            token: None,
            http,
        }
    }

    /// Sends `token` (an access token or an API key) as the bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(u16, Value)> {
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if (200..300).contains(&status) {
            return Ok((status, body));
        }
        Err(api_error(status, body))
    }

    fn parse<T: DeserializeOwned>(value: Value) -> Result<T> {
        serde_json::from_value(value).map_err(|e| Error::Api {
            status: 200,
            code: "unexpected_response".into(),
            message: format!("the server's answer did not have the expected shape: {e}"),
            body: Value::Null,
        })
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<String> {
        let (_, body) = self
            .send(self.request(reqwest::Method::GET, "/health"))
            .await?;
        Ok(body["status"].as_str().unwrap_or_default().to_string())
    }

    /// `POST /auth/signup`.
    pub async fn signup(&self, email: &str, password: &str) -> Result<Account> {
        let req = self
            .request(reqwest::Method::POST, "/auth/signup")
            .json(&json!({"email": email, "password": password}));
        let (_, body) = self.send(req).await?;
        Self::parse(body["data"].clone())
    }

    /// `POST /auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Result<Login> {
        let req = self
            .request(reqwest::Method::POST, "/auth/login")
            .json(&json!({"email": email, "password": password}));
        let (_, body) = self.send(req).await?;
        Self::parse(body)
    }

    /// `POST /auth/logout`: ends the session of this client's access token;
    /// the token stops working at once. API keys are refused
    /// (`user_token_required`): revoke a key instead.
    pub async fn logout(&self) -> Result<()> {
        self.send(self.request(reqwest::Method::POST, "/auth/logout"))
            .await?;
        Ok(())
    }

    /// `GET /credits/balance`.
    pub async fn balance(&self) -> Result<Balance> {
        let (_, body) = self
            .send(self.request(reqwest::Method::GET, "/credits/balance"))
            .await?;
        Self::parse(body["data"].clone())
    }

    /// `GET /credits/history?limit=N`.
    pub async fn history(&self, limit: Option<u32>) -> Result<History> {
        let path = match limit {
            Some(l) => format!("/credits/history?limit={l}"),
            None => "/credits/history".into(),
        };
        let (_, body) = self.send(self.request(reqwest::Method::GET, &path)).await?;
        Self::parse(body["data"].clone())
    }

    /// `GET /products/fetch`: one page of the budget's tools.
    pub async fn tools(&self, page: u32, page_size: u32) -> Result<ToolsPage> {
        let path = format!("/products/fetch?page={page}&page_size={page_size}");
        let (_, body) = self.send(self.request(reqwest::Method::GET, &path)).await?;
        Self::parse(body)
    }

    /// Every tool of the budget, across pages.
    pub async fn all_tools(&self) -> Result<Vec<Tool>> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let p = self.tools(page, 100).await?;
            out.extend(p.tools);
            if !p.pagination.has_next {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// `POST /products/purchase`: buys and invokes `action` of `product`
    /// (an id, slug or name) with `params`.
    pub async fn purchase(
        &self,
        product: &str,
        action: &str,
        params: Value,
        options: PurchaseOptions,
    ) -> Result<Purchase> {
        let mut parameters = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        parameters.insert("action".into(), Value::String(action.to_string()));
        let mut req = self
            .request(reqwest::Method::POST, "/products/purchase")
            .json(&json!({"product_id": product, "parameters": parameters}));
        if let Some(k) = &options.idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(i) = &options.instance_id {
            req = req.header("x-instance-id", i);
        }
        let (_, body) = self.send(req).await?;
        Self::parse(body)
    }

    /// `POST /api/agent-webhooks/{workflowId}/trigger`.
    pub async fn trigger(&self, workflow_id: &str, request: &TriggerRequest) -> Result<Triggered> {
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/api/agent-webhooks/{workflow_id}/trigger"),
            )
            .json(request);
        let (status, body) = self.send(req).await?;
        let t: api::TriggerResponse = Self::parse(body)?;
        Ok(Triggered {
            run: t.data.run,
            status_url: t.data.status_url,
            replayed: status == 202,
        })
    }

    /// `GET /api/agent-webhooks/runs/{runId}`.
    pub async fn run(&self, run_id: &str) -> Result<Run> {
        let (_, body) = self
            .send(self.request(
                reqwest::Method::GET,
                &format!("/api/agent-webhooks/runs/{run_id}"),
            ))
            .await?;
        Self::parse(body["data"]["run"].clone())
    }

    /// `POST /api/agent-webhooks/runs/{runId}/cancel`.
    pub async fn cancel_run(&self, run_id: &str) -> Result<Run> {
        let (_, body) = self
            .send(self.request(
                reqwest::Method::POST,
                &format!("/api/agent-webhooks/runs/{run_id}/cancel"),
            ))
            .await?;
        Self::parse(body["data"]["run"].clone())
    }

    /// Polls a run every `every` until it ends, calling `progress` with each read.
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        every: Duration,
        mut progress: impl FnMut(&Run),
    ) -> Result<Run> {
        loop {
            let run = self.run(run_id).await?;
            progress(&run);
            if run.is_finished() {
                return Ok(run);
            }
            tokio::time::sleep(every).await;
        }
    }

    /// `GET /budgets`.
    pub async fn budgets(&self) -> Result<Vec<Budget>> {
        let (_, body) = self
            .send(self.request(reqwest::Method::GET, "/budgets"))
            .await?;
        Self::parse(body["data"]["budgets"].clone())
    }

    /// `POST /budgets/{budget_id}/api-keys`: the key's secret is in this answer only.
    pub async fn create_api_key(&self, budget_id: &str, name: &str) -> Result<ApiKey> {
        let req = self
            .request(
                reqwest::Method::POST,
                &format!("/budgets/{budget_id}/api-keys"),
            )
            .json(&json!({"name": name}));
        let (_, body) = self.send(req).await?;
        Self::parse(body["data"].clone())
    }

    /// `POST /admin/grants` (administrators).
    pub async fn grant(
        &self,
        email: &str,
        credits: i64,
        expires_at: Option<&str>,
    ) -> Result<Value> {
        let mut body = json!({"email": email, "amount_credits": credits});
        if let Some(e) = expires_at {
            body["expires_at"] = json!(e);
        }
        let (_, body) = self
            .send(
                self.request(reqwest::Method::POST, "/admin/grants")
                    .json(&body),
            )
            .await?;
        Ok(body["data"].clone())
    }
}

/// Reads Tollgate's two error shapes: `{"error","message"}` and FastAPI's `{"detail":[...]}`.
fn api_error(status: u16, body: Value) -> Error {
    if let Some(code) = body["error"].as_str() {
        let message = body["message"].as_str().unwrap_or_default().to_string();
        return Error::Api {
            status,
            code: code.to_string(),
            message,
            body,
        };
    }
    if let Some(items) = body["detail"].as_array() {
        let message = items
            .iter()
            .map(|d| {
                let loc: Vec<String> = d["loc"]
                    .as_array()
                    .map(|l| {
                        l.iter()
                            .map(|p| {
                                p.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| p.to_string())
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                format!(
                    "{}: {}",
                    loc.join("."),
                    d["msg"].as_str().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Error::Api {
            status,
            code: "validation_error".into(),
            message,
            body,
        };
    }
    let message = match &body {
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => format!("HTTP {status}"),
    };
    Error::Api {
        status,
        code: format!("http_{status}"),
        message,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_error_shapes_become_a_code_and_a_message() {
        let e = api_error(
            402,
            json!({"success": false, "error": "insufficient_credits", "message": "Add credits."}),
        );
        assert_eq!(e.code(), "insufficient_credits");
        assert_eq!(e.to_string(), "insufficient_credits: Add credits.");
        let e = api_error(
            422,
            json!({"detail": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 500", "type": "less_than_equal"}]}),
        );
        assert_eq!(e.code(), "validation_error");
        assert_eq!(
            e.to_string(),
            "validation_error: query.limit: Input should be less than or equal to 500"
        );
        assert_eq!(api_error(502, json!("bad gateway")).code(), "http_502");
    }
}
