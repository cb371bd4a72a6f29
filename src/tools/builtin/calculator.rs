//! Calculator: arithmetic expressions, descriptive statistics and unit conversion.

mod evaluate;
mod statistics;
#[cfg(test)]
mod tests;
mod units;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::str_param;
use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use evaluate::evaluate;
use statistics::statistics;
use units::convert_units;

/// Longest expression accepted; keeps parsing and evaluation small.
const MAX_EXPRESSION_CHARS: usize = 1_000;
/// Deepest operator tree evaluated; evaluation recurses once per level.
const MAX_TREE_DEPTH: usize = 200;
/// Most numbers `statistics` accepts.
const MAX_NUMBERS: usize = 100_000;
/// Largest magnitude at which every integer is exactly representable as a float.
const EXACT_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

/// Evaluates arithmetic, summarises lists of numbers and converts units.
pub struct Tool;

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        BuiltinSpec {
            slug: "calculator",
            name: "calculator",
            display_name: "Calculator",
            description: "Evaluates arithmetic expressions exactly (e.g. \"(2 + 3) * sqrt(16) / 7\"), \
                computes descriptive statistics of a list of numbers, and converts values between \
                units of length, mass, temperature, data size, time, volume and speed.",
            category: "math",
            actions: vec![
                ActionSpec {
                    name: "evaluate",
                    description: "Evaluate an arithmetic expression. Supports + - * / % ^, parentheses, \
                        comparisons, the constants pi, e and tau, and functions such as sqrt, cbrt, abs, \
                        ln, log (natural, or log(x, base)), log10, log2, exp, sin, cos, tan, asin, acos, \
                        atan, atan2, pow, hypot, floor, ceil, round, min and max. Division is exact: 7 / 2 = 3.5.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "expression": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": MAX_EXPRESSION_CHARS,
                                "description": "The expression to evaluate, e.g. \"2 ^ 10 + sqrt(2) * pi\"."
                            }
                        },
                        "required": ["expression"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "statistics",
                    description: "Descriptive statistics of a list of numbers: count, sum, mean, median, \
                        min, max, range, quartiles, population and sample variance and standard deviation.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "numbers": {
                                "type": "array",
                                "items": {"type": "number"},
                                "minItems": 1,
                                "maxItems": MAX_NUMBERS,
                                "description": "The numbers to summarise."
                            }
                        },
                        "required": ["numbers"],
                        "additionalProperties": false
                    }),
                    price_credits: Credits::new(1),
                },
                ActionSpec {
                    name: "convert_units",
                    description: "Convert a value between units of the same kind. Length: m, km, cm, mm, um, \
                        nm, mi, yd, ft, in, nmi. Mass: kg, g, mg, ug, t, lb, oz, st. Temperature: C, F, K. \
                        Data size: bit, B, KB, MB, GB, TB, PB (powers of 1000), KiB, MiB, GiB, TiB, PiB \
                        (powers of 1024), kbit, Mbit, Gbit. Time: ns, us, ms, s, min, h, d, week, year. \
                        Volume: l, ml, cl, dl, m3, gal, qt, pt, cup, floz, tbsp, tsp (US). Speed: m/s, \
                        km/h, mph, knot, ft/s.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "value": {"type": "number", "description": "The quantity to convert."},
                            "from": {"type": "string", "minLength": 1, "maxLength": 32, "description": "The unit the value is in, e.g. \"km\"."},
                            "to": {"type": "string", "minLength": 1, "maxLength": 32, "description": "The unit to convert to, e.g. \"mi\"."}
                        },
                        "required": ["value", "from", "to"],
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
            "evaluate" => evaluate(str_param(params, "expression")?),
            "statistics" => statistics(params),
            "convert_units" => convert_units(
                num_param(params, "value")?,
                str_param(params, "from")?,
                str_param(params, "to")?,
            ),
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

fn num_param(params: &Value, field: &str) -> Result<f64, ToolError> {
    params
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a number")))
}
