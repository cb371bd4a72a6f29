//! Web fetch: an HTTP GET of a public URL with a size limit, a time limit
//! and SSRF protection (see `tools::outbound`).

use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::money::Credits;
use crate::tools::outbound::OutboundError;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Default and largest body read.
const DEFAULT_MAX_BYTES: usize = 256 * 1024;
const LIMIT_MAX_BYTES: usize = 2 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Tool;

fn url_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 2048, "description": "An http or https URL on the public internet."})
}

fn max_bytes_schema() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": LIMIT_MAX_BYTES, "description": "Most bytes of the body to accept (default 262144)."})
}

/// Strips tags, scripts and styles, and collapses whitespace: the readable
/// text of a page, enough for an agent to read.
fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            let rest = &lower[i..];
            let skip_to = if rest.starts_with("<script") {
                rest.find("</script>").map(|e| e + "</script>".len())
            } else if rest.starts_with("<style") {
                rest.find("</style>").map(|e| e + "</style>".len())
            } else if rest.starts_with("<!--") {
                rest.find("-->").map(|e| e + 3)
            } else {
                rest.find('>').map(|e| e + 1)
            };
            match skip_to {
                Some(n) => {
                    i += n;
                    out.push(' ');
                }
                None => break,
            }
        } else {
            let next = lower[i..].find('<').map(|n| i + n).unwrap_or(bytes.len());
            out.push_str(&html[i..next]);
            i = next;
        }
    }
    let decoded = out
        .replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    decoded.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "web-fetch",
            name: "web_fetch",
            display_name: "Web Fetch",
            description: "Fetch a public web page or API over HTTP(S) and return its body or readable text. Private and internal addresses are refused.",
            category: "web",
            actions: vec![
                ActionSpec {
                    name: "get",
                    description: "GET a URL and return the status, content type and body (parsed when JSON).",
                    parameters: json!({"type": "object", "properties": {"url": url_schema(), "max_bytes": max_bytes_schema()}, "required": ["url"], "additionalProperties": false}),
                    price_credits: Credits::new(3),
                },
                ActionSpec {
                    name: "extract_text",
                    description: "GET an HTML page and return its readable text, without tags, scripts or styles.",
                    parameters: json!({"type": "object", "properties": {"url": url_schema(), "max_bytes": max_bytes_schema()}, "required": ["url"], "additionalProperties": false}),
                    price_credits: Credits::new(3),
                },
            ],
        }
    }

    fn has_outside_effect(&self, _action: &str) -> bool {
        // A request to another server, whatever its method.
        true
    }

    async fn call(
        &self,
        action: &str,
        params: &Value,
        ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        if action != "get" && action != "extract_text" {
            return Err(ToolError::invalid(
                "action",
                format!("unknown action {action:?}"),
            ));
        }
        let url = params["url"].as_str().unwrap_or_default();
        let max = params["max_bytes"]
            .as_u64()
            .map(|n| n as usize)
            .unwrap_or(DEFAULT_MAX_BYTES)
            .min(LIMIT_MAX_BYTES);
        let fetched = ctx
            .outbound
            .fetch(url, TIMEOUT, max)
            .await
            .map_err(|e| match e {
                OutboundError::InvalidUrl(m) => ToolError::invalid("url", m),
                OutboundError::Forbidden(m) => {
                    ToolError::invalid("url", format!("this address may not be fetched: {m}"))
                }
                OutboundError::Timeout => ToolError::Timeout,
                OutboundError::TooLarge(n) => ToolError::Failed(format!(
                    "the response is larger than {n} bytes; raise max_bytes"
                )),
                OutboundError::Failed(m) => ToolError::Failed(m),
            })?;
        let text = String::from_utf8_lossy(&fetched.body).into_owned();
        let is_json = fetched
            .content_type
            .as_deref()
            .is_some_and(|c| c.contains("json"));
        let mut out = json!({"url": fetched.url, "status": fetched.status, "content_type": fetched.content_type, "bytes": fetched.body.len()});
        if action == "extract_text" {
            out["text"] = Value::String(html_to_text(&text));
        } else if is_json {
            out["body"] = serde_json::from_str(&text).unwrap_or(Value::String(text));
        } else {
            out["body"] = Value::String(text);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn html_becomes_readable_text() {
        let html = "<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Title</h1><p>One &amp; two</p><!-- c --></body></html>";
        assert_eq!(super::html_to_text(html), "Title One & two");
    }
}
