//! Extractors every handler uses: JSON bodies and query strings validated
//! into FastAPI-shaped 422s, and the authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{json, Value};

use super::error::{ApiError, FieldError};
use crate::app::AppState;
use crate::auth::Caller;
use crate::services::bearer;
use crate::services::instances::InstanceHeaders;

/// Refuses an API key where the owner must be signed in: workflows, bundles,
/// tools and secrets serve other budgets and accounts, so an agent holding
/// one budget's key may not change them. `task` names what was tried.
pub fn require_user_token(caller: &Caller, task: &str) -> Result<(), ApiError> {
    if caller.api_key_id.is_some() {
        return Err(ApiError::forbidden(
            "user_token_required",
            format!("{task} needs an access token from POST /auth/login, not a budget API key."),
        ));
    }
    Ok(())
}

mod fields;

pub use fields::Fields;

/// A request type read field by field from a JSON object.
pub trait FromBody: Sized {
    fn from_fields(f: &mut Fields<'_>) -> Option<Self>;
}

/// A validated JSON body.
pub struct Body<T>(pub T);

impl<T: FromBody> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let value = json_body(req, state).await?;
        let mut fields = Fields::body(&value)?;
        let parsed = T::from_fields(&mut fields);
        fields.finish()?;
        Ok(Body(parsed.expect("a body with no field errors parses")))
    }
}

/// Reads the body and parses it as JSON, mapping failures to 413 or 422.
pub async fn json_body(req: Request, state: &AppState) -> Result<Value, ApiError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::coded(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is larger than this server accepts.",
            )
        } else {
            ApiError::bad_request("unreadable_body", "The request body could not be read.")
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::field(FieldError::new(
            vec!["body".into()],
            "missing",
            "Field required",
            Value::Null,
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        let position = byte_offset(&bytes, e.line(), e.column());
        ApiError::field(
            FieldError::new(
                vec!["body".into(), position.into()],
                "json_invalid",
                "JSON decode error",
                json!({}),
            )
            .with_ctx(json!({ "error": e.to_string() })),
        )
    })
}

fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in bytes.split(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1);
        }
        offset += l.len() + 1;
    }
    offset
}

/// An integer from a query string or header value.
pub fn parse_int_str(s: &str) -> Result<i64, (&'static str, &'static str)> {
    s.trim().parse::<i64>().map_err(|_| {
        (
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        )
    })
}

/// A query parameter as an integer in `min..=max`, or `default` when absent.
pub fn query_int(
    query: Option<&str>,
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    let raw = query.and_then(|q| {
        form_urlencoded_pairs(q)
            .into_iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    });
    let Some(raw) = raw else { return Ok(default) };
    bounded_int(vec!["query".into(), name.into()], &raw, min, max)
}

/// Parses an integer in `min..=max` from text, with pydantic's errors.
pub fn bounded_int(loc: Vec<Value>, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    let n = parse_int_str(raw).map_err(|(kind, msg)| {
        ApiError::field(FieldError::new(loc.clone(), kind, msg, raw.into()))
    })?;
    if n < min {
        return Err(ApiError::field(
            FieldError::new(
                loc,
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                raw.into(),
            )
            .with_ctx(json!({"ge": min})),
        ));
    }
    if n > max {
        return Err(ApiError::field(
            FieldError::new(
                loc,
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                raw.into(),
            )
            .with_ctx(json!({"le": max})),
        ));
    }
    Ok(n)
}

fn form_urlencoded_pairs(q: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(q).unwrap_or_default()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(bearer::caller(state, authorization(&parts.headers)).await?)
    }
}

/// The connection instance headers of a request.
impl FromRequestParts<AppState> for InstanceHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(InstanceHeaders::read(|name| {
            parts.headers.get(name).map(|v| v.as_bytes())
        }))
    }
}

/// The bytes of a request's `Authorization` header.
pub fn authorization(headers: &axum::http::HeaderMap) -> Option<&[u8]> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
}

/// The token of an `Authorization: Bearer <token>` header.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    Ok(bearer::bearer_token(authorization(headers))?)
}

/// The client's address: from the configured proxy header when set and
/// readable, else the TCP peer; `None` when neither is known (a router
/// served without connection info).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let from_header = state
            .settings
            .client_ip_header
            .as_ref()
            .and_then(|name| parts.headers.get_all(name).iter().next_back())
            .and_then(|v| v.to_str().ok())
            .and_then(parse_forwarded_addr);
        let peer = || {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        };
        Ok(ClientAddr(from_header.or_else(peer)))
    }
}

/// The last address of a header such as `X-Forwarded-For: client, proxy1`:
/// the one the nearest proxy saw, which the client cannot forge.
fn parse_forwarded_addr(value: &str) -> Option<std::net::IpAddr> {
    let last = value.rsplit(',').next()?.trim();
    last.parse::<std::net::IpAddr>()
        .ok()
        .or_else(|| last.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            last.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .ok()
        })
}

/// A listing's visibility as the store keeps it.
pub fn stored_visibility(v: tollgate_api::Visibility) -> crate::store::Visibility {
    match v {
        tollgate_api::Visibility::Private => crate::store::Visibility::Private,
        tollgate_api::Visibility::Public => crate::store::Visibility::Public,
    }
}

/// The answered visibility of a stored one.
pub fn wire_visibility(v: crate::store::Visibility) -> tollgate_api::Visibility {
    match v {
        crate::store::Visibility::Private => tollgate_api::Visibility::Private,
        crate::store::Visibility::Public => tollgate_api::Visibility::Public,
    }
}

/// What workflows and bundles are listed under: a `name` of 1 to 200
/// characters (required when `creating`), a `description` of up to 4000
/// and a `visibility`.
pub fn listing_fields(
    f: &mut Fields<'_>,
    creating: bool,
) -> (
    Option<String>,
    Option<String>,
    Option<tollgate_api::Visibility>,
) {
    let name = if creating {
        f.req_str("name")
    } else {
        f.opt_str("name")
    };
    let name = f.str_len("name", name, 1, 200);
    let description = f.opt_str("description");
    let description = f.str_len("description", description, 0, 4000);
    let visibility = f.opt_choice(
        "visibility",
        &[
            ("private", tollgate_api::Visibility::Private),
            ("public", tollgate_api::Visibility::Public),
        ],
    );
    (name, description, visibility)
}

#[cfg(test)]
mod tests {
    #[test]
    fn forwarded_addresses_are_read_from_the_nearest_proxy() {
        let p = |s: &str| super::parse_forwarded_addr(s).map(|ip| ip.to_string());
        assert_eq!(p("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(p("1.1.1.1, 203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(p("203.0.113.7:4711").as_deref(), Some("203.0.113.7"));
        assert_eq!(p("[2001:db8::1]:443").as_deref(), Some("2001:db8::1"));
        assert_eq!(p("[2001:db8::1]").as_deref(), Some("2001:db8::1"));
        assert_eq!(p("garbage"), None);
    }
}
