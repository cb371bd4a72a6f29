//! The `diff` action: the time between two instants, in several units and
//! in words.

use chrono::{DateTime, FixedOffset};
use serde_json::{json, Value};

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

pub(super) fn diff(start: DateTime<FixedOffset>, end: DateTime<FixedOffset>) -> Value {
    let delta = end.signed_duration_since(start);
    let millis = delta.num_milliseconds();
    let seconds = millis as f64 / 1000.0;
    let whole = delta.num_seconds();
    let abs = whole.unsigned_abs() as i64;
    let (d, h, m, s) = (abs / 86_400, abs % 86_400 / 3600, abs % 3600 / 60, abs % 60);
    let mut parts = Vec::new();
    for (n, unit) in [(d, "day"), (h, "hour"), (m, "minute"), (s, "second")] {
        if n > 0 {
            parts.push(plural(n, unit));
        }
    }
    let human = if parts.is_empty() {
        "0 seconds".to_string()
    } else {
        parts.join(", ")
    };
    let round = |x: f64| (x * 1e6).round() / 1e6;
    json!({
        "seconds": if millis % 1000 == 0 { json!(whole) } else { json!(seconds) },
        "minutes": round(seconds / 60.0),
        "hours": round(seconds / 3600.0),
        "days": round(seconds / 86_400.0),
        "weeks": round(seconds / 604_800.0),
        "breakdown": {"days": d, "hours": h, "minutes": m, "seconds": s},
        "human": human,
        "negative": millis < 0,
    })
}
