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

    /// Renders against `scope`: the value itself for a lone reference, text otherwise.
    pub fn render(&self, scope: &Value) -> Value {
        if let [Part::Ref(path)] = self.parts.as_slice() {
            return lookup(scope, path).cloned().unwrap_or(Value::Null);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Ref(path) => match lookup(scope, path) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {}
                    Some(v) => out.push_str(&v.to_string()),
                },
            }
        }
        Value::String(out)
    }
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

/// Renders every string leaf of a JSON value.
pub fn render_value(v: &Value, scope: &Value) -> Value {
    match v {
        Value::String(s) => Template::parse(s)
            .map(|t| t.render(scope))
            .unwrap_or_else(|_| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| render_value(x, scope)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), render_value(x, scope)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
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
                .render(&scope),
            json!(3)
        );
        assert_eq!(
            Template::parse("{{ steps.a.output.list.1.x }}")
                .unwrap()
                .render(&scope),
            json!("y")
        );
        assert_eq!(
            Template::parse("say {{prompt}}: {{steps.a.output.n}}!")
                .unwrap()
                .render(&scope),
            json!("say hi: 3!")
        );
        assert_eq!(
            Template::parse("{{metadata.missing}}")
                .unwrap()
                .render(&scope),
            Value::Null
        );
        assert_eq!(
            Template::parse("plain").unwrap().render(&scope),
            json!("plain")
        );
        let params = json!({"a": "{{steps.a.output.list}}", "b": ["{{prompt}}!"]});
        assert_eq!(
            render_value(&params, &scope),
            json!({"a": [1, {"x": "y"}], "b": ["hi!"]})
        );
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
