//! Bytes as hex and base64 text and back, and a parameter read as bytes in
//! the encoding another parameter names.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use serde_json::Value;

use crate::tools::ToolError;

/// Decodes base64 with or without padding; what people paste varies.
const LENIENT_STANDARD: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Reads the `field` parameter as bytes in the encoding `encoding_field` names
/// (one of [`BYTE_ENCODINGS`](super::BYTE_ENCODINGS)).
pub(super) fn to_bytes(
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

pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

pub(super) fn decode_hex(field: &str, text: &str) -> Result<Vec<u8>, ToolError> {
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

pub(super) fn decode_base64(field: &str, text: &str, url_safe: bool) -> Result<Vec<u8>, ToolError> {
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
