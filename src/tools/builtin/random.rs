//! Randomness from the operating system's secure generator: UUIDs, integers,
//! passwords, tokens, random picks and shuffles.

use std::collections::HashSet;

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore};
use serde_json::{json, Value};

use super::bool_param;
use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Most UUIDs, numbers, passwords or tokens per call.
const MAX_COUNT: u64 = 1_000;
/// Most items `choice` and `shuffle` take.
const MAX_ITEMS: usize = 10_000;
/// Password length bounds.
const MIN_PASSWORD: u64 = 4;
const MAX_PASSWORD: u64 = 256;
/// Most random bytes in one token.
const MAX_TOKEN_BYTES: u64 = 256;
/// Ranges up to this size are sampled without replacement by shuffling them.
const SMALL_RANGE: u128 = 10_000;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const SYMBOLS: &str = "!#$%&()*+,-./:;<=>?@[]^_{|}~";
/// Characters easily confused with each other when read or typed.
const AMBIGUOUS: &str = "Il1O0o|`'\"";

/// Generates random values.
pub struct Tool;

fn count_property(default: u64) -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": MAX_COUNT, "description": format!("How many to generate. Default {default}.")})
}

fn items_property(description: &str) -> Value {
    json!({"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "description": description})
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "random",
            name: "random",
            display_name: "Random",
            description: "Generates cryptographically secure random values: UUIDs, integers in a range, \
                strong passwords, URL-safe tokens, random picks from a list, and shuffles.",
            category: "utilities",
            actions: vec![
                ActionSpec {
                    name: "uuid",
                    description: "Generate random (version 4) UUIDs.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "count": count_property(1),
                            "uppercase": {"type": "boolean", "description": "Use upper-case hex digits. Default false."},
                            "hyphens": {"type": "boolean", "description": "Include the hyphens. Default true."}
                        },
                        "required": [],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "integer",
                    description: "Generate random integers between min and max, both included.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "min": {"type": "integer", "description": "The smallest possible value."},
                            "max": {"type": "integer", "description": "The largest possible value."},
                            "count": count_property(1),
                            "unique": {"type": "boolean", "description": "Never repeat a value. Default false."}
                        },
                        "required": ["min", "max"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "password",
                    description: "Generate strong passwords containing at least one character of each chosen kind.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "length": {"type": "integer", "minimum": MIN_PASSWORD, "maximum": MAX_PASSWORD, "description": "Characters per password. Default 16."},
                            "lowercase": {"type": "boolean", "description": "Use a-z. Default true."},
                            "uppercase": {"type": "boolean", "description": "Use A-Z. Default true."},
                            "digits": {"type": "boolean", "description": "Use 0-9. Default true."},
                            "symbols": {"type": "boolean", "description": "Use punctuation such as !#$%&. Default true."},
                            "exclude_ambiguous": {"type": "boolean", "description": "Leave out look-alike characters (I l 1 O 0 o | ` ' \"). Default false."},
                            "count": {"type": "integer", "minimum": 1, "maximum": 100, "description": "How many passwords. Default 1."}
                        },
                        "required": [],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "token",
                    description: "Generate a random secret token (for API keys, nonces, ...) as hex or base64url.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "bytes": {"type": "integer", "minimum": 1, "maximum": MAX_TOKEN_BYTES, "description": "Random bytes in the token. Default 32."},
                            "encoding": {"type": "string", "enum": ["hex", "base64url"], "description": "How to write the bytes. Default hex."}
                        },
                        "required": [],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "choice",
                    description: "Pick items at random from a list.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "items": items_property("The items to pick from (any JSON values)."),
                            "count": {"type": "integer", "minimum": 1, "maximum": MAX_ITEMS, "description": "How many to pick. Default 1."},
                            "unique": {"type": "boolean", "description": "Pick each item at most once. Default true."}
                        },
                        "required": ["items"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "shuffle",
                    description: "Return the items of a list in a random order.",
                    parameters: json!({
                        "type": "object",
                        "properties": {"items": items_property("The items to shuffle (any JSON values).")},
                        "required": ["items"],
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
            "uuid" => uuids(params),
            "integer" => integers(params),
            "password" => passwords(params),
            "token" => token(params),
            "choice" => choice(params),
            "shuffle" => {
                let mut items = items_param(params)?.to_vec();
                items.shuffle(&mut OsRng);
                Ok(json!({"items": items}))
            }
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

/// An optional integer parameter within `min..=max`.
fn bounded(
    params: &Value,
    field: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ToolError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ToolError::invalid(
                    field,
                    format!("\"{field}\" must be an integer from {min} to {max}"),
                )
            }),
    }
}

fn items_param(params: &Value) -> Result<&[Value], ToolError> {
    let items = params
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ToolError::invalid("items", "\"items\" must be an array"))?;
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(ToolError::invalid(
            "items",
            format!("give from 1 to {MAX_ITEMS} items"),
        ));
    }
    Ok(items)
}

