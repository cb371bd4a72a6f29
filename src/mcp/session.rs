//! One MCP session: the caller's budget's tools, each call a purchase, and
//! two tools of Tollgate's own for reporting issues and refreshing the list.
//!
//! Failures a caller can act on (credits, caps, parameters, tool errors)
//! are tool results with `isError`, carrying the same stable codes as the
//! REST API; protocol errors are kept for requests that cannot be served.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use axum::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities, ServerConfig,
    Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde_json::{json, Map, Value};

use super::failures::{failure, instance_failure, purchase_failure, report_failure, store_failure};
use crate::app::AppState;
use crate::auth::Caller;
use crate::catalog::Product;
use crate::id::InstanceId;
use crate::services::instances::{self, InstanceHeaders, InstanceUseError};
use crate::services::issues::{self, NewReport};
use crate::services::purchase::{self, NewPurchase};
use crate::store::StoreError;

const REPORT_TOOL: &str = "report_tool_issue";
const REFRESH_TOOL: &str = "refresh_tools";

/// The handler of one session; the SDK makes one per `initialize`.
pub struct McpSession {
    state: AppState,
    /// The session's connection instance, made on its first call.
    instance: tokio::sync::OnceCell<InstanceId>,
    /// The tools this session last listed, to tell whether a refresh changed them.
    listed: Mutex<Option<Vec<Tool>>>,
}

impl McpSession {
    pub fn new(state: AppState) -> McpSession {
        McpSession {
            state,
            instance: tokio::sync::OnceCell::new(),
            listed: Mutex::new(None),
        }
    }

    /// The budget's active tools, then Tollgate's own two.
    async fn tools(&self, caller: &Caller) -> Result<Vec<Tool>, StoreError> {
        let mut tools: Vec<Tool> = crate::services::toolbox::enabled(&self.state, caller.budget_id)
            .await?
            .iter()
            .filter(|p| p.row.name != REPORT_TOOL && p.row.name != REFRESH_TOOL)
            .map(|p| product_tool(p))
            .collect();
        tools.push(report_tool());
        tools.push(refresh_tool());
        Ok(tools)
    }

    /// Remembers what was listed; true when it differs from the last list.
    fn remember(&self, tools: &[Tool]) -> bool {
        let mut listed = self.listed.lock().expect("listed lock");
        let changed = listed.as_deref().is_some_and(|l| l != tools);
        *listed = Some(tools.to_vec());
        changed
    }

    async fn instance(
        &self,
        caller: &Caller,
        parts: &Parts,
    ) -> Result<InstanceId, InstanceUseError> {
        self.instance
            .get_or_try_init(|| {
                let headers =
                    InstanceHeaders::read(|name| parts.headers.get(name).map(|v| v.as_bytes()));
                async move { instances::resolve(&self.state, caller, &headers).await }
            })
            .await
            .cloned()
    }

    async fn buy(
        &self,
        caller: &Caller,
        parts: &Parts,
        product: &str,
        arguments: Option<JsonObject>,
    ) -> CallToolResult {
        let mut params = arguments.unwrap_or_default();
        let action = match params.remove("action") {
            None | Some(Value::Null) => None,
            Some(Value::String(a)) => Some(a),
            Some(other) => {
                return failure(
                    "invalid_parameters",
                    format!(
                        "'action' must be a string naming one of the tool's actions, not {other}."
                    ),
                    None,
                )
            }
        };
        let instance_id = match self.instance(caller, parts).await {
            Ok(id) => id,
            Err(e) => return instance_failure(e),
        };
        let new = NewPurchase {
            product: product.to_string(),
            action,
            params,
            max_price_credits: None,
        };
        match purchase::purchase(&self.state, caller, new, instance_id, None).await {
            Ok(purchased) => CallToolResult::structured(purchased.response_body()),
            Err(e) => purchase_failure(e),
        }
    }

    async fn report(&self, caller: &Caller, arguments: Option<JsonObject>) -> CallToolResult {
        let (product_id, error_message, recommended) =
            match report_args(&arguments.unwrap_or_default()) {
                Ok(parsed) => parsed,
                Err(message) => return failure("invalid_parameters", message, None),
            };
        let report = NewReport {
            product_ref: product_id,
            error_message,
            recommended_improvements: recommended,
            instance_id: self.instance.get().map(InstanceId::to_string),
        };
        match issues::record(&self.state, caller, report).await {
            Ok(recorded) => CallToolResult::structured(recorded.response_body()),
            Err(e) => report_failure(e),
        }
    }

