//! Calls to vendors' HTTP tools: a POST of the call with a short-lived JWT
//! the vendor verifies with `GET /public/jwt-public-key`, stored credentials
//! put where the product declares, no redirects, a time limit and a size
//! limit on the answer. A call is never retried: it may not be idempotent.

use crate::id::OrderId;
use crate::id::UserId;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use super::outbound::{Outbound, OutboundError};
use super::ToolError;
use crate::auth::tokens::TokenService;
use crate::catalog::{CredentialSpec, Product};

/// What a vendor call needs of the server: the outbound client, the key
/// that signs the call's token, and the largest answer taken.
pub struct VendorClient<'a> {
    pub outbound: &'a Outbound,
    pub tokens: &'a TokenService,
    pub max_response_bytes: usize,
}

/// The claims of the token on a vendor call.
#[derive(Debug, Serialize)]
struct CallClaims<'a> {
    iss: &'a str,
    /// The product id: a token for one vendor is useless to another.
    aud: &'a str,
    sub: &'a str,
    /// The order id: vendors can refuse a replayed token.
    jti: &'a str,
    iat: i64,
    exp: i64,
    action: &'a str,
}

/// Forwards one paid call to the product's endpoint.
#[allow(clippy::too_many_arguments)]
pub async fn call(
    client: &VendorClient<'_>,
    product: &Product,
    action: &str,
    params: &Value,
    order_id: OrderId,
    user_id: UserId,
    instance_id: crate::id::InstanceId,
    credentials: &[(CredentialSpec, String)],
    timeout: Duration,
) -> Result<Value, ToolError> {
    let endpoint = product
        .row
        .endpoint
        .as_deref()
        .ok_or_else(|| ToolError::Failed("the product has no endpoint".into()))?;
    let mut url = client
        .outbound
        .check_url(endpoint)
        .map_err(|e| ToolError::Failed(format!("the vendor endpoint is not allowed: {e}")))?;
    let now = chrono::Utc::now().timestamp();
    let token = client
        .tokens
        .sign(&CallClaims {
            iss: client.tokens.issuer(),
            aud: &product.row.id.to_string(),
            sub: &user_id.to_string(),
            jti: &order_id.to_string(),
            iat: now,
            exp: now + timeout.as_secs() as i64 + 60,
            action,
        })
        .map_err(|e| ToolError::Failed(format!("signing the call failed: {e}")))?;
    let mut body = json!({
        "order_id": order_id,
        "product_id": product.row.id,
        "action": action,
        "parameters": params,
        "instance_id": instance_id,
    });
    let mut headers = reqwest::header::HeaderMap::new();
    for (spec, value) in credentials {
        match spec.location.as_str() {
            "header" => {
                let name = reqwest::header::HeaderName::from_bytes(spec.field.as_bytes());
                let value = reqwest::header::HeaderValue::from_str(value);
                let (Ok(name), Ok(mut value)) = (name, value) else {
                    // Calling without it would only fail at the vendor.
                    return Err(ToolError::Failed(format!(
                        "the stored credential {:?} cannot be sent in a header; store it again",
                        spec.name
                    )));
                };
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            "query" => {
                url.query_pairs_mut().append_pair(&spec.field, value);
            }
            _ => {
                body[spec.field.as_str()] = Value::String(value.clone());
            }
        }
    }
    let request = client
        .outbound
        .direct()
        .post(url)
        .headers(headers)
        .bearer_auth(token)
        .json(&body)
        .timeout(timeout);
    let response = client
        .outbound
        .send(request, client.max_response_bytes)
        .await
        .map_err(|e| match e {
            OutboundError::Timeout => ToolError::Timeout,
            OutboundError::TooLarge(n) => {
                ToolError::Failed(format!("the vendor's answer is larger than {n} bytes"))
            }
            OutboundError::Forbidden(m) => {
                ToolError::Failed(format!("the vendor endpoint is not allowed: {m}"))
            }
            other => ToolError::Failed(format!("the vendor could not be reached: {other}")),
        })?;
    if !(200..300).contains(&response.status) {
        return Err(ToolError::Failed(format!(
            "the vendor answered HTTP {}",
            response.status
        )));
    }
    match serde_json::from_slice::<Value>(&response.body) {
        Ok(v) => Ok(v),
        Err(_) => Ok(json!({"text": String::from_utf8_lossy(&response.body)})),
    }
}
