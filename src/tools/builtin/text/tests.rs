//! Tests of the text tool's actions, run through the tool.

use super::*;
use crate::tools::builtin::{field_of, run_tool};

async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
    run_tool(&Tool, action, params).await
}

async fn transformed(text: &str, operation: &str) -> String {
    let r = run("transform", json!({"text": text, "operation": operation}))
        .await
        .unwrap();
    r["result"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn counts_text() {
    let text = "Hello world. This is a test! Is it?\n\nSecond paragraph here";
    let r = run("stats", json!({"text": text})).await.unwrap();
    assert_eq!(r["words"], json!(11));
    assert_eq!(r["sentences"], json!(4));
    assert_eq!(r["lines"], json!(3));
    assert_eq!(r["paragraphs"], json!(2));
    assert_eq!(r["characters"], json!(text.chars().count()));
    assert_eq!(r["top_words"][0], json!({"word": "is", "count": 2}));
    let empty = run("stats", json!({"text": ""})).await.unwrap();
    assert_eq!(empty["words"], json!(0));
    assert_eq!(empty["sentences"], json!(0));
    assert_eq!(empty["reading_time_seconds"], json!(0));
}

#[tokio::test]
async fn changes_case() {
    assert_eq!(
        transformed("parseHTTPResponse code", "snake_case").await,
        "parse_http_response_code"
    );
    assert_eq!(
        transformed("Hello World-again", "kebab_case").await,
        "hello-world-again"
    );
    assert_eq!(
        transformed("hello_big world", "camel_case").await,
        "helloBigWorld"
    );
    assert_eq!(
        transformed("hello_big world", "pascal_case").await,
        "HelloBigWorld"
    );
    assert_eq!(transformed("max value", "constant_case").await, "MAX_VALUE");
    assert_eq!(
        transformed("the QUICK fox's tail", "title").await,
        "The Quick Fox's Tail"
    );
    assert_eq!(
        transformed("hello. WORLD", "sentence_case").await,
        "Hello. World"
    );
    assert_eq!(
        transformed("  Crème Brûlée: 100% Déjà vu!  ", "slugify").await,
        "creme-brulee-100-deja-vu"
    );
    assert_eq!(transformed("abc", "reverse").await, "cba");
    assert_eq!(
        transformed(" a  b\n c ", "collapse_whitespace").await,
        "a b c"
    );
    assert_eq!(transformed(" x ", "trim").await, "x");
    let err = run("transform", json!({"text": "x", "operation": "shout"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("operation"));
}

#[tokio::test]
async fn replaces_with_groups() {
    let r = run(
        "regex_replace",
        json!({"text": "2024-03-10 and 2023-01-02", "pattern": r"(\d{4})-(\d{2})-(\d{2})", "replacement": "$3/$2/$1"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "10/03/2024 and 02/01/2023");
    assert_eq!(r["replacements"], json!(2));
    let r = run(
        "regex_replace",
        json!({"text": "Cat cat CAT", "pattern": "cat", "replacement": "dog", "case_insensitive": true, "limit": 2}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "dog dog CAT");
}

#[tokio::test]
async fn rejects_bad_patterns_and_huge_output() {
    let err = run(
        "regex_replace",
        json!({"text": "x", "pattern": "(", "replacement": ""}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("pattern"));
    let err = run("extract", json!({"text": "x", "pattern": r"(a)\1"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("pattern"));
    let err = run(
        "extract",
        json!({"text": "x", "pattern": r"\w{1000}{1000}"}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("pattern"));
    let text = "a".repeat(100_000);
    let err = run(
        "regex_replace",
        json!({"text": text, "pattern": "", "replacement": "x".repeat(100)}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("text"));
    let err = run("extract", json!({"text": "x"})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("pattern"));
}

#[tokio::test]
async fn extracts_matches() {
    let text = "Write to ana@example.com or bob@test.org, or ana@example.com again. Né: ok@x.io";
    let r = run("extract", json!({"text": text, "preset": "email"}))
        .await
        .unwrap();
    assert_eq!(r["count"], json!(4));
    assert_eq!(r["matches"][0]["match"], "ana@example.com");
    assert_eq!(r["matches"][0]["start"], json!(9));
    let byte = text.find("ok@x.io").unwrap();
    assert_eq!(
        r["matches"][3]["start"],
        json!(text[..byte].chars().count())
    );
    let r = run(
        "extract",
        json!({"text": text, "preset": "email", "unique": true}),
    )
    .await
    .unwrap();
    assert_eq!(r["count"], json!(3));
    let r = run(
        "extract",
        json!({"text": "a=1, b=22", "pattern": r"(?P<key>\w)=(\d+)", "max_matches": 1}),
    )
    .await
    .unwrap();
    assert_eq!(r["matches"][0]["groups"], json!(["a", "1"]));
    assert_eq!(r["matches"][0]["named"], json!({"key": "a"}));
    assert_eq!(r["truncated"], json!(true));
    assert_eq!(r["total_matches"], json!(2));
    let r = run(
        "extract",
        json!({"text": "see https://example.com/a?b=1.", "preset": "url"}),
    )
    .await
    .unwrap();
    assert_eq!(r["matches"][0]["match"], "https://example.com/a?b=1");
}

#[tokio::test]
async fn unknown_action_is_invalid() {
    let err = run("shout", json!({})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("action"));
}
