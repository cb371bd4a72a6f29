//! The `format` action: a date-time written with a strftime pattern.

use std::fmt::Write as _;

use chrono::format::StrftimeItems;
use chrono::SecondsFormat;
use chrono_tz::Tz;
use serde_json::{json, Value};

use super::{datetime_param, zone_param, Zone, MAX_FORMAT_CHARS};
use crate::tools::{ToolContext, ToolError};

pub(super) fn format_datetime(params: &Value, ctx: &ToolContext) -> Result<Value, ToolError> {
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
