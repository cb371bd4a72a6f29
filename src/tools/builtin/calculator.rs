//! Calculator: arithmetic expressions, descriptive statistics and unit conversion.

use async_trait::async_trait;
use evalexpr::{
    ContextWithMutableFunctions, ContextWithMutableVariables, DefaultNumericTypes, EvalexprError,
    Function, HashMapContext, Node, Operator, Value as EValue,
};
use serde_json::{json, Value};

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

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
                    price_credits: 1,
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
                    price_credits: 1,
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

fn str_param<'a>(params: &'a Value, field: &str) -> Result<&'a str, ToolError> {
    params
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a string")))
}

fn num_param(params: &Value, field: &str) -> Result<f64, ToolError> {
    params
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be a number")))
}

// ---- evaluate ----

/// Short function names agents write, mapped to the evaluator's own names.
fn function_alias(name: &str) -> Option<&'static str> {
    Some(match name {
        "sqrt" => "math::sqrt",
        "cbrt" => "math::cbrt",
        "abs" => "math::abs",
        "ln" => "math::ln",
        "log10" => "math::log10",
        "log2" => "math::log2",
        "exp" => "math::exp",
        "exp2" => "math::exp2",
        "pow" => "math::pow",
        "hypot" => "math::hypot",
        "sin" => "math::sin",
        "cos" => "math::cos",
        "tan" => "math::tan",
        "asin" => "math::asin",
        "acos" => "math::acos",
        "atan" => "math::atan",
        "atan2" => "math::atan2",
        "sinh" => "math::sinh",
        "cosh" => "math::cosh",
        "tanh" => "math::tanh",
        _ => return None,
    })
}

/// The constants and the one- or two-argument `log` the expressions may use.
fn evaluation_context() -> Result<HashMapContext<DefaultNumericTypes>, ToolError> {
    let mut ctx = HashMapContext::<DefaultNumericTypes>::new();
    let fail = |e: EvalexprError| ToolError::Failed(format!("calculator set-up failed: {e}"));
    for (name, value) in [
        ("pi", std::f64::consts::PI),
        ("e", std::f64::consts::E),
        ("tau", std::f64::consts::TAU),
    ] {
        ctx.set_value(name.to_string(), EValue::Float(value))
            .map_err(fail)?;
    }
    ctx.set_function(
        "log".to_string(),
        Function::new(|arg: &EValue| match arg {
            EValue::Tuple(args) if args.len() == 2 => Ok(EValue::Float(
                args[0].as_number()?.log(args[1].as_number()?),
            )),
            other => Ok(EValue::Float(other.as_number()?.ln())),
        }),
    )
    .map_err(fail)?;
    Ok(ctx)
}

/// Depth of the operator tree, walked without recursion.
fn tree_depth(root: &Node) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(root, 1usize)];
    while let Some((node, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        stack.extend(node.children().iter().map(|c| (c, depth + 1)));
    }
    deepest
}

/// Turns every integer literal into a float, so the tree divides exactly.
fn make_float_tree(root: &mut Node) {
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        if let Operator::Const { value } = node.operator_mut() {
            if let EValue::Int(i) = value {
                *value = EValue::Float(*i as f64);
            }
        }
        stack.extend(node.children_mut().iter_mut());
    }
}

/// Keeps the integer result where the exact (float) evaluation agrees with it,
/// so `2 + 3` answers 5 while `7 / 2` answers 3.5.
fn reconcile(int: &EValue, float: &EValue) -> EValue {
    match (int, float) {
        (EValue::Int(i), EValue::Float(f)) => {
            let i_f = *i as f64;
            if (i_f - f).abs() <= 1e-9 * i_f.abs().max(1.0) {
                EValue::Int(*i)
            } else {
                EValue::Float(*f)
            }
        }
        (EValue::Tuple(a), EValue::Tuple(b)) if a.len() == b.len() => {
            EValue::Tuple(a.iter().zip(b).map(|(x, y)| reconcile(x, y)).collect())
        }
        _ => float.clone(),
    }
}

