//! Tests of the JSON tool's actions, run through the tool.

use super::*;
use crate::tools::builtin::{field_of, run_tool};

async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
    run_tool(&Tool, action, params).await
}

fn store() -> Value {
    json!({"store": {"book": [
        {"title": "Sayings", "price": 8.95},
        {"title": "Sword", "price": 12.99},
        {"title": "Moby Dick", "price": 8.99}
    ]}})
}

#[tokio::test]
async fn queries_with_jsonpath() {
    let r = run(
        "query",
        json!({"data": store(), "path": "$.store.book[?@.price < 10].title"}),
    )
    .await
    .unwrap();
    assert_eq!(r["matches"], json!(["Sayings", "Moby Dick"]));
    assert_eq!(
        r["paths"],
        json!([
            "$['store']['book'][0]['title']",
            "$['store']['book'][2]['title']"
        ])
    );
    assert_eq!(r["count"], json!(2));
    let r = run("query", json!({"data": store(), "path": "$..nothing"}))
        .await
        .unwrap();
    assert_eq!(r["count"], json!(0));
}

#[tokio::test]
async fn rejects_bad_paths() {
    let err = run("query", json!({"data": {}, "path": "$.store[?"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("path"));
    let err = run("query", json!({"data": {}, "path": "$..a..b..c"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("path"));
    let deep = format!("$[?{}@.a{}]", "(".repeat(300), ")".repeat(300));
    let err = run("query", json!({"data": {}, "path": deep}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("path"));
    let nested = format!("$[?{}@.a == 1{}]", "(".repeat(30), ")".repeat(30));
    let r = run(
        "query",
        json!({"data": [{"a": 1}, {"a": 2}], "path": nested}),
    )
    .await
    .unwrap();
    assert_eq!(r["matches"], json!([{"a": 1}]));
}

#[tokio::test]
async fn validates_against_a_schema() {
    let schema = json!({
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}, "email": {"format": "email"}},
        "required": ["name"]
    });
    let ok = run(
        "validate",
        json!({"data": {"name": "Ana", "age": 3}, "schema": schema}),
    )
    .await
    .unwrap();
    assert_eq!(ok["valid"], json!(true));
    assert_eq!(ok["errors"], json!([]));
    let bad = run(
        "validate",
        json!({"data": {"age": -1, "email": "nope"}, "schema": schema}),
    )
    .await
    .unwrap();
    assert_eq!(bad["valid"], json!(false));
    assert_eq!(bad["error_count"], json!(3));
    let paths: Vec<&str> = bad["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["instance_path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/age") && paths.contains(&"/email") && paths.contains(&""),
        "{paths:?}"
    );
}

#[tokio::test]
async fn rejects_bad_or_remote_schemas() {
    let err = run(
        "validate",
        json!({"data": 1, "schema": {"type": "nonsense"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("schema"));
    let err = run(
        "validate",
        json!({"data": 1, "schema": {"$ref": "https://example.com/s.json"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("schema"));
    let err = run(
        "validate",
        json!({"data": 1, "schema": {"$ref": "file:///etc/passwd"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("schema"));
    let err = run(
        "validate",
        json!({"data": "a", "schema": {"pattern": "(a)\\1"}}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("schema"));
}

#[tokio::test]
async fn diffs_documents() {
    let r = run(
        "diff",
        json!({"before": {"a": 1, "b": [1, 2, 3], "c/d": true}, "after": {"a": 2, "b": [1, 2], "e": null, "c/d": true}}),
    )
    .await
    .unwrap();
    assert_eq!(r["equal"], json!(false));
    assert_eq!(
        r["changes"],
        json!([
            {"op": "replace", "path": "/a", "old": 1, "new": 2},
            {"op": "remove", "path": "/b/2", "old": 3},
            {"op": "add", "path": "/e", "new": null}
        ])
    );
    let same = run(
        "diff",
        json!({"before": [1, {"x": 1}], "after": [1, {"x": 1}]}),
    )
    .await
    .unwrap();
    assert_eq!(same["equal"], json!(true));
    assert_eq!(same["changes"], json!([]));
}

#[tokio::test]
async fn applies_merge_patches() {
    // The example from RFC 7396 section 3.
    let target = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"}, "tags": ["example", "sample"], "content": "This will be unchanged"});
    let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890", "author": {"familyName": null}, "tags": ["example"]});
    let r = run("merge_patch", json!({"target": target, "patch": patch}))
        .await
        .unwrap();
    assert_eq!(
        r["result"],
        json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"], "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
    );
    let r = run(
        "merge_patch",
        json!({"target": [1], "patch": {"a": {"b": null, "c": 1}}}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], json!({"a": {"c": 1}}));
}

#[tokio::test]
async fn parses_json_text() {
    let r = run(
        "parse",
        json!({"text": "{\"a\": [1, 2]}", "format": "compact"}),
    )
    .await
    .unwrap();
    assert_eq!(r["valid"], json!(true));
    assert_eq!(r["type"], "object");
    assert_eq!(r["formatted"], "{\"a\":[1,2]}");
    let r = run("parse", json!({"text": "{\n  \"a\": [1, 2,]\n}"}))
        .await
        .unwrap();
    assert_eq!(r["valid"], json!(false));
    assert_eq!(r["line"], json!(2));
    let deep = "[".repeat(10_000);
    let r = run("parse", json!({"text": deep})).await.unwrap();
    assert_eq!(r["valid"], json!(false));
}

#[tokio::test]
async fn unknown_action_is_invalid() {
    let err = run("jq", json!({})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("action"));
}
