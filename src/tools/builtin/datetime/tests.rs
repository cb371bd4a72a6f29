//! Tests of the date and time tool's actions, run through the tool.

use chrono::DateTime;

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
    let r = run(
        "add",
        json!({"datetime": "2024-03-10T10:00:00+01:00", "days": -10, "hours": 3, "minutes": 30}),
    )
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
