//! The `encode` and `decode` actions: base64, base64url, hex, URL and form
//! percent-encoding, and HTML entities.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use super::bytes::{decode_base64, decode_hex, hex};
use super::ENCODINGS;
use crate::tools::ToolError;

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

pub(super) fn encode(text: &str, encoding: &str) -> Result<String, ToolError> {
    Ok(match encoding {
        "base64" => STANDARD.encode(text),
        "base64url" => URL_SAFE_NO_PAD.encode(text),
        "hex" => hex(text.as_bytes()),
        "url" => percent_encode(text, false),
        "form" => percent_encode(text, true),
        "html" => crate::html::escape(text),
        other => return Err(unknown_encoding(other)),
    })
}

pub(super) fn decode(text: &str, encoding: &str) -> Result<String, ToolError> {
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
