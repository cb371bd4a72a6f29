//! Tests of the encoding tool's actions, run through the tool.

use super::*;
use crate::tools::builtin::{field_of, run_tool};

async fn run(action: &str, params: Value) -> Result<Value, ToolError> {
    run_tool(&Tool, action, params).await
}

async fn hash_hex(text: &str, algorithm: &str) -> String {
    let r = run("hash", json!({"text": text, "algorithm": algorithm}))
        .await
        .unwrap();
    r["hex"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn hashes_known_vectors() {
    assert_eq!(
        hash_hex("abc", "sha256").await,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hash_hex("abc", "sha1").await,
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hash_hex("", "md5").await,
        "d41d8cd98f00b204e9800998ecf8427e"
    );
    assert!(hash_hex("abc", "sha512")
        .await
        .starts_with("ddaf35a193617aba"));
    let r = run(
        "hash",
        json!({"text": "616263", "algorithm": "sha256", "input_encoding": "hex"}),
    )
    .await
    .unwrap();
    assert_eq!(
        r["hex"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(r["base64"], "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    let err = run(
        "hash",
        json!({"text": "zz", "algorithm": "sha256", "input_encoding": "hex"}),
    )
    .await
    .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("text"));
    let err = run("hash", json!({"text": "a", "algorithm": "crc32"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("algorithm"));
}

#[tokio::test]
async fn signs_and_verifies_hmac() {
    // RFC 4231 test case 2.
    let params =
        json!({"key": "Jefe", "message": "what do ya want for nothing?", "algorithm": "sha256"});
    let r = run("hmac", params).await.unwrap();
    let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    assert_eq!(r["hex"], expected);
    assert!(r.get("matches").is_none());
    let check = |sig: &str| json!({"key": "Jefe", "message": "what do ya want for nothing?", "algorithm": "sha256", "expected": sig});
    assert_eq!(
        run("hmac", check(&format!("sha256={expected}")))
            .await
            .unwrap()["matches"],
        json!(true)
    );
    let b64 = r["base64"].as_str().unwrap().to_string();
    assert_eq!(
        run("hmac", check(&b64)).await.unwrap()["matches"],
        json!(true)
    );
    assert_eq!(
        run("hmac", check(&"00".repeat(32))).await.unwrap()["matches"],
        json!(false)
    );
    let err = run("hmac", check("!!!")).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("expected"));
}

#[tokio::test]
async fn encodes_and_decodes_round_trip() {
    let text = "héllo wörld/?&=+~";
    for encoding in ENCODINGS {
        let encoded = run("encode", json!({"text": text, "encoding": encoding}))
            .await
            .unwrap();
        let encoded = encoded["result"].as_str().unwrap().to_string();
        let decoded = run("decode", json!({"text": encoded, "encoding": encoding}))
            .await
            .unwrap();
        assert_eq!(decoded["result"], text, "{encoding}");
    }
    let r = run("encode", json!({"text": "a b&c", "encoding": "url"}))
        .await
        .unwrap();
    assert_eq!(r["result"], "a%20b%26c");
    let r = run("encode", json!({"text": "a b", "encoding": "form"}))
        .await
        .unwrap();
    assert_eq!(r["result"], "a+b");
    let r = run(
        "encode",
        json!({"text": "<a href='x'>", "encoding": "html"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "&lt;a href=&#39;x&#39;&gt;");
    let r = run("decode", json!({"text": "aGVsbG8", "encoding": "base64"}))
        .await
        .unwrap();
    assert_eq!(r["result"], "hello");
    let r = run(
        "decode",
        json!({"text": "&#x41;&#66;&amp;&bogus; &", "encoding": "html"}),
    )
    .await
    .unwrap();
    assert_eq!(r["result"], "AB&&bogus; &");
}

#[tokio::test]
async fn rejects_bad_encoded_input() {
    for (text, encoding) in [
        ("@@@", "base64"),
        ("abc", "hex"),
        ("zz", "hex"),
        ("%zz", "url"),
        ("%4", "url"),
        ("%+1", "url"),
        ("/w==", "base64"),
    ] {
        let err = run("decode", json!({"text": text, "encoding": encoding}))
            .await
            .unwrap_err();
        assert_eq!(
            field_of(err).as_deref(),
            Some("text"),
            "{text} as {encoding}"
        );
    }
    let err = run("decode", json!({"text": "x", "encoding": "rot13"}))
        .await
        .unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("encoding"));
}

#[tokio::test]
async fn unknown_action_is_invalid() {
    let err = run("encrypt", json!({})).await.unwrap_err();
    assert_eq!(field_of(err).as_deref(), Some("action"));
}
