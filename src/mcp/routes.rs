//! The `/mcp` routes with their documentation. Each method is a handler
//! of its own in the API's route table (`http::routes`), and all three hand
//! the request to the session [`Gate`] the router is built with.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use axum::Extension;
use tollgate_api::ErrorResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Gate;
use crate::app::AppState;

/// The `/mcp` routes, served through `gate`. Without one they only
/// document the routes (the OpenAPI document is built that way).
pub fn routes(gate: Option<Arc<Gate>>) -> OpenApiRouter<AppState> {
    let (schemas, paths, methods) = routes!(mcp_post, mcp_get, mcp_delete);
    let methods = match gate {
        Some(gate) => methods.layer(Extension(gate)),
        None => methods,
    };
    OpenApiRouter::new().routes((schemas, paths, methods))
}

/// `POST /mcp`: JSON-RPC messages to the server.
#[utoipa::path(
    post,
    path = "/mcp",
    tag = "Interfaces",
    operation_id = "mcp_post",
    summary = "Model Context Protocol server: send messages",
    description = "The MCP server, JSON-RPC over Streamable HTTP. POST sends messages (`initialize`, `tools/list`, `tools/call`, ...). `initialize` answers with an `Mcp-Session-Id` header that later requests must send. `tools/list` gives the budget's tools plus tools to report an issue and to refresh the list; `tools/call` is a purchase with the same charging, caps and errors. A session belongs to the account that opened it.",
    params(("Mcp-Session-Id" = Option<String>, Header, description = "The session, on every request after `initialize`.")),
    request_body(content = Object, description = "A JSON-RPC message.", content_type = "application/json"),
    responses(
        (status = 200, description = "A JSON-RPC response, as JSON or as an event stream (`text/event-stream`)."),
        (status = 202, description = "A notification or response was accepted."),
        (status = 400, description = "A request without `Mcp-Session-Id` that is not `initialize`, an unsupported `MCP-Protocol-Version`, or a body that is not a JSON-RPC message (`invalid_mcp_request`; a JSON-RPC error body when the message itself was read).", body = ErrorResponse),
        (status = 401, description = "Missing or invalid bearer token.", body = ErrorResponse),
        (status = 406, description = "`Accept` must name both `application/json` and `text/event-stream` (`not_acceptable`).", body = ErrorResponse),
        (status = 413, description = "The body is larger than this server accepts (`payload_too_large`).", body = ErrorResponse),
        (status = 415, description = "The body is not a JSON-RPC message sent as `application/json` (`unsupported_media_type`).", body = ErrorResponse),
        (status = 403, description = "The session belongs to another account (`session_forbidden`).", body = ErrorResponse),
        (status = 404, description = "No such session (`session_not_found`), or it ended.", body = ErrorResponse),
        (status = 409, description = "The account already has as many MCP sessions open as it may (`quota_exceeded`; `data.kind` is `mcp_session`); end one with DELETE /mcp.", body = ErrorResponse),
    ),
    security(("bearer" = [])),
)]
pub async fn mcp_post(Extension(gate): Extension<Arc<Gate>>, req: Request) -> Response {
    gate.handle(req).await
}

/// `GET /mcp`: the session's event stream.
#[utoipa::path(
    get,
    path = "/mcp",
    tag = "Interfaces",
    operation_id = "mcp_get",
    summary = "Model Context Protocol server: open the session's event stream",
    description = "Opens the session's server-sent event stream, for messages the server sends on its own.",
    params(("Mcp-Session-Id" = String, Header, description = "The session.")),
    responses(
        (status = 200, description = "The event stream (`text/event-stream`)."),
        (status = 400, description = "No `Mcp-Session-Id`, or an unsupported `MCP-Protocol-Version` (`invalid_mcp_request`).", body = ErrorResponse),
        (status = 401, description = "Missing or invalid bearer token.", body = ErrorResponse),
        (status = 406, description = "`Accept` must name `text/event-stream` (`not_acceptable`).", body = ErrorResponse),
        (status = 403, description = "The session belongs to another account (`session_forbidden`).", body = ErrorResponse),
        (status = 404, description = "No such session (`session_not_found`).", body = ErrorResponse),
        (status = 406, description = "The `Accept` header must include `text/event-stream` (`not_acceptable`).", body = ErrorResponse),
    ),
    security(("bearer" = [])),
)]
pub async fn mcp_get(Extension(gate): Extension<Arc<Gate>>, req: Request) -> Response {
    gate.handle(req).await
}

/// `DELETE /mcp`: ends the session.
#[utoipa::path(
    delete,
    path = "/mcp",
    tag = "Interfaces",
    operation_id = "mcp_delete",
    summary = "Model Context Protocol server: end the session",
    params(("Mcp-Session-Id" = String, Header, description = "The session.")),
    responses(
        (status = 200, description = "The session ended; the body is empty."),
        (status = 400, description = "No `Mcp-Session-Id`, or an unsupported `MCP-Protocol-Version` (`invalid_mcp_request`).", body = ErrorResponse),
        (status = 401, description = "Missing or invalid bearer token.", body = ErrorResponse),
        (status = 403, description = "The session belongs to another account (`session_forbidden`).", body = ErrorResponse),
        (status = 404, description = "No such session (`session_not_found`).", body = ErrorResponse),
    ),
    security(("bearer" = [])),
)]
pub async fn mcp_delete(Extension(gate): Extension<Arc<Gate>>, req: Request) -> Response {
    gate.handle(req).await
}
