//! Hashing, HMAC signatures and text encodings (base64, hex, URL, HTML).

use async_trait::async_trait;
use base64::alphabet;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD,
};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Digest;

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Largest input accepted, in characters.
const MAX_INPUT_CHARS: usize = 1_000_000;
/// Longest HMAC key accepted, in characters.
const MAX_KEY_CHARS: usize = 10_000;

const HASH_ALGORITHMS: &[&str] = &["sha256", "sha512", "sha384", "sha224", "sha1", "md5"];
const HMAC_ALGORITHMS: &[&str] = &["sha256", "sha512", "sha384", "sha1"];
const ENCODINGS: &[&str] = &["base64", "base64url", "hex", "url", "form", "html"];
const BYTE_ENCODINGS: &[&str] = &["utf8", "base64", "hex"];

/// Decodes base64 with or without padding; what people paste varies.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

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
                    price_credits: 1,
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
                    price_credits: 1,
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
                    price_credits: 1,
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
                    price_credits: 1,
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

fn str_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a string")))
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

/// Reads the `field` parameter as bytes in the encoding `encoding_field` names
/// (one of [`BYTE_ENCODINGS`]).
fn to_bytes(
    params: &Value,
    field: &str,
    encoding_field: &str,
    text: &str,
) -> Result<Vec<u8>, ToolError> {
    match params
        .get(encoding_field)
        .and_then(Value::as_str)
        .unwrap_or("utf8")
    {
        "utf8" => Ok(text.as_bytes().to_vec()),
        "base64" => decode_base64(field, text, false),
        "hex" => decode_hex(field, text),
        other => Err(ToolError::invalid(
            encoding_field,
            format!("unknown encoding \"{other}\"; use utf8, base64 or hex"),
        )),
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn decode_hex(field: &str, text: &str) -> Result<Vec<u8>, ToolError> {
    let cleaned: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let digits = cleaned.strip_prefix(b"0x").unwrap_or(&cleaned);
    if !digits.len().is_multiple_of(2) {
        return Err(ToolError::invalid(
            field,
            "hex must have an even number of digits",
        ));
    }
    let value = |d: u8| -> Result<u8, ToolError> {
        (d as char).to_digit(16).map(|v| v as u8).ok_or_else(|| {
            ToolError::invalid(field, format!("\"{}\" is not a hex digit", d as char))
        })
    };
    digits
        .chunks(2)
        .map(|pair| Ok(value(pair[0])? << 4 | value(pair[1])?))
        .collect()
}

fn decode_base64(field: &str, text: &str, url_safe: bool) -> Result<Vec<u8>, ToolError> {
    let cleaned: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let engine = if url_safe {
        &LENIENT_URL_SAFE
    } else {
        &LENIENT_STANDARD
    };
    engine.decode(&cleaned).map_err(|e| {
        ToolError::invalid(
            field,
            format!(
                "not valid {}: {e}",
                if url_safe { "base64url" } else { "base64" }
            ),
        )
    })
}

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

fn hash(params: &Value) -> Result<Value, ToolError> {
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

fn hmac(params: &Value) -> Result<Value, ToolError> {
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

// ---- encode / decode ----

/// Percent-encodes everything but RFC 3986 unreserved characters
/// (and turns spaces into `+` for form encoding).
fn percent_encode(text: &str, form: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' if form => out.push('+'),
            _ => {
                out.push('%');
                out.push_str(&hex(&[b]).to_uppercase());
            }
        }
    }
    out
}

fn percent_decode(text: &str, form: bool) -> Result<Vec<u8>, ToolError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let pair = bytes
                    .get(i + 1..i + 3)
                    .filter(|p| p.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|p| std::str::from_utf8(p).ok());
                let byte = pair
                    .and_then(|p| u8::from_str_radix(p, 16).ok())
                    .ok_or_else(|| {
                        ToolError::invalid("text", format!("invalid percent-escape at byte {i}"))
                    })?;
                out.push(byte);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Decodes numeric entities and the common named ones; anything else stays as written.
fn html_unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let decoded = after.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &after[..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "copy" => Some('©'),
                "reg" => Some('®'),
                "hellip" => Some('…'),
                "mdash" => Some('—'),
                "ndash" => Some('–'),
                _ => {
                    let number = if let Some(hex) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else {
                        name.strip_prefix('#').and_then(|d| d.parse::<u32>().ok())
                    };
                    number.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn unknown_encoding(other: &str) -> ToolError {
    ToolError::invalid(
        "encoding",
        format!(
            "unknown encoding \"{other}\"; use one of: {}",
            ENCODINGS.join(", ")
        ),
    )
}

fn encode(text: &str, encoding: &str) -> Result<String, ToolError> {
    Ok(match encoding {
        "base64" => STANDARD.encode(text),
        "base64url" => URL_SAFE_NO_PAD.encode(text),
        "hex" => hex(text.as_bytes()),
        "url" => percent_encode(text, false),
        "form" => percent_encode(text, true),
        "html" => html_escape(text),
        other => return Err(unknown_encoding(other)),
    })
}

fn decode(text: &str, encoding: &str) -> Result<String, ToolError> {
    let bytes = match encoding {
        "base64" => decode_base64("text", text, false)?,
        "base64url" => decode_base64("text", text, true)?,
        "hex" => decode_hex("text", text)?,
        "url" => percent_decode(text, false)?,
        "form" => percent_decode(text, true)?,
        "html" => return Ok(html_unescape(text)),
        other => return Err(unknown_encoding(other)),
    };
    String::from_utf8(bytes).map_err(|_| {
        ToolError::invalid(
            "text",
            "the decoded bytes are not UTF-8 text (binary data cannot be returned as text)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, run_tool};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    async fn hash_hex(text: &str, algorithm: &str) -> String {
        let r = run("hash", json!({"text": text, "algorithm": algorithm}))
            .await
            .unwrap();
        r["hex"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn hashes_known_vectors() {
        assert_eq!(
            hash_hex("abc", "sha256").await,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_hex("abc", "sha1").await,
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hash_hex("", "md5").await,
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(hash_hex("abc", "sha512")
            .await
            .starts_with("ddaf35a193617aba"));
        let r = run(
            "hash",
            json!({"text": "616263", "algorithm": "sha256", "input_encoding": "hex"}),
        )
        .await
        .unwrap();
        assert_eq!(
            r["hex"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(r["base64"], "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        let err = run(
            "hash",
            json!({"text": "zz", "algorithm": "sha256", "input_encoding": "hex"}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("text"));
        let err = run("hash", json!({"text": "a", "algorithm": "crc32"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("algorithm"));
    }

    #[tokio::test]
    async fn signs_and_verifies_hmac() {
        // RFC 4231 test case 2.
        let params = json!({"key": "Jefe", "message": "what do ya want for nothing?", "algorithm": "sha256"});
        let r = run("hmac", params).await.unwrap();
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert_eq!(r["hex"], expected);
        assert!(r.get("matches").is_none());
        let check = |sig: &str| json!({"key": "Jefe", "message": "what do ya want for nothing?", "algorithm": "sha256", "expected": sig});
        assert_eq!(
            run("hmac", check(&format!("sha256={expected}")))
                .await
                .unwrap()["matches"],
            json!(true)
        );
        let b64 = r["base64"].as_str().unwrap().to_string();
        assert_eq!(
            run("hmac", check(&b64)).await.unwrap()["matches"],
            json!(true)
        );
        assert_eq!(
            run("hmac", check(&"00".repeat(32))).await.unwrap()["matches"],
            json!(false)
        );
        let err = run("hmac", check("!!!")).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("expected"));
    }

    #[tokio::test]
    async fn encodes_and_decodes_round_trip() {
        let text = "héllo wörld/?&=+~";
        for encoding in ENCODINGS {
            let encoded = run("encode", json!({"text": text, "encoding": encoding}))
                .await
                .unwrap();
            let encoded = encoded["result"].as_str().unwrap().to_string();
            let decoded = run("decode", json!({"text": encoded, "encoding": encoding}))
                .await
                .unwrap();
            assert_eq!(decoded["result"], text, "{encoding}");
        }
        let r = run("encode", json!({"text": "a b&c", "encoding": "url"}))
            .await
            .unwrap();
        assert_eq!(r["result"], "a%20b%26c");
        let r = run("encode", json!({"text": "a b", "encoding": "form"}))
            .await
            .unwrap();
        assert_eq!(r["result"], "a+b");
        let r = run(
            "encode",
            json!({"text": "<a href='x'>", "encoding": "html"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], "&lt;a href=&#39;x&#39;&gt;");
        let r = run("decode", json!({"text": "aGVsbG8", "encoding": "base64"}))
            .await
            .unwrap();
        assert_eq!(r["result"], "hello");
        let r = run(
            "decode",
            json!({"text": "&#x41;&#66;&amp;&bogus; &", "encoding": "html"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], "AB&&bogus; &");
    }

    #[tokio::test]
    async fn rejects_bad_encoded_input() {
        for (text, encoding) in [
            ("@@@", "base64"),
            ("abc", "hex"),
            ("zz", "hex"),
            ("%zz", "url"),
            ("%4", "url"),
            ("%+1", "url"),
            ("/w==", "base64"),
        ] {
            let err = run("decode", json!({"text": text, "encoding": encoding}))
                .await
                .unwrap_err();
            assert_eq!(
                field_of(err).as_deref(),
                Some("text"),
                "{text} as {encoding}"
            );
        }
        let err = run("decode", json!({"text": "x", "encoding": "rot13"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("encoding"));
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("encrypt", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
