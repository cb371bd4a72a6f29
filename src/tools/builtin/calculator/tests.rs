//! Tests of the calculator's actions, run through the tool.

use super::*;
use crate::tools::builtin::{field_of, run_tool};

async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
    run_tool(&Tool, action, params).await
}

async fn eval(expr: &str) -> Result<Value, ToolError> {
    run("evaluate", json!({"expression": expr})).await
}

#[tokio::test]
async fn evaluates_integers_and_floats() {
    let r = eval("1 + 2 * 3").await.unwrap();
    assert_eq!(r["result"], json!(7));
    assert_eq!(r["result_type"], "integer");
    assert_eq!(eval("7 / 2").await.unwrap()["result"], json!(3.5));
    assert_eq!(eval("8 / 2").await.unwrap()["result"], json!(4));
    assert_eq!(eval("2 ^ 10").await.unwrap()["result"], json!(1024));
    assert_eq!(eval("10 % 3").await.unwrap()["result"], json!(1));
    assert_eq!(
        eval("9007199254740993 + 0").await.unwrap()["result"],
        json!(9_007_199_254_740_993_i64)
    );
    assert_eq!(eval("3 > 2").await.unwrap()["result"], json!(true));
}

#[tokio::test]
async fn evaluates_functions_and_constants() {
    assert_eq!(
        eval("sqrt(16) + abs(-2)").await.unwrap()["result"],
        json!(6)
    );
    let pi = eval("pi").await.unwrap()["result"].as_f64().unwrap();
    assert!((pi - std::f64::consts::PI).abs() < 1e-12);
    let ln = eval("log(e)").await.unwrap()["result"].as_f64().unwrap();
    assert!((ln - 1.0).abs() < 1e-12);
    assert_eq!(eval("log(8, 2)").await.unwrap()["result"], json!(3));
    assert_eq!(eval("max(3, 9, 4)").await.unwrap()["result"], json!(9));
    assert_eq!(eval("round(2.6)").await.unwrap()["result"], json!(3));
}

#[tokio::test]
async fn rejects_bad_expressions() {
    for bad in [
        "1 / 0",
        "5 % 0",
        "1.0 / 0",
        "2 +",
        "foo + 1",
        "nosuch(2)",
        "a = 3",
        "((1)",
    ] {
        let err = eval(bad).await.unwrap_err();
        assert_eq!(field_of(err).as_deref(), Some("expression"), "{bad}");
    }
    let msg = eval("1 / 0").await.unwrap_err().to_string();
    assert!(msg.contains("division by zero"), "{msg}");
}

#[tokio::test]
async fn survives_hostile_expressions() {
    let deep = format!("{}1{}", "(".repeat(499), ")".repeat(499));
    assert!(eval(&deep).await.is_err());
    let negs = format!("{}1", "-".repeat(999));
    assert!(eval(&negs).await.is_err());
    let long_sum = vec!["1"; 500].join("+");
    assert!(eval(&long_sum).await.is_err());
    let nested = format!("{}1{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(eval(&nested).await.unwrap()["result"], json!(1));
    let ok_sum = vec!["1"; 100].join("+");
    assert_eq!(eval(&ok_sum).await.unwrap()["result"], json!(100));
    assert!(eval(&"9".repeat(1001)).await.is_err());
}

#[tokio::test]
async fn computes_statistics() {
    let r = run("statistics", json!({"numbers": [2, 4, 4, 4, 5, 5, 7, 9]}))
        .await
        .unwrap();
    assert_eq!(r["count"], json!(8));
    assert_eq!(r["sum"], json!(40.0));
    assert_eq!(r["mean"], json!(5.0));
    assert_eq!(r["median"], json!(4.5));
    assert_eq!(r["min"], json!(2.0));
    assert_eq!(r["max"], json!(9.0));
    assert_eq!(r["stddev"], json!(2.0));
    let one = run("statistics", json!({"numbers": [3]})).await.unwrap();
    assert_eq!(one["median"], json!(3.0));
    assert!(one["sample_stddev"].is_null());
    let err = run("statistics", json!({"numbers": []})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("numbers"));
}

#[tokio::test]
async fn converts_units() {
    let r = run(
        "convert_units",
        json!({"value": 5, "from": "km", "to": "mi"}),
    )
    .await
    .unwrap();
    assert!((r["result"].as_f64().unwrap() - 3.106_855_961_62).abs() < 1e-9);
    let r = run(
        "convert_units",
        json!({"value": 100, "from": "C", "to": "F"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], json!(212.0));
    let r = run(
        "convert_units",
        json!({"value": 1, "from": "GiB", "to": "MB"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], json!(1073.741824));
    let r = run(
        "convert_units",
        json!({"value": 2, "from": "hours", "to": "min"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], json!(120.0));
    let err = run(
        "convert_units",
        json!({"value": 1, "from": "kg", "to": "m"}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("to"));
    let err = run(
        "convert_units",
        json!({"value": 1, "from": "furlong", "to": "m"}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("from"));
    let err = run(
        "convert_units",
        json!({"value": -500, "from": "C", "to": "K"}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("value"));
}

#[tokio::test]
async fn unknown_action_is_invalid() {
    let err = run("integrate", json!({})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("action"));
}
