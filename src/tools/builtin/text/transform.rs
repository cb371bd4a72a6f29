//! The `transform` action: case styles, slugs and whitespace, built on
//! splitting text into words.

use serde_json::{json, Value};

use super::OPERATIONS;
use crate::tools::ToolError;

/// Splits text into words at non-alphanumeric characters and at case changes
/// (`parseHTTPResponse` gives parse, HTTP, Response).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|c| !c.is_empty())
    {
        let chars: Vec<char> = chunk.chars().collect();
        let mut current = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0 && !current.is_empty() {
                let prev = chars[i - 1];
                let next = chars.get(i + 1).copied();
                let lower_to_upper = prev.is_lowercase() && c.is_uppercase();
                let acronym_end =
                    prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
                let digit_to_upper = prev.is_numeric() && c.is_uppercase();
                if lower_to_upper || acronym_end || digit_to_upper {
                    words.push(std::mem::take(&mut current));
                }
            }
            current.push(c);
        }
        if !current.is_empty() {
            words.push(current);
        }
    }
    words
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect(),
        None => String::new(),
    }
}

/// ASCII spelling of common accented Latin letters, for slugs.
fn ascii_fold(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
        'ç' | 'ć' | 'č' => "c",
        'ď' | 'đ' => "d",
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
        'ğ' => "g",
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => "i",
        'ł' => "l",
        'ñ' | 'ń' | 'ň' => "n",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
        'ř' => "r",
        'ś' | 'š' | 'ş' => "s",
        'ť' | 'ţ' => "t",
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => "u",
        'ý' | 'ÿ' => "y",
        'ź' | 'ż' | 'ž' => "z",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'þ' => "th",
        'ð' => "d",
        _ => return None,
    })
}

fn slugify(text: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    for c in text.chars().flat_map(char::to_lowercase) {
        let piece = if c.is_ascii_alphanumeric() {
            Some(c.to_string())
        } else {
            ascii_fold(c).map(str::to_string)
        };
        match piece {
            Some(p) => {
                if pending_dash && !slug.is_empty() {
                    slug.push('-');
                }
                pending_dash = false;
                slug.push_str(&p);
            }
            None => pending_dash = true,
        }
    }
    slug
}

pub(super) fn transform(text: &str, operation: &str) -> Result<Value, ToolError> {
    let lower_words = || {
        split_words(text)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
    };
    let result = match operation {
        "upper" => text.to_uppercase(),
        "lower" => text.to_lowercase(),
        "title" => {
            let mut out = String::with_capacity(text.len());
            let mut at_word_start = true;
            for c in text.chars() {
                if c.is_alphanumeric() {
                    if at_word_start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    at_word_start = false;
                } else {
                    out.push(c);
                    at_word_start = c != '\'' && c != '’';
                }
            }
            out
        }
        "sentence_case" => {
            let mut out = String::with_capacity(text.len());
            let mut at_sentence_start = true;
            for c in text.chars() {
                if c.is_alphabetic() {
                    if at_sentence_start {
                        out.extend(c.to_uppercase());
                    } else {
                        out.extend(c.to_lowercase());
                    }
                    at_sentence_start = false;
                } else {
                    out.push(c);
                    if matches!(c, '.' | '!' | '?') {
                        at_sentence_start = true;
                    }
                }
            }
            out
        }
        "snake_case" => lower_words().join("_"),
        "kebab_case" => lower_words().join("-"),
        "constant_case" => split_words(text)
            .iter()
            .map(|w| w.to_uppercase())
            .collect::<Vec<_>>()
            .join("_"),
        "camel_case" => {
            let words = split_words(text);
            let mut out = String::new();
            for (i, word) in words.iter().enumerate() {
                if i == 0 {
                    out.push_str(&word.to_lowercase());
                } else {
                    out.push_str(&capitalize(word));
                }
            }
            out
        }
        "pascal_case" => split_words(text).iter().map(|w| capitalize(w)).collect(),
        "slugify" => slugify(text),
        "reverse" => text.chars().rev().collect(),
        "trim" => text.trim().to_string(),
        "collapse_whitespace" => text.split_whitespace().collect::<Vec<_>>().join(" "),
        other => {
            return Err(ToolError::invalid(
                "operation",
                format!(
                    "unknown operation \"{other}\"; use one of: {}",
                    OPERATIONS.join(", ")
                ),
            ))
        }
    };
    Ok(json!({"operation": operation, "result": result}))
}