fn to_json(value: &EValue) -> Result<Value, ToolError> {
    Ok(match value {
        EValue::Int(i) => json!(i),
        EValue::Float(f) => {
            if !f.is_finite() {
                return Err(ToolError::invalid(
                    "expression",
                    "the result is not a finite number (division by zero, or out of range)",
                ));
            }
            if f.fract() == 0.0 && f.abs() < EXACT_FLOAT_INT {
                json!(*f as i64)
            } else {
                json!(f)
            }
        }
        EValue::Boolean(b) => json!(b),
        EValue::String(s) => json!(s),
        EValue::Tuple(items) => Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        EValue::Empty => {
            return Err(ToolError::invalid(
                "expression",
                "the expression has no value",
            ))
        }
    })
}

fn describe_error(err: &EvalexprError) -> String {
    match err {
        EvalexprError::DivisionError { .. } | EvalexprError::ModulationError { .. } => {
            "division by zero".to_string()
        }
        EvalexprError::VariableIdentifierNotFound(name) => {
            format!("unknown name \"{name}\" (known constants: pi, e, tau)")
        }
        EvalexprError::FunctionIdentifierNotFound(name) => format!("unknown function \"{name}\""),
        EvalexprError::ContextNotMutable => "assignments are not supported".to_string(),
        other => other.to_string(),
    }
}

fn evaluate(expression: &str) -> Result<Value, ToolError> {
    if expression.trim().is_empty() {
        return Err(ToolError::invalid("expression", "the expression is empty"));
    }
    if expression.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(ToolError::invalid(
            "expression",
            format!("the expression is longer than {MAX_EXPRESSION_CHARS} characters"),
        ));
    }
    let mut tree =
        evalexpr::build_operator_tree::<DefaultNumericTypes>(expression).map_err(|e| {
            ToolError::invalid("expression", format!("cannot parse the expression: {e}"))
        })?;
    if tree_depth(&tree) > MAX_TREE_DEPTH {
        return Err(ToolError::invalid(
            "expression",
            "the expression is nested too deeply",
        ));
    }
    for name in tree.iter_function_identifiers_mut() {
        if let Some(full) = function_alias(name) {
            *name = full.to_string();
        }
    }
    let ctx = evaluation_context()?;
    let mut float_tree = tree.clone();
    make_float_tree(&mut float_tree);

    let int_result = tree.eval_with_context(&ctx);
    let float_result = float_tree.eval_with_context(&ctx);
    let value = match (&int_result, float_result) {
        (Ok(int), Ok(float)) => reconcile(int, &float),
        (Err(EvalexprError::DivisionError { .. } | EvalexprError::ModulationError { .. }), _) => {
            return Err(ToolError::invalid("expression", "division by zero"));
        }
        (_, Ok(float)) => float,
        (Ok(int), Err(_)) => int.clone(),
        (Err(e), Err(_)) => {
            return Err(ToolError::invalid(
                "expression",
                format!("cannot evaluate the expression: {}", describe_error(e)),
            ))
        }
    };
    let result = to_json(&value)?;
    let result_type = match &result {
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "float",
        Value::Bool(_) => "boolean",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        _ => "other",
    };
    Ok(json!({"expression": expression, "result": result, "result_type": result_type}))
}

// ---- statistics ----

/// The value at fraction `q` of sorted data, interpolating linearly between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lower = pos.floor() as usize;
    let upper = pos.ceil() as usize;
    sorted[lower] + (sorted[upper] - sorted[lower]) * (pos - lower as f64)
}

fn statistics(params: &Value) -> Result<Value, ToolError> {
    let raw = params
        .get("numbers")
        .and_then(Value::as_array)
        .ok_or_else(|| ToolError::invalid("numbers", "\"numbers\" must be an array of numbers"))?;
    if raw.is_empty() {
        return Err(ToolError::invalid("numbers", "give at least one number"));
    }
    if raw.len() > MAX_NUMBERS {
        return Err(ToolError::invalid(
            "numbers",
            format!("give at most {MAX_NUMBERS} numbers"),
        ));
    }
    let mut numbers = Vec::with_capacity(raw.len());
    for (i, v) in raw.iter().enumerate() {
        let n = v
            .as_f64()
            .ok_or_else(|| ToolError::invalid("numbers", format!("item {i} is not a number")))?;
        numbers.push(n);
    }
    let count = numbers.len();
    let n = count as f64;
    let sum: f64 = numbers.iter().sum();
    if !sum.is_finite() {
        return Err(ToolError::invalid(
            "numbers",
            "the numbers are too large to sum",
        ));
    }
    let mean = sum / n;
    let squares: f64 = numbers.iter().map(|x| (x - mean).powi(2)).sum();
    let variance = squares / n;
    let sample_variance = (count > 1).then(|| squares / (n - 1.0));
    let mut sorted = numbers;
    sorted.sort_by(f64::total_cmp);
    let min = sorted[0];
    let max = sorted[count - 1];
    Ok(json!({
        "count": count,
        "sum": sum,
        "mean": mean,
        "median": quantile(&sorted, 0.5),
        "min": min,
        "max": max,
        "range": max - min,
        "q1": quantile(&sorted, 0.25),
        "q3": quantile(&sorted, 0.75),
        "variance": variance,
        "stddev": variance.sqrt(),
        "sample_variance": sample_variance,
        "sample_stddev": sample_variance.map(f64::sqrt),
    }))
}

