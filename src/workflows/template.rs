//! `{{path}}` templates used in workflow steps. Paths start at `prompt`,
//! `metadata`, `steps.<id>.output`, `item` or `index`, and go down by field
//! name or array index: `{{steps.fetch.output.rows.0.name}}`. A template that
//! is exactly one reference keeps the referenced JSON value; anything else
//! renders to text. Written here because nothing this small exists as a crate
//! and full template engines allow far more than a step should.

use serde_json::{Map, Value};

/// One piece of a template.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Ref(Vec<String>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// The roots a reference may start at.
pub const ROOTS: [&str; 5] = ["prompt", "metadata", "steps", "item", "index"];

impl Template {
    /// Parses `text`; errors say what is wrong.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("unclosed '{{{{' in {text:?}"))?;
            let inner = after[..close].trim();
            if inner.is_empty() {
                return Err(format!("empty '{{{{}}}}' in {text:?}"));
            }
            let path: Vec<String> = inner.split('.').map(str::to_string).collect();
            if path.iter().any(|p| {
                p.is_empty()
                    || !p
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
            }) {
                return Err(format!(
                    "bad reference {{{{{inner}}}}}: use names and indexes joined by dots"
                ));
            }
            if !ROOTS.contains(&path[0].as_str()) {
                return Err(format!(
                    "unknown reference {{{{{inner}}}}}: it must start with one of {}",
                    ROOTS.join(", ")
                ));
            }
            if path[0] == "steps" && (path.len() < 3 || path[2] != "output") {
                return Err(format!(
                    "bad reference {{{{{inner}}}}}: use steps.<id>.output"
                ));
            }
            parts.push(Part::Ref(path));
            rest = &after[close + 2..];
        }
        if rest.contains("}}") {
            return Err(format!("'}}}}' without '{{{{' in {text:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The references, as paths.
    pub fn refs(&self) -> impl Iterator<Item = &[String]> {
        self.parts.iter().filter_map(|p| match p {
            Part::Ref(path) => Some(path.as_slice()),
            Part::Text(_) => None,
        })
    }

    /// Renders against `scope`: the value itself for a lone reference, text
    /// otherwise. Stops as soon as the result would pass `limit` bytes (as
    /// JSON for a lone reference, as text otherwise), before allocating more.
    pub fn render(&self, scope: &Value, limit: usize) -> Result<Value, TooLarge> {
        if let [Part::Ref(path)] = self.parts.as_slice() {
            let v = lookup(scope, path).unwrap_or(&Value::Null);
            json_size(v, limit)?;
            return Ok(v.clone());
        }
        let mut out = Bounded::new(limit);
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push(t.as_bytes())?,
                Part::Ref(path) => match lookup(scope, path) {
                    Some(Value::String(s)) => out.push(s.as_bytes())?,
                    Some(Value::Null) | None => {}
                    Some(v) => {
                        serde_json::to_writer(&mut out, v).map_err(|_| TooLarge { limit })?
                    }
                },
            }
        }
        Ok(Value::String(out.into_string()))
    }
}

/// A rendered value or a step output would pass its size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the result would pass {limit} bytes")]
pub struct TooLarge {
    pub limit: usize,
}

/// A buffer that refuses to grow past its limit.
struct Bounded {
    buf: Vec<u8>,
    limit: usize,
}

