//! Dates and times: the current time, time-zone conversion, arithmetic, differences and formatting.

use std::fmt::Write as _;
use std::str::FromStr;

use async_trait::async_trait;
use chrono::format::StrftimeItems;
use chrono::{
    DateTime, Datelike, Days, FixedOffset, Months, NaiveDate, NaiveDateTime, SecondsFormat,
    TimeDelta, TimeZone, Timelike, Utc,
};
use chrono_tz::{OffsetComponents, OffsetName, Tz};
use serde_json::{json, Value};

use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};

/// Longest strftime format accepted.
const MAX_FORMAT_CHARS: usize = 200;

/// Works with dates, times and time zones.
pub struct Tool;

fn datetime_property(description: &str) -> Value {
    json!({
        "type": ["string", "number"],
        "maxLength": 64,
        "description": format!("{description} An RFC 3339 date-time (\"2024-03-10T14:30:00+01:00\"), a local \
            date-time or date (\"2024-03-10 14:30\", \"2024-03-10\", read in timezone or UTC), \"now\", or a \
            Unix timestamp in seconds (number).")
    })
}

fn timezone_property(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "description": format!("{description} An IANA name such as \"America/New_York\" or \"UTC\", or a fixed offset such as \"+05:30\".")
    })
}

#[async_trait]
impl BuiltinTool for Tool {
    fn spec(&self) -> BuiltinSpec {
        let amount = |unit: &str, limit: i64| json!({"type": "integer", "minimum": -limit, "maximum": limit, "description": format!("{unit} to add (negative to subtract).")});
        BuiltinSpec {
            slug: "datetime",
            name: "datetime",
            display_name: "Date & Time",
            description: "Gives the current date and time in any time zone, converts date-times between time \
                zones, adds or subtracts durations (calendar-aware, DST-aware), measures the time between two \
                date-times, and formats date-times with strftime patterns.",
            category: "utilities",
            actions: vec![
                ActionSpec {
                    name: "now",
                    description: "The current date and time, in a time zone (UTC by default).",
                    parameters: json!({
                        "type": "object",
                        "properties": {"timezone": timezone_property("The time zone to give the time in. Default UTC.")},
                        "required": [],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "convert",
                    description: "Express a date-time in another time zone.",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "datetime": datetime_property("The date-time to convert."),
                            "from_timezone": timezone_property("The zone a local date-time without an offset is in. Default UTC."),
                            "to_timezone": timezone_property("The zone to convert to.")
                        },
                        "required": ["datetime", "to_timezone"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "add",
                    description: "Add (or subtract, with negative amounts) years, months, weeks, days, hours, \
                        minutes and seconds. Calendar units keep the local time of day across DST changes \
                        in timezone; months clamp to the month's last day (Jan 31 + 1 month = Feb 29 in 2024).",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "datetime": datetime_property("The starting date-time."),
                            "timezone": timezone_property("The zone to do calendar arithmetic and answer in. Default: the input's own offset."),
                            "years": amount("Years", 10_000),
                            "months": amount("Months", 120_000),
                            "weeks": amount("Weeks", 520_000),
                            "days": amount("Days", 3_650_000),
                            "hours": amount("Hours", 87_600_000),
                            "minutes": amount("Minutes", 5_256_000_000),
                            "seconds": amount("Seconds", 315_360_000_000)
                        },
                        "required": ["datetime"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "diff",
                    description: "The time from start to end, in seconds, minutes, hours, days and weeks, with \
                        a readable breakdown (negative when end is before start).",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "start": datetime_property("The earlier date-time."),
                            "end": datetime_property("The later date-time."),
                            "timezone": timezone_property("The zone local date-times without an offset are in. Default UTC.")
                        },
                        "required": ["start", "end"],
                        "additionalProperties": false
                    }),
                    price_credits: 1,
                },
                ActionSpec {
                    name: "format",
                    description: "Format a date-time with a strftime pattern, e.g. \"%A %-d %B %Y, %H:%M\" gives \
                        \"Sunday 10 March 2024, 14:30\".",
                    parameters: json!({
                        "type": "object",
                        "properties": {
                            "datetime": datetime_property("The date-time to format."),
                            "format": {"type": "string", "minLength": 1, "maxLength": MAX_FORMAT_CHARS, "description": "The strftime pattern (%Y year, %m month, %d day, %H hour, %M minute, %S second, %Z zone, ...)."},
                            "timezone": timezone_property("The zone to show the time in. Default: the input's own offset.")
                        },
                        "required": ["datetime", "format"],
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
        ctx: &ToolContext,
    ) -> Result<Value, ToolError> {
        match action {
            "now" => {
                let zone = zone_param(params, "timezone")?.unwrap_or(Zone::Named(Tz::UTC));
                Ok(describe(ctx.now, zone))
            }
            "convert" => {
                let from = zone_param(params, "from_timezone")?.unwrap_or(Zone::Named(Tz::UTC));
                let to = zone_param(params, "to_timezone")?.ok_or_else(|| {
                    ToolError::invalid("to_timezone", "\"to_timezone\" is required")
                })?;
                let dt = datetime_param(params, "datetime", from, ctx)?;
                Ok(describe(dt.with_timezone(&Utc), to))
            }
            "add" => add(params, ctx),
            "diff" => {
                let zone = zone_param(params, "timezone")?.unwrap_or(Zone::Named(Tz::UTC));
                let start = datetime_param(params, "start", zone, ctx)?;
                let end = datetime_param(params, "end", zone, ctx)?;
                Ok(diff(start, end))
            }
            "format" => format_datetime(params, ctx),
            other => Err(ToolError::invalid(
                "action",
                format!("unknown action \"{other}\""),
            )),
        }
    }
}

/// A time zone: a named IANA zone (with its DST rules) or a fixed UTC offset.
#[derive(Debug, Clone, Copy)]
enum Zone {
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

fn zone_param(params: &Value, field: &str) -> Result<Option<Zone>, ToolError> {
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
fn datetime_param(
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

fn weekday_name(dt: &DateTime<FixedOffset>) -> &'static str {
    match dt.weekday() {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// An instant as seen in `zone`, with the parts agents commonly need.
fn describe(instant: DateTime<Utc>, zone: Zone) -> Value {
    let (local, zone_name, abbreviation, is_dst) = match zone {
        Zone::Named(tz) => {
            let local = instant.with_timezone(&tz);
            let offset = local.offset();
            let abbreviation = offset.abbreviation().map(str::to_string);
            let is_dst = !offset.dst_offset().is_zero();
            (
                local.fixed_offset(),
                tz.name().to_string(),
                abbreviation,
                Some(is_dst),
            )
        }
        Zone::Fixed(off) => {
            let local = instant.with_timezone(&off);
            (local, off.to_string(), None, None)
        }
    };
    json!({
        "datetime": local.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "timezone": zone_name,
        "abbreviation": abbreviation,
        "utc_offset": local.offset().to_string(),
        "is_dst": is_dst,
        "utc": instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "unix_seconds": instant.timestamp(),
        "date": local.format("%Y-%m-%d").to_string(),
        "time": local.format("%H:%M:%S").to_string(),
        "weekday": weekday_name(&local),
        "day_of_year": local.ordinal(),
        "iso_week": local.iso_week().week(),
        "hour": local.hour(),
    })
}

// ---- add ----

fn int_param(params: &Value, field: &str) -> Result<i64, ToolError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ToolError::invalid(field, format!("\"{field}\" must be an integer"))),
    }
}

/// Adds calendar months and days in `dt`'s own zone, then an exact duration.
fn shift<T: TimeZone>(
    dt: DateTime<T>,
    months: i64,
    days: i64,
    exact: TimeDelta,
) -> Option<DateTime<T>> {
    let months_abs = Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    let dt = if months >= 0 {
        dt.checked_add_months(months_abs)?
    } else {
        dt.checked_sub_months(months_abs)?
    };
    let days_abs = Days::new(days.unsigned_abs());
    let dt = if days >= 0 {
        dt.checked_add_days(days_abs)?
    } else {
        dt.checked_sub_days(days_abs)?
    };
    dt.checked_add_signed(exact)
}

fn add(params: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
    let zone_given = zone_param(params, "timezone")?;
    let start = datetime_param(
        params,
        "datetime",
        zone_given.unwrap_or(Zone::Named(Tz::UTC)),
        ctx,
    )?;
    let zone = zone_given.unwrap_or(Zone::Fixed(*start.offset()));
    let out_of_range =
        || ToolError::invalid("datetime", "the result is out of the supported date range");

    let [years, months, weeks, days, hours, minutes, seconds] = [
        "years", "months", "weeks", "days", "hours", "minutes", "seconds",
    ]
    .map(|f| int_param(params, f));
    let months = years?
        .checked_mul(12)
        .and_then(|m| m.checked_add(months.ok()?));
    let days = weeks?
        .checked_mul(7)
        .and_then(|d| d.checked_add(days.ok()?));
    let (hours, minutes, seconds) = (hours?, minutes?, seconds?);
    let seconds = hours
        .checked_mul(3600)
        .and_then(|s| s.checked_add(minutes.checked_mul(60)?))
        .and_then(|s| s.checked_add(seconds));
    let (months, days, seconds) = (
        months.ok_or_else(out_of_range)?,
        days.ok_or_else(out_of_range)?,
        seconds.ok_or_else(out_of_range)?,
    );
    let exact = TimeDelta::try_seconds(seconds).ok_or_else(out_of_range)?;

    let result = match zone {
        Zone::Named(tz) => {
            shift(start.with_timezone(&tz), months, days, exact).map(|d| d.with_timezone(&Utc))
        }
        Zone::Fixed(off) => {
            shift(start.with_timezone(&off), months, days, exact).map(|d| d.with_timezone(&Utc))
        }
    }
    .ok_or_else(out_of_range)?;
    let mut out = describe(result, zone);
    out["start"] = json!(start.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    Ok(out)
}

// ---- diff ----

fn plural(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

fn diff(start: DateTime<FixedOffset>, end: DateTime<FixedOffset>) -> Value {
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

// ---- format ----

fn format_datetime(params: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
    let pattern = params
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| ToolError::invalid("format", "\"format\" must be a string"))?;
    if pattern.chars().count() > MAX_FORMAT_CHARS {
        return Err(ToolError::invalid(
            "format",
            format!("the format is longer than {MAX_FORMAT_CHARS} characters"),
        ));
    }
    let items = StrftimeItems::new(pattern)
        .parse()
        .map_err(|_| ToolError::invalid("format", "the format has an unknown % specifier"))?;
    let zone_given = zone_param(params, "timezone")?;
    let dt = datetime_param(
        params,
        "datetime",
        zone_given.unwrap_or(Zone::Named(Tz::UTC)),
        ctx,
    )?;
    let mut formatted = String::new();
    let written = match zone_given.unwrap_or(Zone::Fixed(*dt.offset())) {
        Zone::Named(tz) => write!(
            formatted,
            "{}",
            dt.with_timezone(&tz).format_with_items(items.iter())
        ),
        Zone::Fixed(off) => write!(
            formatted,
            "{}",
            dt.with_timezone(&off).format_with_items(items.iter())
        ),
    };
    written.map_err(|_| {
        ToolError::invalid("format", "the format cannot be applied to this date-time")
    })?;
    Ok(json!({"formatted": formatted, "datetime": dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::builtin::{field_of, test_context};

    async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
        let (mut ctx, _dir) = test_context().await;
        ctx.now = DateTime::parse_from_rfc3339("2024-03-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Tool.call(action, &params, &ctx).await
    }

    #[tokio::test]
    async fn now_uses_the_context_clock() {
        let r = run("now", json!({})).await.unwrap();
        assert_eq!(r["datetime"], "2024-03-10T12:00:00Z");
        assert_eq!(r["weekday"], "Sunday");
        assert_eq!(r["unix_seconds"], json!(1_710_072_000));
        let r = run("now", json!({"timezone": "Asia/Kolkata"}))
            .await
            .unwrap();
        assert_eq!(r["datetime"], "2024-03-10T17:30:00+05:30");
        assert_eq!(r["abbreviation"], "IST");
        let r = run("now", json!({"timezone": "-03:00"})).await.unwrap();
        assert_eq!(r["datetime"], "2024-03-10T09:00:00-03:00");
        let err = run("now", json!({"timezone": "Mars/Olympus"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("timezone"));
    }

    #[tokio::test]
    async fn converts_between_zones() {
        let r = run(
            "convert",
            json!({"datetime": "2024-07-01T12:00:00Z", "to_timezone": "america/new_york"}),
        )
        .await
        .unwrap();
        assert_eq!(r["datetime"], "2024-07-01T08:00:00-04:00");
        assert_eq!(r["timezone"], "America/New_York");
        assert_eq!(r["is_dst"], json!(true));
        let r = run(
            "convert",
            json!({"datetime": "2024-01-15 09:30", "from_timezone": "Europe/Paris", "to_timezone": "Asia/Tokyo"}),
        )
        .await
        .unwrap();
        assert_eq!(r["datetime"], "2024-01-15T17:30:00+09:00");
        let r = run("convert", json!({"datetime": 0, "to_timezone": "UTC"}))
            .await
            .unwrap();
        assert_eq!(r["datetime"], "1970-01-01T00:00:00Z");
        let err = run(
            "convert",
            json!({"datetime": "2024-01-15", "to_timezone": "Nowhere"}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("to_timezone"));
        let err = run(
            "convert",
            json!({"datetime": "yesterday-ish", "to_timezone": "UTC"}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("datetime"));
        let err = run(
            "convert",
            json!({"datetime": "2024-03-31 02:30", "from_timezone": "Europe/Berlin", "to_timezone": "UTC"}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("datetime"));
    }

    #[tokio::test]
    async fn adds_calendar_and_exact_amounts() {
        let r = run(
            "add",
            json!({"datetime": "2024-01-31T10:00:00Z", "months": 1}),
        )
        .await
        .unwrap();
        assert_eq!(r["datetime"], "2024-02-29T10:00:00Z");
        let r = run("add", json!({"datetime": "2024-03-10T10:00:00+01:00", "days": -10, "hours": 3, "minutes": 30}))
            .await
            .unwrap();
        assert_eq!(r["datetime"], "2024-02-29T13:30:00+01:00");
        // Across the US spring-forward: one calendar day keeps 09:00, 24 hours does not.
        let r = run(
            "add",
            json!({"datetime": "2024-03-09T09:00:00", "timezone": "America/New_York", "days": 1}),
        )
        .await
        .unwrap();
        assert_eq!(r["datetime"], "2024-03-10T09:00:00-04:00");
        let r = run(
            "add",
            json!({"datetime": "2024-03-09T09:00:00", "timezone": "America/New_York", "hours": 24}),
        )
        .await
        .unwrap();
        assert_eq!(r["datetime"], "2024-03-10T10:00:00-04:00");
        let err = run(
            "add",
            json!({"datetime": "2024-01-01T00:00:00Z", "years": 1_000_000}),
        )
        .await
        .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("datetime"));
    }

    #[tokio::test]
    async fn measures_differences() {
        let r = run(
            "diff",
            json!({"start": "2024-03-01T00:00:00Z", "end": "2024-03-02T01:30:15Z"}),
        )
        .await
        .unwrap();
        assert_eq!(r["seconds"], json!(91_815));
        assert_eq!(r["hours"], json!(25.504167));
        assert_eq!(r["human"], "1 day, 1 hour, 30 minutes, 15 seconds");
        assert_eq!(r["negative"], json!(false));
        let r = run(
            "diff",
            json!({"start": "now", "end": "2024-03-10T11:59:59.5Z"}),
        )
        .await
        .unwrap();
        assert_eq!(r["seconds"], json!(-0.5));
        assert_eq!(r["negative"], json!(true));
        let err = run("diff", json!({"start": "2024-13-01", "end": "now"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("start"));
    }

    #[tokio::test]
    async fn formats_with_strftime() {
        let r = run(
            "format",
            json!({"datetime": "2024-03-10T14:30:00Z", "format": "%A %-d %B %Y, %H:%M %Z", "timezone": "Europe/London"}),
        )
        .await
        .unwrap();
        assert_eq!(r["formatted"], "Sunday 10 March 2024, 14:30 GMT");
        let err = run("format", json!({"datetime": "now", "format": "%Q"}))
            .await
            .unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("format"));
    }

    #[tokio::test]
    async fn unknown_action_is_invalid() {
        let err = run("yesterday", json!({})).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("action"));
    }
}
