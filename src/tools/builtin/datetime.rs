//! Dates and times: the current time, time-zone conversion, arithmetic, differences and formatting.

mod add;
mod describe;
mod diff;
mod format;
#[cfg(test)]
mod tests;
mod zone;

use async_trait::async_trait;
use chrono::Utc;
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::money::Credits;
use crate::tools::{ActionSpec, BuiltinSpec, BuiltinTool, ToolContext, ToolError};
use add::add;
use describe::describe;
use diff::diff;
use format::format_datetime;
use zone::{datetime_param, zone_param, Zone};
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(1),
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
                    price_credits: Credits::new(1),
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