impl Bounded {
    fn new(limit: usize) -> Self {
        Bounded {
            buf: Vec::new(),
            limit,
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        if self.buf.len().saturating_add(bytes.len()) > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn into_string(self) -> String {
        // Only whole UTF-8 strings and serde_json output were pushed.
        String::from_utf8(self.buf)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.push(bytes)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Counts bytes without keeping them.
struct Counter {
    n: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.n = self.n.saturating_add(bytes.len());
        if self.n > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of `v` as JSON, or [`TooLarge`] as soon as it passes `limit`;
/// nothing is allocated for the count.
pub fn json_size(v: &Value, limit: usize) -> Result<usize, TooLarge> {
    let mut counter = Counter { n: 0, limit };
    serde_json::to_writer(&mut counter, v).map_err(|_| TooLarge { limit })?;
    Ok(counter.n)
}

/// Follows a path into a value.
pub fn lookup<'a>(scope: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut v = scope;
    for seg in path {
        v = match v {
            Value::Object(m) => m.get(seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Every template among the string leaves of a JSON value.
pub fn templates_in(v: &Value) -> Result<Vec<Template>, String> {
    let mut out = Vec::new();
    collect(v, &mut out)?;
    Ok(out)
}

fn collect(v: &Value, out: &mut Vec<Template>) -> Result<(), String> {
    match v {
        Value::String(s) => out.push(Template::parse(s)?),
        Value::Array(a) => {
            for x in a {
                collect(x, out)?;
            }
        }
        Value::Object(m) => {
            for x in m.values() {
                collect(x, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Renders every string leaf of a JSON value; all of them together may take
/// at most `room` bytes, which is reduced by what they take.
pub fn render_value(v: &Value, scope: &Value, room: &mut usize) -> Result<Value, TooLarge> {
    Ok(match v {
        Value::String(s) => {
            let rendered = match Template::parse(s) {
                Ok(t) => t.render(scope, *room)?,
                Err(_) => v.clone(),
            };
            *room -= json_size(&rendered, *room)?;
            rendered
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| render_value(x, scope, room))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), render_value(x, scope, room)?)))
                .collect::<Result<Map<_, _>, TooLarge>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lone_references_keep_their_value_and_mixed_text_renders() {
        let scope =
            json!({"prompt": "hi", "steps": {"a": {"output": {"n": 3, "list": [1, {"x": "y"}]}}}});
        assert_eq!(
            Template::parse("{{steps.a.output.n}}")
                .unwrap()
                .render(&scope, 1024)
                .unwrap(),
            json!(3)
        );
        assert_eq!(
            Template::parse("{{ steps.a.output.list.1.x }}")
                .unwrap()
                .render(&scope, 1024)
                .unwrap(),
            json!("y")
        );
        assert_eq!(
            Template::parse("say {{prompt}}: {{steps.a.output.n}}!")
                .unwrap()
                .render(&scope, 1024)
                .unwrap(),
            json!("say hi: 3!")
        );
        assert_eq!(
            Template::parse("{{metadata.missing}}")
                .unwrap()
                .render(&scope, 1024)
                .unwrap(),
            Value::Null
        );
        assert_eq!(
            Template::parse("plain")
                .unwrap()
                .render(&scope, 1024)
                .unwrap(),
            json!("plain")
        );
        let params = json!({"a": "{{steps.a.output.list}}", "b": ["{{prompt}}!"]});
        assert_eq!(
            render_value(&params, &scope, &mut 1024).unwrap(),
            json!({"a": [1, {"x": "y"}], "b": ["hi!"]})
        );
    }

    #[test]
    fn rendering_stops_at_the_limit_before_growing_past_it() {
        let big = "x".repeat(1000);
        let scope = json!({"prompt": big, "steps": {"a": {"output": {"list": [big, big]}}}});
        let ten = Template::parse(&"{{prompt}}".repeat(10)).unwrap();
        assert_eq!(
            ten.render(&scope, 10_000).unwrap(),
            json!("x".repeat(10_000))
        );
        assert_eq!(ten.render(&scope, 9_999), Err(TooLarge { limit: 9_999 }));
        let lone = Template::parse("{{steps.a.output.list}}").unwrap();
        assert!(lone.render(&scope, 2_000).is_err());
        assert!(lone.render(&scope, 2_010).is_ok());
        let mixed = Template::parse("list: {{steps.a.output.list}}").unwrap();
        assert!(mixed.render(&scope, 2_000).is_err());
        assert_eq!(json_size(&json!({"a": [1, 2]}), 100), Ok(11));
        assert!(json_size(&json!({"a": [1, 2]}), 10).is_err());
        // Leaves of one value share the room.
        let params = json!({"a": "{{prompt}}", "b": "{{prompt}}"});
        assert!(render_value(&params, &scope, &mut 2_004).is_ok());
        assert!(render_value(&params, &scope, &mut 2_003).is_err());
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for bad in [
            "{{prompt",
            "{{}}",
            "{{secrets.key}}",
            "{{steps.a}}",
            "{{a b}}",
            "x }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
