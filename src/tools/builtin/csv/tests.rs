//! Tests of the CSV tool's actions, run through the tool.

use super::*;
use crate::tools::builtin::{field_of, run_tool};

async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
    run_tool(&Tool, action, params).await
}

const PEOPLE: &str =
    "name,age,city\nAna,34,Lisbon\nBob,27,\"Paris, FR\"\nCleo,41,Lisbon\nDan,9,Oslo\n";

#[tokio::test]
async fn parses_with_headers_and_types() {
    let r = run("parse", json!({"csv": PEOPLE})).await.unwrap();
    assert_eq!(r["headers"], json!(["name", "age", "city"]));
    assert_eq!(r["row_count"], json!(4));
    assert_eq!(
        r["rows"][1],
        json!({"name": "Bob", "age": "27", "city": "Paris, FR"})
    );
    let r = run(
        "parse",
        json!({"csv": "id;score;ok;zip\n1;2.5;true;0123\n2;;FALSE;9\n", "infer_types": true}),
    )
    .await
    .unwrap();
    assert_eq!(r["delimiter"], ";");
    assert_eq!(
        r["rows"][0],
        json!({"id": 1, "score": 2.5, "ok": true, "zip": "0123"})
    );
    assert_eq!(
        r["rows"][1],
        json!({"id": 2, "score": null, "ok": false, "zip": 9})
    );
}

#[tokio::test]
async fn parses_ragged_rows_and_odd_headers() {
    let r = run("parse", json!({"csv": "a,a,\n1,2,3,4\n5\n"}))
        .await
        .unwrap();
    assert_eq!(r["headers"], json!(["a", "a_2", "column_3", "column_4"]));
    assert_eq!(
        r["rows"][1],
        json!({"a": "5", "a_2": null, "column_3": null, "column_4": null})
    );
    let r = run(
        "parse",
        json!({"csv": "x\ty\n1\t2\n", "has_headers": false, "delimiter": "tab"}),
    )
    .await
    .unwrap();
    assert_eq!(r["rows"], json!([["x", "y"], ["1", "2"]]));
    assert!(r["headers"].is_null());
    let err = run("parse", json!({"csv": "a", "delimiter": "ab"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("delimiter"));
}

#[tokio::test]
async fn caps_rows_and_output() {
    let many = "a\n".repeat(MAX_ROWS + 2);
    let err = run("parse", json!({"csv": many})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("csv"));
    // Long header names repeated on every row would blow up the JSON.
    let header = (0..100)
        .map(|i| format!("{}{i}", "h".repeat(5000)))
        .collect::<Vec<_>>()
        .join(",");
    let wide = format!("{header}\n{}", format!("{}\n", ",".repeat(99)).repeat(1000));
    let err = run("parse", json!({"csv": wide})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("csv"));
}

#[tokio::test]
async fn builds_csv_from_rows() {
    let r = run(
        "to_csv",
        json!({"rows": [{"name": "Ana", "tags": ["a", "b"]}, {"name": "Bob, Jr", "age": 3, "ok": null}]}),
    )
    .await
    .unwrap();
    assert_eq!(
        r["csv"],
        "name,tags,age,ok\nAna,\"[\"\"a\"\",\"\"b\"\"]\",,\n\"Bob, Jr\",,3,\n"
    );
    assert_eq!(r["row_count"], json!(2));
    let r = run(
        "to_csv",
        json!({"rows": [[1, "x"], [2, "y;z"]], "delimiter": ";"}),
    )
    .await
    .unwrap();
    assert_eq!(r["csv"], "1;x\n2;\"y;z\"\n");
    let r = run(
        "to_csv",
        json!({"rows": [{"a": 1, "b": 2}], "columns": ["b"]}),
    )
    .await
    .unwrap();
    assert_eq!(r["csv"], "b\n2\n");
    let err = run("to_csv", json!({"rows": [{"a": 1}, [1]]}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("rows"));
}

#[tokio::test]
async fn queries_rows() {
    let r = run(
        "query",
        json!({"csv": PEOPLE, "where": [{"column": "age", "op": "gte", "value": 18}], "sort_by": "age", "descending": true, "columns": ["name", "age"]}),
    )
    .await
    .unwrap();
    assert_eq!(r["matched_count"], json!(3));
    assert_eq!(
        r["rows"],
        json!([{"name": "Cleo", "age": "41"}, {"name": "Ana", "age": "34"}, {"name": "Bob", "age": "27"}])
    );
    assert_eq!(r["csv"], "name,age\nCleo,41\nAna,34\nBob,27\n");
    let r = run(
        "query",
        json!({"csv": PEOPLE, "where": [{"column": "city", "op": "eq", "value": "lisbon", "case_insensitive": true}], "limit": 1, "offset": 1}),
    )
    .await
    .unwrap();
    assert_eq!(
        r["rows"],
        json!([{"name": "Cleo", "age": "41", "city": "Lisbon"}])
    );
    assert_eq!(r["matched_count"], json!(2));
    let err = run("query", json!({"csv": PEOPLE, "sort_by": "height"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("sort_by"));
    let err = run(
        "query",
        json!({"csv": PEOPLE, "where": [{"column": "age", "op": "gt"}]}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("where"));
}

#[tokio::test]
async fn describes_columns() {
    let r = run("describe", json!({"csv": PEOPLE})).await.unwrap();
    assert_eq!(r["row_count"], json!(4));
    let age = &r["columns"][1];
    assert_eq!(age["type"], "integer");
    assert_eq!(age["min"], json!(9.0));
    assert_eq!(age["max"], json!(41.0));
    assert_eq!(age["mean"], json!(27.75));
    let city = &r["columns"][2];
    assert_eq!(city["type"], "string");
    assert_eq!(city["distinct"], json!(3));
    assert_eq!(city["samples"], json!(["Lisbon", "Paris, FR", "Oslo"]));
}

#[tokio::test]
async fn unknown_action_is_invalid() {
    let err = run("pivot", json!({})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("action"));
}
