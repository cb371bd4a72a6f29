//! The `hash` and `hmac` actions: digests of text or bytes, and HMAC
//! signatures with constant-time verification of a received one.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Digest;

use super::bytes::{decode_base64, decode_hex, hex, to_bytes};
use super::{input_param, str_param, HASH_ALGORITHMS, HMAC_ALGORITHMS, MAX_KEY_CHARS};
use crate::tools::ToolError;

fn digest(algorithm: &str, data: &[u8]) -> Result<Vec<u8>, ToolError> {
    Ok(match algorithm {
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "md5" => md5::Md5::digest(data).to_vec(),
        other => {
            return Err(ToolError::invalid(
                "algorithm",
                format!(
                    "unknown algorithm \"{other}\"; use one of: {}",
                    HASH_ALGORITHMS.join(", ")
                ),
            ))
        }
    })
}

pub(super) fn hash(params: &Value) -> Result<Value, ToolError> {
    let text = input_param(params, "text")?;
    let algorithm = str_param(params, "algorithm")?;
    let data = to_bytes(params, "text", "input_encoding", text)?;
    let sum = digest(algorithm, &data)?;
    Ok(
        json!({"algorithm": algorithm, "hex": hex(&sum), "base64": STANDARD.encode(&sum), "input_bytes": data.len()}),
    )
}

/// Computes the HMAC, and whether `expected` matches it (in constant time).
fn sign<M: Mac + hmac::digest::KeyInit + Clone>(
    key: &[u8],
    message: &[u8],
    expected: Option<&[u8]>,
) -> Result<(Vec<u8>, Option<bool>), ToolError> {
    let mut mac = <M as Mac>::new_from_slice(key)
        .map_err(|_| ToolError::invalid("key", "the key cannot be used"))?;
    mac.update(message);
    let verified = expected.map(|exp| mac.clone().verify_slice(exp).is_ok());
    Ok((mac.finalize().into_bytes().to_vec(), verified))
}

/// Reads a received signature: hex or base64, after an optional `algo=` prefix.
fn expected_bytes(raw: &str) -> Result<Vec<u8>, ToolError> {
    let trimmed = raw.trim();
    let sig = trimmed
        .split_once('=')
        .filter(|(prefix, rest)| {
            prefix.len() <= 10
                && !rest.is_empty()
                && prefix.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .map_or(trimmed, |(_, s)| s);
    if !sig.is_empty() && sig.len().is_multiple_of(2) && sig.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return decode_hex("expected", sig);
    }
    decode_base64("expected", sig, false)
        .or_else(|_| decode_base64("expected", sig, true))
        .map_err(|_| {
            ToolError::invalid(
                "expected",
                "the expected signature is neither hex nor base64",
            )
        })
}

pub(super) fn hmac(params: &Value) -> Result<Value, ToolError> {
    let key_text = str_param(params, "key")?;
    if key_text.chars().count() > MAX_KEY_CHARS {
        return Err(ToolError::invalid(
            "key",
            format!("the key is longer than {MAX_KEY_CHARS} characters"),
        ));
    }
    let key = to_bytes(params, "key", "key_encoding", key_text)?;
    let message = input_param(params, "message")?.as_bytes();
    let algorithm = str_param(params, "algorithm")?;
    let expected = params
        .get("expected")
        .and_then(Value::as_str)
        .map(expected_bytes)
        .transpose()?;
    let expected = expected.as_deref();
    let (signature, verified) = match algorithm {
        "sha256" => sign::<Hmac<sha2::Sha256>>(&key, message, expected)?,
        "sha512" => sign::<Hmac<sha2::Sha512>>(&key, message, expected)?,
        "sha384" => sign::<Hmac<sha2::Sha384>>(&key, message, expected)?,
        "sha1" => sign::<Hmac<sha1::Sha1>>(&key, message, expected)?,
        other => {
            return Err(ToolError::invalid(
                "algorithm",
                format!(
                    "unknown algorithm \"{other}\"; use one of: {}",
                    HMAC_ALGORITHMS.join(", ")
                ),
            ))
        }
    };
    let mut out = json!({"algorithm": algorithm, "hex": hex(&signature), "base64": STANDARD.encode(&signature)});
    if let Some(matches) = verified {
        out["matches"] = json!(matches);
    }
    Ok(out)
}
