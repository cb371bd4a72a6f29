//! The `statistics` action: descriptive statistics of a list of numbers.

use serde_json::{json, Value};

use super::MAX_NUMBERS;
use crate::tools::ToolError;

/// The value at fraction `q` of sorted data, interpolating linearly between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lower = pos.floor() as usize;
    let upper = pos.ceil() as usize;
    sorted[lower] + (sorted[upper] - sorted[lower]) * (pos - lower as f64)
}

pub(super) fn statistics(params: &Value) -> Result<Value, ToolError> {
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
