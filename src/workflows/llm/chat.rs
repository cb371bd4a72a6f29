//! Talking to an OpenAI-compatible chat-completions endpoint: the request,
//! and reading its answer whatever the server (OpenAI, vLLM, Ollama,
//! llama.cpp) fills in or leaves out.

use std::collections::HashSet;
use std::error::Error as _;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::secret::Secret;
use crate::workflows::engine::StepError;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

fn llm_error(message: impl Into<String>) -> StepError {
    StepError::new("llm_error", message)
}

/// A function call the model asked for.
pub(super) struct ToolCall {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) arguments: String,
}

/// One model answer, with its message in the form it is sent back in.
pub(super) struct Answer {
    pub(super) message: Value,
    pub(super) content: String,
    pub(super) tool_calls: Vec<ToolCall>,
    pub(super) model: String,
}

/// A chat-completions request with only the standard fields, so every
/// OpenAI-compatible server accepts it.
pub(super) fn chat_request(
    model: &str,
    messages: &[&Value],
    functions: &[Value],
    temperature: Option<f64>,
) -> Value {
    let mut body = json!({"model": model, "messages": messages});
    if !functions.is_empty() {
        body["tools"] = json!(functions);
        body["tool_choice"] = json!("auto");
    }
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// Reads a chat completion: the first choice's message, the model that
/// answered and the token usage.
pub(super) fn parse_completion(
    response: &Value,
    step: u32,
    requested_model: &str,
) -> Result<(Answer, Value), StepError> {
    let message = &response["choices"][0]["message"];
    if !message.is_object() {
        if let Some(reported) = response["error"]["message"]
            .as_str()
            .or(response["error"].as_str())
        {
            return Err(llm_error(format!(
                "the model endpoint reported an error: {}",
                excerpt(reported)
            )));
        }
        return Err(llm_error(
            "the model endpoint's answer is not a chat completion (it has no choices[0].message)",
        ));
    }
    let mut answer = parse_message(message, step)?;
    answer.model = response["model"]
        .as_str()
        .filter(|m| !m.is_empty())
        .unwrap_or(requested_model)
        .to_string();
    Ok((answer, response["usage"].clone()))
}

/// Reads an assistant message, giving tool calls without an id (or with a
/// repeated one) an id of their own so their results can be told apart.
pub(super) fn parse_message(message: &Value, step: u32) -> Result<Answer, StepError> {
    let content = match &message["content"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .concat(),
        _ => {
            return Err(llm_error(
                "the model's message has content that is neither text nor a list of parts",
            ))
        }
    };
    let calls: &[Value] = match &message["tool_calls"] {
        Value::Null => &[],
        Value::Array(calls) => calls,
        _ => return Err(llm_error("the model's tool_calls is not a list")),
    };
    let mut seen = HashSet::new();
    let mut tool_calls = Vec::new();
    for (i, call) in calls.iter().enumerate() {
        let function = &call["function"];
        let Some(name) = function["name"].as_str() else {
            return Err(llm_error(
                "the model asked for a tool call without a function name",
            ));
        };
        let arguments = match &function["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => "{}".to_string(),
            other => other.to_string(),
        };
        let id = match call["id"].as_str() {
            Some(id) if !id.is_empty() && id.len() <= 200 && !seen.contains(id) => id.to_string(),
            _ => format!("call_{step}_{i}"),
        };
        seen.insert(id.clone());
        tool_calls.push(ToolCall {
            id,
            name: name.to_string(),
            arguments,
        });
    }
    let mut normalized = json!({"role": "assistant", "content": content});
    if !tool_calls.is_empty() {
        normalized["tool_calls"] = tool_calls
            .iter()
            .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
    }
    Ok(Answer {
        message: normalized,
        content,
        tool_calls,
        model: String::new(),
    })
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the LLM HTTP client builds")
    })
}

/// The operator's chat-completions endpoint.
pub(super) struct Endpoint<'a> {
    pub(super) url: String,
    pub(super) api_key: Option<&'a Secret>,
}

impl Endpoint<'_> {
    pub(super) async fn complete(&self, body: &Value) -> Result<Value, StepError> {
        let mut request = client().post(&self.url).json(body);
        if let Some(key) = self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| self.failure(describe(e)))?;
        let status = response.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.failure(describe(e)))?
        {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(self.failure(format!(
                    "the model endpoint's answer is larger than {MAX_RESPONSE_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            let detail = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v["error"]["message"]
                        .as_str()
                        .or(v["error"].as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| text.into_owned());
            return Err(self.failure(format!(
                "the model endpoint answered HTTP {status}: {}",
                excerpt(&detail)
            )));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| self.failure(format!("the model endpoint's answer is not JSON: {e}")))
    }

    /// An `llm_error` whose message never carries the API key, even when the
    /// endpoint echoes it.
    fn failure(&self, message: String) -> StepError {
        match self.api_key {
            Some(key) => llm_error(message.replace(key.expose(), "***")),
            None => llm_error(message),
        }
    }
}

/// A transport error with its causes, without the URL (which may carry credentials).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!(
            "the model endpoint did not answer within {} s",
            REQUEST_TIMEOUT.as_secs()
        );
    }
    let e = e.without_url();
    let mut text = format!("the model endpoint could not be reached: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
