//! Hashing, HMAC signatures and text encodings (base64, hex, URL, HTML).

mod bytes;
mod codecs;
mod hashing;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::str_param;
use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use codecs::{decode, encode};
use hashing::{hash, hmac};
/// Largest input accepted, in characters.
const MAX_INPUT_CHARS: usize = 1_000_000;
/// Longest HMAC key accepted, in characters.
const MAX_KEY_CHARS: usize = 10_000;

const HASH_ALGORITHMS: &[&str] = &["sha256", "sha512", "sha384", "sha224", "sha1", "md5"];
const HMAC_ALGORITHMS: &[&str] = &["sha256", "sha512", "sha384", "sha1"];
const ENCODINGS: &[&str] = &["base64", "base64url", "hex", "url", "form", "html"];
const BYTE_ENCODINGS: &[&str] = &["utf8", "base64", "hex"];

/// Hashes, signs and encodes text.
pub struct Tool;

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        let input = |description: &str| json!({"type": "string", "maxLength": MAX_INPUT_CHARS, "description": description});
        let byte_encoding = |description: &str| json!({"type": "string", "enum": BYTE_ENCODINGS, "description": description});
        BuiltinSpec {
            slug: "hash-encode",
            name: "hash_encode",
            display_name: "Hash & Encode",
            description: "Computes hashes (SHA-256, SHA-512, SHA-1, MD5, ...) and HMAC signatures, verifies \
                webhook signatures, and encodes or decodes base64, base64url, hex, URL percent-encoding \
                and HTML entities.",
            category: "developer",
            actions: vec![
                ActionSpec {
                    name: "hash",
                    description: "Hash the input; returns the digest as hex and base64.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": input("The data to hash."),
                            "algorithm": {"type": "string", "enum": HASH_ALGORITHMS, "description": "The hash function. md5 and sha1 are for checksums only, not security."},
                            "input_encoding": byte_encoding("How text is to be read as bytes: utf8 (default), or base64/hex for binary data.")
                        },
                        "required": ["text", "algorithm"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "hmac",
                    description: "Compute an HMAC signature of a message with a secret key; give expected to \
                        check a received signature (hex or base64) in constant time.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "key": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "description": "The secret key."},
                            "key_encoding": byte_encoding("How the key is to be read as bytes: utf8 (default), base64 or hex."),
                            "message": input("The message to sign, as UTF-8 text."),
                            "algorithm": {"type": "string", "enum": HMAC_ALGORITHMS, "description": "The hash function of the HMAC."},
                            "expected": {"type": "string", "maxLength": 1000, "description": "A signature to verify, hex or base64 (a \"sha256=\" style prefix is ignored)."}
                        },
                        "required": ["key", "message", "algorithm"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "encode",
                    description: "Encode UTF-8 text as base64, base64url (no padding), hex, url \
                        (RFC 3986 percent-encoding), form (application/x-www-form-urlencoded) or html (entities).",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": input("The text to encode."),
                            "encoding": {"type": "string", "enum": ENCODINGS, "description": "The encoding to apply."}
                        },
                        "required": ["text", "encoding"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "decode",
                    description: "Decode base64, base64url, hex, url, form or html-encoded text back to UTF-8 text.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "text": input("The encoded text."),
                            "encoding": {"type": "string", "enum": ENCODINGS, "description": "The encoding the text is in."}
                        },
                        "required": ["text", "encoding"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
            ],
        }
    }

    async fn call(
        &self,
        action: &str,
        params: &Value,
        _ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        match action {
            "hash" => hash(params),
            "hmac" => hmac(params),
            "encode" => {
                let encoding = str_param(params, "encoding")?;
                let result = encode(input_param(params, "text")?, encoding)?;
                Ok(json!({"encoding": encoding, "result": result}))
            }
            "decode" => {
                let encoding = str_param(params, "encoding")?;
                let result = decode(input_param(params, "text")?, encoding)?;
                Ok(json!({"encoding": encoding, "result": result}))
            }
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

fn input_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    let text = str_param(params, field)?;
    if text.chars().count() > MAX_INPUT_CHARS {
        return Err(ToolError::invalid(
            field,
            format!("\"{field}\" is longer than {MAX_INPUT_CHARS} characters"),
        ));
    }
    Ok(text)
}