    async fn refresh(&self, caller: &Caller, peer: &Peer<RoleServer>) -> CallToolResult {
        if let Err(e) = self.state.catalog.refresh_if_changed().await {
            tracing::warn!(error = %e, "refreshing the catalog for an MCP session failed");
        }
        let tools = match self.tools(caller).await {
            Ok(tools) => tools,
            Err(e) => return store_failure(e),
        };
        let changed = self.remember(&tools);
        if changed {
            if let Err(e) = peer.notify_tool_list_changed().await {
                tracing::debug!(error = %e, "an MCP client did not take tools/list_changed");
            }
        }
        let summary: Vec<Value> = tools
            .iter()
            .map(|t| json!({"name": t.name, "title": t.title, "description": t.description}))
            .collect();
        CallToolResult::structured(json!({"success": true, "changed": changed, "tools": summary}))
    }
}

impl ServerHandler for McpSession {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("tollgate", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Each tool is a paid Tollgate tool on your budget: pick an 'action' and pass its \
             parameters. A call is charged its price in credits only if it succeeds. Report a \
             broken tool with report_tool_issue; call refresh_tools after the budget's tools change.",
        )
    }

    /// Only the revisions with an `initialize` handshake, whose sessions
    /// carry the caller binding and the connection instance.
    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(
            &ProtocolVersion::LATEST_WITH_INITIALIZE,
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let (caller, _) = request_of(&context)?;
        let tools = self.tools(&caller).await.map_err(internal)?;
        self.remember(&tools);
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let (caller, parts) = request_of(&context)?;
        let result = match request.name.as_ref() {
            REPORT_TOOL => self.report(&caller, request.arguments).await,
            REFRESH_TOOL => self.refresh(&caller, &context.peer).await,
            product => self.buy(&caller, parts, product, request.arguments).await,
        };
        Ok(result.into())
    }
}

/// The caller the gate authenticated, and the HTTP request it came in.
fn request_of(context: &RequestContext<RoleServer>) -> Result<(Caller, &Parts), ErrorData> {
    let parts = context
        .extensions
        .get::<Parts>()
        .ok_or_else(|| ErrorData::internal_error("the request has no HTTP parts", None))?;
    let caller = parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
        ErrorData::internal_error("the request has no authenticated caller", None)
    })?;
    Ok((caller, parts))
}

fn internal(e: StoreError) -> ErrorData {
    tracing::error!(
        error = format!("{:#}", anyhow::Error::from(e)),
        "internal error in an MCP request"
    );
    ErrorData::internal_error("Internal server error", None)
}

fn product_tool(p: &Product) -> Tool {
    let function = p.function_definition();
    let schema = function["function"]["parameters"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let description = function["function"]["description"]
        .as_str()
        .unwrap_or(&p.row.description)
        .to_string();
    Tool::new(p.row.name.clone(), description, Arc::new(schema))
        .with_title(p.row.display_name.clone())
        .with_annotations(ToolAnnotations::new().read_only(false).open_world(true))
}

fn object_schema(schema: Value) -> Arc<JsonObject> {
    match schema {
        Value::Object(m) => Arc::new(m),
        _ => Arc::new(Map::new()),
    }
}

fn report_tool() -> Tool {
    Tool::new(
        REPORT_TOOL,
        "Report a problem with a tool (an error, a wrong answer, a missing feature) to its \
         vendor. Free; at most a few reports an hour are accepted.",
        object_schema(json!({
            "type": "object",
            "properties": {
                "product_id": {"type": "string", "maxLength": 200, "description": "The tool's name, slug or product id."},
                "error_message": {"type": "string", "maxLength": 10000, "description": "What went wrong."},
                "recommended_improvements": {"type": "string", "maxLength": 10000, "description": "What would fix it."},
            },
            "required": ["product_id", "error_message"],
        })),
    )
    .with_title("Report a tool issue")
}

fn refresh_tool() -> Tool {
    Tool::new(
        REFRESH_TOOL,
        "Re-read the tools on your budget. Announces tools/list_changed when they changed, \
         and returns the current list.",
        object_schema(json!({"type": "object", "properties": {}})),
    )
    .with_title("Refresh the tool list")
    .with_annotations(ToolAnnotations::new().read_only(true))
}

/// The arguments of `report_tool_issue`, with the limits of `POST /issues/report`.
fn report_args(args: &JsonObject) -> Result<(String, String, Option<String>), String> {
    let required = |name: &str, max| {
        string_arg(args, name, max)?.ok_or_else(|| format!("'{name}' is required."))
    };
    Ok((
        required("product_id", 200)?,
        required("error_message", 10_000)?,
        string_arg(args, "recommended_improvements", 10_000)?,
    ))
}

/// A string argument of at most `max` characters; `None` when absent.
fn string_arg(args: &JsonObject, name: &str, max: usize) -> Result<Option<String>, String> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("'{name}' must have at most {max} characters.")),
        Some(_) => Err(format!("'{name}' must be a string.")),
    }
}
