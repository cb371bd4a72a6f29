//! An instant as seen in a time zone, with the parts agents commonly need:
//! what `now`, `convert` and `add` answer.

use chrono::{DateTime, Datelike, FixedOffset, SecondsFormat, Timelike, Utc};
use chrono_tz::{OffsetComponents, OffsetName};
use serde_json::{json, Value};

use super::Zone;

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
pub(super) fn describe(instant: DateTime<Utc>, zone: Zone) -> Value {
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