fn uuids(params: &Value) -> Result<Value, ToolError> {
    let count = bounded(params, "count", 1, 1, MAX_COUNT)?;
    let uppercase = bool_param(params, "uppercase", false);
    let hyphens = bool_param(params, "hyphens", true);
    let list: Vec<String> = (0..count)
        .map(|_| {
            let id = uuid::Uuid::new_v4();
            let text = if hyphens {
                id.hyphenated().to_string()
            } else {
                id.simple().to_string()
            };
            if uppercase {
                text.to_uppercase()
            } else {
                text
            }
        })
        .collect();
    Ok(json!({"uuid": list.first(), "uuids": list}))
}

fn integers(params: &Value) -> Result<Value, ToolError> {
    let int = |field: &str| {
        params
            .get(field)
            .and_then(Value::as_i64)
            .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be an integer")))
    };
    let (min, max) = (int("min")?, int("max")?);
    if min > max {
        return Err(ToolError::invalid("max", "max must be at least min"));
    }
    let count = bounded(params, "count", 1, 1, MAX_COUNT)? as usize;
    let unique = bool_param(params, "unique", false);
    let range_size = (max as i128 - min as i128 + 1) as u128;
    let numbers: Vec<i64> = if !unique {
        (0..count).map(|_| OsRng.gen_range(min..=max)).collect()
    } else if (count as u128) > range_size {
        return Err(ToolError::invalid(
            "count",
            format!("cannot draw {count} different integers from a range of {range_size}"),
        ));
    } else if range_size <= SMALL_RANGE {
        let mut all: Vec<i64> = (min..=max).collect();
        let (picked, _) = all.partial_shuffle(&mut OsRng, count);
        picked.to_vec()
    } else {
        // The range is over ten times larger than count, so repeats are rare.
        let mut seen = HashSet::with_capacity(count);
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let n = OsRng.gen_range(min..=max);
            if seen.insert(n) {
                out.push(n);
            }
        }
        out
    };
    Ok(json!({"number": numbers.first(), "numbers": numbers, "min": min, "max": max}))
}

fn passwords(params: &Value) -> Result<Value, ToolError> {
    let length = bounded(params, "length", 16, MIN_PASSWORD, MAX_PASSWORD)? as usize;
    let count = bounded(params, "count", 1, 1, 100)?;
    let exclude_ambiguous = bool_param(params, "exclude_ambiguous", false);
    let classes: Vec<Vec<char>> = [
        ("lowercase", LOWER),
        ("uppercase", UPPER),
        ("digits", DIGITS),
        ("symbols", SYMBOLS),
    ]
    .into_iter()
    .filter(|(field, _)| bool_param(params, field, true))
    .map(|(_, chars)| {
        chars
            .chars()
            .filter(|c| !exclude_ambiguous || !AMBIGUOUS.contains(*c))
            .collect()
    })
    .collect();
    if classes.is_empty() {
        return Err(ToolError::invalid(
            "lowercase",
            "enable at least one kind of character",
        ));
    }
    let alphabet: Vec<char> = classes.iter().flatten().copied().collect();
    let list: Vec<String> = (0..count)
        .map(|_| {
            // One character from each kind, the rest from all of them, then shuffled.
            let mut chars: Vec<char> = classes
                .iter()
                .filter_map(|class| class.choose(&mut OsRng).copied())
                .collect();
            while chars.len() < length {
                if let Some(c) = alphabet.choose(&mut OsRng) {
                    chars.push(*c);
                }
            }
            chars.shuffle(&mut OsRng);
            chars.into_iter().collect()
        })
        .collect();
    let entropy_bits = (length as f64 * (alphabet.len() as f64).log2()).floor();
    Ok(
        json!({"password": list.first(), "passwords": list, "length": length, "entropy_bits": entropy_bits}),
    )
}

fn token(params: &Value) -> Result<Value, ToolError> {
    let bytes = bounded(params, "bytes", 32, 1, MAX_TOKEN_BYTES)? as usize;
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    let encoding = params
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or("hex");
    let text = match encoding {
        "hex" => buf.iter().map(|b| format!("{b:02x}")).collect(),
        "base64url" => URL_SAFE_NO_PAD.encode(&buf),
        other => {
            return Err(ToolError::invalid(
                "encoding",
                format!("unknown encoding \"{other}\"; use hex or base64url"),
            ))
        }
    };
    Ok(json!({"token": text, "bytes": bytes, "encoding": encoding}))
}

