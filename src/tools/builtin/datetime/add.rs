//! The `add` action: calendar amounts (years, months, weeks, days) added in
//! the zone's own calendar, then an exact duration.

use chrono::{DateTime, Days, Months, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{datetime_param, describe, zone_param, Zone};
use crate::tools::{ToolContext, ToolError};

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

pub(super) fn add(params: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
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
