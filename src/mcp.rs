//! The MCP server at `/mcp`: the Model Context Protocol over Streamable
//! HTTP, served by the `rmcp` SDK.
//!
//! Every request is authenticated with the same bearer token as the REST
//! API (`services::bearer`) before the SDK sees it, and the caller rides to the handler in the
//! request's extensions. A session belongs to the user and budget that
//! opened it: a request on it with anyone else's token is refused, so a
//! leaked session id is useless without the owner's credentials.

mod failures;
mod refusals;
mod routes;
mod session;

use crate::id::{BudgetId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tower::Service;

use crate::app::AppState;
use crate::auth::Caller;
use crate::services::{bearer, quotas};
use refusals::refusal;
use session::McpSession;

/// The header that carries a session's id, on requests and on the
/// `initialize` response.
const SESSION_ID: &str = "mcp-session-id";

pub use routes::routes;

/// The SDK's own refusals (400, 405, 406, 413, 415) come as plain text; they are
/// answered in the API's error shape with a stable code instead, keeping the
/// SDK's explanation as the message. JSON-RPC error bodies pass unchanged.
async fn coded_refusal(response: Response) -> Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"));
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_mcp_request",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => return response,
    };
    if !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    let mut coded = refusal(status, code, message, None);
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        coded.headers_mut().insert(header::ALLOW, allow.clone());
    }
    coded
}

/// Who a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    user_id: UserId,
    budget_id: BudgetId,
}

impl Owner {
    fn of(caller: &Caller) -> Owner {
        Owner {
            user_id: caller.user_id,
            budget_id: caller.budget_id,
        }
    }
}

/// Authenticates requests and keeps sessions with their owners, in front of
/// the SDK's service.
pub struct Gate {
    state: AppState,
    sessions: Arc<LocalSessionManager>,
    service: StreamableHttpService<McpSession, LocalSessionManager>,
    owners: Mutex<HashMap<String, Owner>>,
}

impl Gate {
    /// The gate of one server, for [`routes`].
    pub fn new(state: AppState) -> Arc<Gate> {
        let sessions = Arc::new(LocalSessionManager::default());
        // Host checks guard unauthenticated local servers against DNS
        // rebinding; here every request needs a bearer token a rebinding
        // page cannot have, and Tollgate is served under any host name.
        let config = StreamableHttpServerConfig::default()
            .disable_allowed_hosts()
            .with_cancellation_token(state.shutdown.child_token())
            .with_max_request_body_bytes(state.settings.body_limit);
        let app = state.clone();
        let service = StreamableHttpService::new(
            move || Ok(McpSession::new(app.clone())),
            sessions.clone(),
            config,
        );
        Arc::new(Gate {
            state,
            sessions,
            service,
            owners: Mutex::new(HashMap::new()),
        })
    }

    async fn handle(&self, req: Request) -> Response {
        let (mut parts, body) = req.into_parts();
        if ![Method::GET, Method::POST, Method::DELETE].contains(&parts.method) {
            let mut response = refusal(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "/mcp takes GET, POST and DELETE.",
                None,
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            return response;
        }
        let caller = match bearer::caller(
            &self.state,
            parts
                .headers
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
        .await
        {
            Ok(caller) => caller,
            Err(e) => return refusals::unauthenticated(e),
        };
        let owner = Owner::of(&caller);
        let session = parts
            .headers
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(id) = &session {
            let known = self.owners.lock().expect("owners lock").get(id).cloned();
            match known {
                Some(o) if o == owner => {}
                Some(_) => {
                    return refusal(
                        StatusCode::FORBIDDEN,
                        "session_forbidden",
                        "This MCP session was opened with another account's credentials; initialize a session of your own.",
                        None,
                    )
                }
                None => {
                    return refusal(
                        StatusCode::NOT_FOUND,
                        "session_not_found",
                        "No MCP session with this id; it ended or never existed. Initialize a new session.",
                        None,
                    )
                }
            }
        }
        if session.is_none() && parts.method == Method::POST {
            // A request without a session opens one: bounded per user.
            let open = self.open_sessions_of(owner.user_id).await;
            if let Err(e) = quotas::check(&self.state, quotas::Quota::McpSessionsPerUser, open) {
                return refusals::over_quota(e);
            }
        }
        let ends_session = parts.method == Method::DELETE;
        parts.extensions.insert(caller);
        let req = Request::from_parts(parts, body);
        let response = match self.service.clone().call(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        match session {
            None => {
                if let Some(id) = response.headers().get(SESSION_ID) {
                    self.bind(id, owner).await;
                }
            }
            Some(id) if ends_session && response.status().is_success() => {
                self.owners.lock().expect("owners lock").remove(&id);
                // The SDK answers 202, which clients (the official Python
                // one among them) report as a failed termination: they
                // expect 200 or 204.
                return Response::builder()
                    .status(StatusCode::OK)
                    .body(axum::body::Body::empty())
                    .unwrap_or_else(|_| StatusCode::OK.into_response());
            }
            Some(_) => {}
        }
        let response = response.map(axum::body::Body::new);
        coded_refusal(response).await
    }

    /// Live sessions of a user (sessions the SDK dropped are forgotten first).
    async fn open_sessions_of(&self, user_id: UserId) -> i64 {
        let live = self.sessions.sessions.read().await;
        let mut owners = self.owners.lock().expect("owners lock");
        owners.retain(|k, _| live.contains_key(k.as_str()));
        owners.values().filter(|o| o.user_id == user_id).count() as i64
    }

    /// Records a new session's owner, and forgets the owners of sessions the
    /// SDK has since dropped (idle or closed).
    async fn bind(&self, id: &HeaderValue, owner: Owner) {
        let Ok(id) = id.to_str() else { return };
        let live = self.sessions.sessions.read().await;
        let mut owners = self.owners.lock().expect("owners lock");
        owners.retain(|k, _| live.contains_key(k.as_str()));
        owners.insert(id.to_owned(), owner);
    }
}
