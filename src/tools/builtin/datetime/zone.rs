//! Reading time zones (IANA names and fixed offsets) and date-time
//! parameters (RFC 3339, local forms, "now", Unix timestamps).

use std::str::FromStr;

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::Value;

use crate::tools::{ToolContext, ToolError};

/// A time zone: a named IANA zone (with its DST rules) or a fixed UTC offset.
#[derive(Debug, Clone, Copy)]
pub(super) enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    fn parse(field: &str, raw: &str) -> Result<Zone, ToolError> {
        let name = raw.trim();
        if let Ok(tz) = Tz::from_str(name) {
            return Ok(Zone::Named(tz));
        }
        if let Some(tz) = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(name))
        {
            return Ok(Zone::Named(*tz));
        }
        if matches!(name, "Z" | "z" | "GMT" | "gmt" | "utc") {
            return Ok(Zone::Named(Tz::UTC));
        }
        if let Some(offset) = parse_offset(name) {
            return Ok(Zone::Fixed(offset));
        }
        Err(ToolError::invalid(
            field,
            format!("unknown time zone \"{raw}\"; use an IANA name such as \"Europe/Paris\" or an offset such as \"+02:00\""),
        ))
    }

    /// The instant of a local (wall-clock) time in this zone; the earlier one when
    /// the clock is set back, none when it falls in a DST gap.
    fn localize(self, naive: NaiveDateTime) -> Option<DateTime<FixedOffset>> {
        match self {
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.fixed_offset()),
            Zone::Fixed(off) => off.from_local_datetime(&naive).earliest(),
        }
    }
}

/// Reads "+05:30", "-0800", "+05" or "UTC+2".
fn parse_offset(raw: &str) -> Option<FixedOffset> {
    let s = raw
        .strip_prefix("UTC")
        .or_else(|| raw.strip_prefix("GMT"))
        .unwrap_or(raw);
    let mut chars = s.chars();
    let sign = match chars.next()? {
        '+' => 1,
        '-' | '−' => -1,
        _ => return None,
    };
    let rest = chars.as_str();
    let (hours, minutes) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None if rest.len() == 4 => rest.split_at(2),
        None => (rest, "0"),
    };
    if hours.is_empty()
        || hours.len() > 2
        || minutes.len() > 2
        || !hours
            .chars()
            .chain(minutes.chars())
            .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let (h, m): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

pub(super) fn zone_param(params: &Value, field: &str) -> Result<Option<Zone>, ToolError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Zone::parse(field, s).map(Some),
        Some(_) => Err(ToolError::invalid(
            field,
            format!("\"{field}\" must be a time zone name"),
        )),
    }
}

/// Reads a date-time parameter; local forms are read in `zone`.
pub(super) fn datetime_param(
    params: &Value,
    field: &str,
    zone: Zone,
    ctx: &ToolContext,
) -> Result<DateTime<FixedOffset>, ToolError> {
    let value = params
        .get(field)
        .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" is required")))?;
    if let Some(seconds) = value.as_f64() {
        let whole = seconds.floor();
        let nanos = ((seconds - whole) * 1e9).round().min(999_999_999.0) as u32;
        return (whole.abs() < 1e14)
            .then(|| DateTime::from_timestamp(whole as i64, nanos))
            .flatten()
            .map(|d| d.fixed_offset())
            .ok_or_else(|| ToolError::invalid(field, "the Unix timestamp is out of range"));
    }
    let text = value
        .as_str()
        .ok_or_else(|| {
            ToolError::invalid(
                field,
                format!("\"{field}\" must be a date-time string or a Unix timestamp"),
            )
        })?
        .trim();
    if text.eq_ignore_ascii_case("now") {
        return Ok(ctx.now.fixed_offset());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt);
    }
    const LOCAL_FORMATS: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
        .ok_or_else(|| {
            ToolError::invalid(
                field,
                format!("cannot read \"{text}\" as a date-time; use RFC 3339, e.g. \"2024-03-10T14:30:00Z\""),
            )
        })?;
    zone.localize(naive).ok_or_else(|| {
        ToolError::invalid(
            field,
            format!("{text} does not exist in that time zone (the clocks skip it)"),
        )
    })
}
