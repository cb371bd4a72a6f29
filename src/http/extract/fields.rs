//! The reader of a JSON object's fields, which validates a body field by
//! field into pydantic's error codes and collects every error before failing.

use serde_json::{json, Map, Value};

use super::parse_int_str;
use crate::http::error::{ApiError, FieldError};

/// Reads fields of one JSON object, collecting every error before failing.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    whole: &'a Value,
    prefix: Vec<Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    /// The request body, which must be an object.
    pub fn body(value: &'a Value) -> Result<Self, ApiError> {
        match value.as_object() {
            Some(obj) => Ok(Fields {
                obj,
                whole: value,
                prefix: vec!["body".into()],
                errors: Vec::new(),
            }),
            None => Err(ApiError::field(FieldError::new(
                vec!["body".into()],
                "model_attributes_type",
                "Input should be a valid dictionary or object to extract fields from",
                value.clone(),
            ))),
        }
    }

    fn loc(&self, name: &str) -> Vec<Value> {
        let mut loc = self.prefix.clone();
        loc.push(name.into());
        loc
    }

    /// Records an error against a field.
    pub fn error(
        &mut self,
        name: &str,
        kind: &'static str,
        msg: impl Into<String>,
        input: Value,
        ctx: Option<Value>,
    ) {
        let mut e = FieldError::new(self.loc(name), kind, msg, input);
        e.ctx = ctx;
        self.errors.push(e);
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    fn missing(&mut self, name: &str) {
        let whole = self.whole.clone();
        self.error(name, "missing", "Field required", whole, None);
    }

    /// True when the field is there and not null.
    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }

    pub fn opt_str(&mut self, name: &str) -> Option<String> {
        match self.present(name)? {
            Value::String(s) => Some(s.clone()),
            other => {
                let other = other.clone();
                self.error(
                    name,
                    "string_type",
                    "Input should be a valid string",
                    other,
                    None,
                );
                None
            }
        }
    }

    pub fn req_str(&mut self, name: &str) -> Option<String> {
        if !self.has(name) {
            self.missing(name);
            return None;
        }
        self.opt_str(name)
    }

    /// A string of `min..=max` characters.
    pub fn str_len(
        &mut self,
        name: &str,
        value: Option<String>,
        min: usize,
        max: usize,
    ) -> Option<String> {
        let s = value?;
        let n = s.chars().count();
        if n < min {
            let unit = if min == 1 { "character" } else { "characters" };
            self.error(
                name,
                "string_too_short",
                format!("String should have at least {min} {unit}"),
                Value::String(s),
                Some(json!({"min_length": min})),
            );
            None
        } else if n > max {
            self.error(
                name,
                "string_too_long",
                format!("String should have at most {max} characters"),
                Value::String(s),
                Some(json!({"max_length": max})),
            );
            None
        } else {
            Some(s)
        }
    }

    pub fn opt_int(&mut self, name: &str) -> Option<i64> {
        let v = self.present(name)?.clone();
        match parse_int(&v) {
            Ok(n) => Some(n),
            Err((kind, msg)) => {
                self.error(name, kind, msg, v, None);
                None
            }
        }
    }

    pub fn req_int(&mut self, name: &str) -> Option<i64> {
        if !self.has(name) {
            self.missing(name);
            return None;
        }
        self.opt_int(name)
    }

    /// An integer greater than zero.
    pub fn positive(&mut self, name: &str, value: Option<i64>) -> Option<i64> {
        let n = value?;
        if n <= 0 {
            self.error(
                name,
                "greater_than",
                "Input should be greater than 0",
                n.into(),
                Some(json!({"gt": 0})),
            );
            return None;
        }
        Some(n)
    }

    /// An integer in `min..=max`.
    pub fn int_range(&mut self, name: &str, value: Option<i64>, min: i64, max: i64) -> Option<i64> {
        let n = value?;
        let (kind, msg, ctx) = if n < min {
            (
                "greater_than_equal",
                format!("Input should be greater than or equal to {min}"),
                json!({"ge": min}),
            )
        } else if n > max {
            (
                "less_than_equal",
                format!("Input should be less than or equal to {max}"),
                json!({"le": max}),
            )
        } else {
            return Some(n);
        };
        self.error(name, kind, msg, n.into(), Some(ctx));
        None
    }

    /// One of `choices`, by its name; an `enum` error names them all.
    pub fn opt_choice<T: Copy>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let s = self.opt_str(name)?;
        if let Some((_, v)) = choices.iter().find(|(n, _)| *n == s) {
            return Some(*v);
        }
        let quoted: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
        let expected = match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => quoted.concat(),
        };
        self.error(
            name,
            "enum",
            format!("Input should be {expected}"),
            Value::String(s),
            Some(json!({ "expected": expected })),
        );
        None
    }

    /// A list of at most `max` strings; errors are located at the field or
    /// at the item.
    pub fn opt_string_list(&mut self, name: &str, max: usize) -> Option<Vec<String>> {
        let string = |v: &Value| v.as_str().map(str::to_string);
        self.opt_list(
            name,
            max,
            string,
            "string_type",
            "Input should be a valid string",
        )
    }

    /// A list of at most `max` JSON objects, located as strings' lists are.
    pub fn opt_object_list(&mut self, name: &str, max: usize) -> Option<Vec<Map<String, Value>>> {
        let object = |v: &Value| v.as_object().cloned();
        self.opt_list(
            name,
            max,
            object,
            "dict_type",
            "Input should be a valid dictionary",
        )
    }

    /// True when the field is there and null.
    pub fn is_null(&self, name: &str) -> bool {
        self.obj.get(name).is_some_and(Value::is_null)
    }

    fn opt_list<T>(
        &mut self,
        name: &str,
        max: usize,
        item: impl Fn(&Value) -> Option<T>,
        kind: &'static str,
        msg: &'static str,
    ) -> Option<Vec<T>> {
        let items = match self.present(name)? {
            Value::Array(items) => items,
            other => {
                let other = other.clone();
                self.error(
                    name,
                    "list_type",
                    "Input should be a valid list",
                    other,
                    None,
                );
                return None;
            }
        };
        if items.len() > max {
            self.error(
                name,
                "too_long",
                format!(
                    "List should have at most {max} items after validation, not {}",
                    items.len()
                ),
                Value::Null,
                Some(
                    json!({"field_type": "List", "max_length": max, "actual_length": items.len()}),
                ),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut valid = true;
        for (i, v) in items.iter().enumerate() {
            match item(v) {
                Some(x) => out.push(x),
                None => {
                    valid = false;
                    let mut loc = self.loc(name);
                    loc.push(i.into());
                    self.errors.push(FieldError::new(loc, kind, msg, v.clone()));
                }
            }
        }
        valid.then_some(out)
    }

    pub fn req_object(&mut self, name: &str) -> Option<Map<String, Value>> {
        if !self.has(name) {
            self.missing(name);
            return None;
        }
        self.opt_object(name)
    }

    pub fn opt_object(&mut self, name: &str) -> Option<Map<String, Value>> {
        match self.present(name)? {
            Value::Object(m) => Some(m.clone()),
            other => {
                let other = other.clone();
                self.error(
                    name,
                    "dict_type",
                    "Input should be a valid dictionary",
                    other,
                    None,
                );
                None
            }
        }
    }

    /// An RFC 3339 timestamp.
    pub fn opt_datetime(&mut self, name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        let v = self.present(name)?.clone();
        match v.as_str().map(chrono::DateTime::parse_from_rfc3339) {
            Some(Ok(t)) => Some(t.with_timezone(&chrono::Utc)),
            Some(Err(e)) => {
                self.error(
                    name,
                    "datetime_from_date_parsing",
                    format!("Input should be a valid datetime, {e}"),
                    v,
                    Some(json!({"error": e.to_string()})),
                );
                None
            }
            None => {
                self.error(
                    name,
                    "datetime_type",
                    "Input should be a valid datetime",
                    v,
                    None,
                );
                None
            }
        }
    }

    /// Fails with every error recorded so far.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// pydantic's lax integer parsing, with its error codes.
fn parse_int(v: &Value) -> Result<i64, (&'static str, &'static str)> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(i)
            } else if let Some(f) = n.as_f64() {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    Ok(f as i64)
                } else if f.fract() != 0.0 {
                    Err((
                        "int_from_float",
                        "Input should be a valid integer, got a number with a fractional part",
                    ))
                } else {
                    Err((
                        "int_parsing_size",
                        "Unable to parse input string as an integer, exceeded maximum size",
                    ))
                }
            } else {
                Err((
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                ))
            }
        }
        Value::String(s) => parse_int_str(s),
        _ => Err(("int_type", "Input should be a valid integer")),
    }
}