fn choice(params: &Value) -> Result<Value, ToolError> {
    let items = items_param(params)?;
    let count = bounded(params, "count", 1, 1, MAX_ITEMS as u64)? as usize;
    let unique = bool_param(params, "unique", true);
    let picked: Vec<Value> = if unique {
        if count > items.len() {
            return Err(ToolError::invalid(
                "count",
                format!("cannot pick {count} different items from {}; set unique to false to allow repeats", items.len()),
            ));
        }
        items.choose_multiple(&mut OsRng, count).cloned().collect()
    } else {
        (0..count)
            .filter_map(|_| items.choose(&mut OsRng).cloned())
            .collect()
    };
    Ok(json!({"choice": picked.first(), "choices": picked}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, run_tool};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    #[tokio::test]
    async fn generates_uuids() {
        let r = run("uuid", json!({"count": 50})).await.unwrap();
        let list: Vec<&str> = r["uuids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(list.len(), 50);
        assert_eq!(list.iter().collect::<HashSet<_>>().len(), 50);
        for id in &list {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4);
            assert_eq!(id.len(), 36);
        }
        let r = run("uuid", json!({"uppercase": true, "hyphens": false}))
            .await
            .unwrap();
        let id = r["uuid"].as_str().unwrap();
        assert_eq!(id.len(), 32);
        assert!(id
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
        let err = run("uuid", json!({"count": 0})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("count"));
    }

    #[tokio::test]
    async fn draws_integers_in_range() {
        let r = run("integer", json!({"min": -3, "max": 3, "count": 500}))
            .await
            .unwrap();
        let numbers: Vec<i64> = r["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert!(numbers.iter().all(|n| (-3..=3).contains(n)));
        assert_eq!(
            numbers.iter().collect::<HashSet<_>>().len(),
            7,
            "500 draws should hit all 7 values"
        );
        let r = run(
            "integer",
            json!({"min": 1, "max": 10, "count": 10, "unique": true}),
        )
        .await
        .unwrap();
        let mut numbers: Vec<i64> = r["numbers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        numbers.sort();
        assert_eq!(numbers, (1..=10).collect::<Vec<_>>());
        let r = run(
            "integer",
            json!({"min": i64::MIN, "max": i64::MAX, "count": 100, "unique": true}),
        )
        .await
        .unwrap();
        assert_eq!(r["numbers"].as_array().unwrap().len(), 100);
        let r = run("integer", json!({"min": 7, "max": 7})).await.unwrap();
        assert_eq!(r["number"], json!(7));
        let err = run("integer", json!({"min": 5, "max": 1}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("max"));
        let err = run(
            "integer",
            json!({"min": 1, "max": 3, "count": 4, "unique": true}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("count"));
    }

    #[tokio::test]
    async fn makes_strong_passwords() {
        let r = run("password", json!({"length": 24, "count": 20}))
            .await
            .unwrap();
        for p in r["passwords"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            assert_eq!(p.chars().count(), 24);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| SYMBOLS.contains(c)));
        }
        assert!(r["entropy_bits"].as_f64().unwrap() > 140.0);
        let r = run(
            "password",
            json!({"length": 64, "symbols": false, "uppercase": false, "exclude_ambiguous": true}),
        )
        .await
        .unwrap();
        let p = r["password"].as_str().unwrap();
        assert!(
            p.chars()
                .all(|c| (c.is_ascii_lowercase() || c.is_ascii_digit()) && !AMBIGUOUS.contains(c)),
            "{p}"
        );
        let none =
            json!({"lowercase": false, "uppercase": false, "digits": false, "symbols": false});
        let err = run("password", none).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("lowercase"));
        let err = run("password", json!({"length": 3})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("length"));
    }

    #[tokio::test]
    async fn makes_tokens() {
        let r = run("token", json!({})).await.unwrap();
        let t = r["token"].as_str().unwrap();
        assert_eq!(t.len(), 64);
        assert!(t.chars().all(|c| c.is_ascii_hexdigit()));
        let r = run("token", json!({"bytes": 16, "encoding": "base64url"}))
            .await
            .unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(r["token"].as_str().unwrap())
                .unwrap()
                .len(),
            16
        );
        let err = run("token", json!({"bytes": 100_000})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("bytes"));
    }

    #[tokio::test]
    async fn picks_and_shuffles() {
        let items = json!(["a", "b", "c", {"d": 1}]);
        let r = run("choice", json!({"items": items, "count": 4}))
            .await
            .unwrap();
        let picked = r["choices"].as_array().unwrap();
        assert_eq!(picked.len(), 4);
        for item in items.as_array().unwrap() {
            assert!(picked.contains(item));
        }
        let r = run(
            "choice",
            json!({"items": ["x"], "count": 3, "unique": false}),
        )
        .await
        .unwrap();
        assert_eq!(r["choices"], json!(["x", "x", "x"]));
        let err = run("choice", json!({"items": ["x"], "count": 2}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("count"));
        let err = run("choice", json!({"items": []})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("items"));

        let list: Vec<i64> = (0..100).collect();
        let r = run("shuffle", json!({"items": list})).await.unwrap();
        let mut shuffled: Vec<i64> = r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_ne!(
            shuffled, list,
            "a 100-item shuffle keeping the order is vanishingly unlikely"
        );
        shuffled.sort();
        assert_eq!(shuffled, list);
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("dice", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