// ---- convert_units ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Length,
    Mass,
    Temperature,
    Data,
    Time,
    Volume,
    Speed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Length => "length",
            Kind::Mass => "mass",
            Kind::Temperature => "temperature",
            Kind::Data => "data size",
            Kind::Time => "time",
            Kind::Volume => "volume",
            Kind::Speed => "speed",
        }
    }
}

/// A unit: its canonical symbol, its kind and how many base units one of it is
/// (metre, kilogram, byte, second, litre, metre per second; unused for temperature).
struct Unit {
    symbol: &'static str,
    kind: Kind,
    factor: f64,
}

/// Lower-case spellings accepted for each unit.
const UNITS: &[(&[&str], &str, Kind, f64)] = &[
    (
        &["m", "meter", "meters", "metre", "metres"],
        "m",
        Kind::Length,
        1.0,
    ),
    (
        &["km", "kilometer", "kilometers", "kilometre", "kilometres"],
        "km",
        Kind::Length,
        1000.0,
    ),
    (
        &[
            "cm",
            "centimeter",
            "centimeters",
            "centimetre",
            "centimetres",
        ],
        "cm",
        Kind::Length,
        0.01,
    ),
    (
        &[
            "mm",
            "millimeter",
            "millimeters",
            "millimetre",
            "millimetres",
        ],
        "mm",
        Kind::Length,
        0.001,
    ),
    (
        &["um", "µm", "micrometer", "micrometers", "micron", "microns"],
        "um",
        Kind::Length,
        1e-6,
    ),
    (&["nm", "nanometer", "nanometers"], "nm", Kind::Length, 1e-9),
    (&["mi", "mile", "miles"], "mi", Kind::Length, 1609.344),
    (&["yd", "yard", "yards"], "yd", Kind::Length, 0.9144),
    (&["ft", "foot", "feet"], "ft", Kind::Length, 0.3048),
    (&["in", "inch", "inches"], "in", Kind::Length, 0.0254),
    (
        &["nmi", "nautical mile", "nautical miles", "nautical_mile"],
        "nmi",
        Kind::Length,
        1852.0,
    ),
    (&["kg", "kilogram", "kilograms"], "kg", Kind::Mass, 1.0),
    (&["g", "gram", "grams"], "g", Kind::Mass, 0.001),
    (&["mg", "milligram", "milligrams"], "mg", Kind::Mass, 1e-6),
    (
        &["ug", "µg", "mcg", "microgram", "micrograms"],
        "ug",
        Kind::Mass,
        1e-9,
    ),
    (
        &["t", "tonne", "tonnes", "metric ton", "metric_ton"],
        "t",
        Kind::Mass,
        1000.0,
    ),
    (
        &["lb", "lbs", "pound", "pounds"],
        "lb",
        Kind::Mass,
        0.453_592_37,
    ),
    (
        &["oz", "ounce", "ounces"],
        "oz",
        Kind::Mass,
        0.028_349_523_125,
    ),
    (&["st", "stone", "stones"], "st", Kind::Mass, 6.350_293_18),
    (&["c", "°c", "celsius", "degc"], "C", Kind::Temperature, 0.0),
    (
        &["f", "°f", "fahrenheit", "degf"],
        "F",
        Kind::Temperature,
        0.0,
    ),
    (&["k", "kelvin"], "K", Kind::Temperature, 0.0),
    (&["bit", "bits"], "bit", Kind::Data, 0.125),
    (&["kbit", "kilobit", "kilobits"], "kbit", Kind::Data, 125.0),
    (
        &["mbit", "megabit", "megabits"],
        "Mbit",
        Kind::Data,
        125_000.0,
    ),
    (
        &["gbit", "gigabit", "gigabits"],
        "Gbit",
        Kind::Data,
        125_000_000.0,
    ),
    (&["b", "byte", "bytes"], "B", Kind::Data, 1.0),
    (&["kb", "kilobyte", "kilobytes"], "KB", Kind::Data, 1e3),
    (&["mb", "megabyte", "megabytes"], "MB", Kind::Data, 1e6),
    (&["gb", "gigabyte", "gigabytes"], "GB", Kind::Data, 1e9),
    (&["tb", "terabyte", "terabytes"], "TB", Kind::Data, 1e12),
    (&["pb", "petabyte", "petabytes"], "PB", Kind::Data, 1e15),
    (&["kib", "kibibyte", "kibibytes"], "KiB", Kind::Data, 1024.0),
    (
        &["mib", "mebibyte", "mebibytes"],
        "MiB",
        Kind::Data,
        1_048_576.0,
    ),
    (
        &["gib", "gibibyte", "gibibytes"],
        "GiB",
        Kind::Data,
        1_073_741_824.0,
    ),
    (
        &["tib", "tebibyte", "tebibytes"],
        "TiB",
        Kind::Data,
        1_099_511_627_776.0,
    ),
    (
        &["pib", "pebibyte", "pebibytes"],
        "PiB",
        Kind::Data,
        1_125_899_906_842_624.0,
    ),
    (&["ns", "nanosecond", "nanoseconds"], "ns", Kind::Time, 1e-9),
    (
        &["us", "µs", "microsecond", "microseconds"],
        "us",
        Kind::Time,
        1e-6,
    ),
    (
        &["ms", "millisecond", "milliseconds"],
        "ms",
        Kind::Time,
        1e-3,
    ),
    (
        &["s", "sec", "secs", "second", "seconds"],
        "s",
        Kind::Time,
        1.0,
    ),
    (
        &["min", "mins", "minute", "minutes"],
        "min",
        Kind::Time,
        60.0,
    ),
    (
        &["h", "hr", "hrs", "hour", "hours"],
        "h",
        Kind::Time,
        3600.0,
    ),
    (&["d", "day", "days"], "d", Kind::Time, 86_400.0),
    (&["wk", "week", "weeks"], "week", Kind::Time, 604_800.0),
    (&["yr", "year", "years"], "year", Kind::Time, 31_557_600.0),
    (
        &["l", "liter", "liters", "litre", "litres"],
        "l",
        Kind::Volume,
        1.0,
    ),
    (
        &[
            "ml",
            "milliliter",
            "milliliters",
            "millilitre",
            "millilitres",
            "cm3",
        ],
        "ml",
        Kind::Volume,
        1e-3,
    ),
    (
        &["cl", "centiliter", "centilitre"],
        "cl",
        Kind::Volume,
        1e-2,
    ),
    (&["dl", "deciliter", "decilitre"], "dl", Kind::Volume, 1e-1),
    (
        &["m3", "cubic meter", "cubic metre"],
        "m3",
        Kind::Volume,
        1000.0,
    ),
    (
        &["gal", "gallon", "gallons"],
        "gal",
        Kind::Volume,
        3.785_411_784,
    ),
    (
        &["qt", "quart", "quarts"],
        "qt",
        Kind::Volume,
        0.946_352_946,
    ),
    (&["pt", "pint", "pints"], "pt", Kind::Volume, 0.473_176_473),
    (&["cup", "cups"], "cup", Kind::Volume, 0.236_588_236_5),
    (
        &["floz", "fl oz", "fluid ounce", "fluid ounces"],
        "floz",
        Kind::Volume,
        0.029_573_529_562_5,
    ),
    (
        &["tbsp", "tablespoon", "tablespoons"],
        "tbsp",
        Kind::Volume,
        0.014_786_764_781_25,
    ),
    (
        &["tsp", "teaspoon", "teaspoons"],
        "tsp",
        Kind::Volume,
        0.004_928_921_593_75,
    ),
    (
        &["m/s", "mps", "meters per second", "metres per second"],
        "m/s",
        Kind::Speed,
        1.0,
    ),
    (
        &[
            "km/h",
            "kph",
            "kmh",
            "kilometers per hour",
            "kilometres per hour",
        ],
        "km/h",
        Kind::Speed,
        1.0 / 3.6,
    ),
    (
        &["mph", "mi/h", "miles per hour"],
        "mph",
        Kind::Speed,
        0.447_04,
    ),
    (
        &["kn", "kt", "knot", "knots"],
        "knot",
        Kind::Speed,
        1852.0 / 3600.0,
    ),
    (
        &["ft/s", "fps", "feet per second"],
        "ft/s",
        Kind::Speed,
        0.3048,
    ),
];

fn find_unit(field: &str, raw: &str) -> Result<Unit, ToolError> {
    let wanted = raw.trim().to_lowercase();
    UNITS
        .iter()
        .find(|(aliases, ..)| aliases.contains(&wanted.as_str()))
        .map(|(_, symbol, kind, factor)| Unit {
            symbol,
            kind: *kind,
            factor: *factor,
        })
        .ok_or_else(|| {
            ToolError::invalid(
                field,
                format!("unknown unit \"{raw}\"; see the action description for known units"),
            )
        })
}

fn to_kelvin(value: f64, unit: &str) -> f64 {
    match unit {
        "C" => value + 273.15,
        "F" => (value - 32.0) * 5.0 / 9.0 + 273.15,
        _ => value,
    }
}

fn from_kelvin(kelvin: f64, unit: &str) -> f64 {
    match unit {
        "C" => kelvin - 273.15,
        "F" => (kelvin - 273.15) * 9.0 / 5.0 + 32.0,
        _ => kelvin,
    }
}

/// Rounds to 12 significant digits, dropping binary noise such as 0.30000000000000004.
fn tidy(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

fn convert_units(value: f64, from: &str, to: &str) -> Result<Value, ToolError> {
    let from_unit = find_unit("from", from)?;
    let to_unit = find_unit("to", to)?;
    if from_unit.kind != to_unit.kind {
        return Err(ToolError::invalid(
            "to",
            format!(
                "cannot convert {} ({}) to {} ({})",
                from_unit.symbol,
                from_unit.kind.name(),
                to_unit.symbol,
                to_unit.kind.name()
            ),
        ));
    }
    let result = if from_unit.kind == Kind::Temperature {
        let kelvin = to_kelvin(value, from_unit.symbol);
        if kelvin < -1e-9 {
            return Err(ToolError::invalid(
                "value",
                "the temperature is below absolute zero",
            ));
        }
        from_kelvin(kelvin, to_unit.symbol)
    } else {
        value * from_unit.factor / to_unit.factor
    };
    if !result.is_finite() {
        return Err(ToolError::invalid("value", "the result is out of range"));
    }
    Ok(json!({
        "value": value,
        "from": from_unit.symbol,
        "to": to_unit.symbol,
        "kind": from_unit.kind.name(),
        "result": tidy(result),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::run_tool;

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        run_tool(&Tool, action, params).await
    }

    async fn eval(expr: &str) -> Result<Value, ToolError> {
        run("evaluate", json!({"expression": expr})).await
    }

    fn invalid_field(err: ToolError) -> Option<String> {
        match err {
            ToolError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn evaluates_integers_and_floats() {
        let r = eval("1 + 2 * 3").await.unwrap();
        assert_eq!(r["result"], json!(7));
        assert_eq!(r["result_type"], "integer");
        assert_eq!(eval("7 / 2").await.unwrap()["result"], json!(3.5));
        assert_eq!(eval("8 / 2").await.unwrap()["result"], json!(4));
        assert_eq!(eval("2 ^ 10").await.unwrap()["result"], json!(1024));
        assert_eq!(eval("10 % 3").await.unwrap()["result"], json!(1));
        assert_eq!(
            eval("9007199254740993 + 0").await.unwrap()["result"],
            json!(9_007_199_254_740_993_i64)
        );
        assert_eq!(eval("3 > 2").await.unwrap()["result"], json!(true));
    }

    #[tokio::test]
    async fn evaluates_functions_and_constants() {
        assert_eq!(
            eval("sqrt(16) + abs(-2)").await.unwrap()["result"],
            json!(6)
        );
        let pi = eval("pi").await.unwrap()["result"].as_f64().unwrap();
        assert!((pi - std::f64::consts::PI).abs() < 1e-12);
        let ln = eval("log(e)").await.unwrap()["result"].as_f64().unwrap();
        assert!((ln - 1.0).abs() < 1e-12);
        assert_eq!(eval("log(8, 2)").await.unwrap()["result"], json!(3));
        assert_eq!(eval("max(3, 9, 4)").await.unwrap()["result"], json!(9));
        assert_eq!(eval("round(2.6)").await.unwrap()["result"], json!(3));
    }

    #[tokio::test]
    async fn rejects_bad_expressions() {
        for bad in [
            "1 / 0",
            "5 % 0",
            "1.0 / 0",
            "2 +",
            "foo + 1",
            "nosuch(2)",
            "a = 3",
            "((1)",
        ] {
            let err = eval(bad).await.unwrap_err();
            assert_eq!(invalid_field(err).as_deref(), Some("expression"), "{bad}");
        }
        let msg = eval("1 / 0").await.unwrap_err().to_string();
        assert!(msg.contains("division by zero"), "{msg}");
    }

    #[tokio::test]
    async fn survives_hostile_expressions() {
        let deep = format!("{}1{}", "(".repeat(499), ")".repeat(499));
        assert!(eval(&deep).await.is_err());
        let negs = format!("{}1", "-".repeat(999));
        assert!(eval(&negs).await.is_err());
        let long_sum = vec!["1"; 500].join("+");
        assert!(eval(&long_sum).await.is_err());
        let nested = format!("{}1{}", "(".repeat(60), ")".repeat(60));
        assert_eq!(eval(&nested).await.unwrap()["result"], json!(1));
        let ok_sum = vec!["1"; 100].join("+");
        assert_eq!(eval(&ok_sum).await.unwrap()["result"], json!(100));
        assert!(eval(&"9".repeat(1001)).await.is_err());
    }

    #[tokio::test]
    async fn computes_statistics() {
        let r = run("statistics", json!({"numbers": [2, 4, 4, 4, 5, 5, 7, 9]}))
            .await
            .unwrap();
        assert_eq!(r["count"], json!(8));
        assert_eq!(r["sum"], json!(40.0));
        assert_eq!(r["mean"], json!(5.0));
        assert_eq!(r["median"], json!(4.5));
        assert_eq!(r["min"], json!(2.0));
        assert_eq!(r["max"], json!(9.0));
        assert_eq!(r["stddev"], json!(2.0));
        let one = run("statistics", json!({"numbers": [3]})).await.unwrap();
        assert_eq!(one["median"], json!(3.0));
        assert!(one["sample_stddev"].is_null());
        let err = run("statistics", json!({"numbers": []})).await.unwrap_err();
        assert_eq!(invalid_field(err).as_deref(), Some("numbers"));
    }

    #[tokio::test]
    async fn converts_units() {
        let r = run(
            "convert_units",
            json!({"value": 5, "from": "km", "to": "mi"}),
        )
        .await
        .unwrap();
        assert!((r["result"].as_f64().unwrap() - 3.106_855_961_62).abs() < 1e-9);
        let r = run(
            "convert_units",
            json!({"value": 100, "from": "C", "to": "F"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], json!(212.0));
        let r = run(
            "convert_units",
            json!({"value": 1, "from": "GiB", "to": "MB"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], json!(1073.741824));
        let r = run(
            "convert_units",
            json!({"value": 2, "from": "hours", "to": "min"}),
        )
        .await
        .unwrap();
        assert_eq!(r["result"], json!(120.0));
        let err = run(
            "convert_units",
            json!({"value": 1, "from": "kg", "to": "m"}),
        )
        .await
        .unwrap_err();
        assert_eq!(invalid_field(err).as_deref(), Some("to"));
        let err = run(
            "convert_units",
            json!({"value": 1, "from": "furlong", "to": "m"}),
        )
        .await
        .unwrap_err();
        assert_eq!(invalid_field(err).as_deref(), Some("from"));
        let err = run(
            "convert_units",
            json!({"value": -500, "from": "C", "to": "K"}),
        )
        .await
        .unwrap_err();
        assert_eq!(invalid_field(err).as_deref(), Some("value"));
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("integrate", json!({})).await.unwrap_err();
        assert_eq!(invalid_field(err).as_deref(), Some("action"));
    }
}
