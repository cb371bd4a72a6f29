//! The embed widget in a real headless Chromium, driven over WebDriver: a
//! host page on another origin loads `embed.js` twice; a visitor signs in
//! inside the frame, chats with the demo Calculator workflow, calls the
//! calculator through the product page, and pays for both; the host page
//! never sees the token. Screenshots land under the target directory.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says so and passes, except under `CI=true`, where it fails.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::harness::{serve_args, Backend, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
/// How long one step may wait for the page.
const STEP: Duration = Duration::from_secs(20);

/// True when the browser is there; otherwise skips (or fails under CI).
fn browser_available() -> bool {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: install chromium and chromium-driver (apt-get)");
    }
    eprintln!(
        "skipping the browser test: {CHROMIUM} or {CHROMEDRIVER} is missing \
         (apt-get install chromium chromium-driver to run it)"
    );
    false
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A chromedriver child process, killed when dropped.
struct Driver {
    _child: tokio::process::Child,
    url: String,
}

async fn start_driver() -> Driver {
    let port = free_port();
    let child = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(r) = reqwest::get(format!("{url}/status")).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Driver { _child: child, url }
}

async fn connect(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,800", "--hide-scrollbars",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session on headless Chromium")
}

/// Runs `script` in the current frame until it returns something truthy.
async fn wait_js(c: &Client, script: &str, what: &str) -> Value {
    let deadline = Instant::now() + STEP;
    loop {
        let v = c.execute(script, vec![]).await.unwrap_or(Value::Null);
        let done = match &v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if done {
            return v;
        }
        if Instant::now() > deadline {
            let text = c
                .execute(
                    "return document.body ? document.body.innerText : ''",
                    vec![],
                )
                .await
                .unwrap_or(Value::Null);
            panic!("timed out waiting for {what}; the frame shows: {text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

async fn balance_is(c: &Client, credits: i64) {
    wait_js(
        c,
        &format!("var b = document.getElementById('tg-balance'); return !!b && b.dataset.balance === '{credits}';"),
        &format!("a balance of {credits} credits"),
    )
    .await;
}

/// Signs in inside the current frame unless its session already is.
async fn sign_in_if_needed(c: &Client, email: &str, password: &str) {
    let state = wait_js(
        c,
        "if (document.getElementById('tg-email')) return 'form'; \
         if (document.getElementById('tg-balance') && !document.getElementById('tg-balance').hidden) return 'in'; \
         return null;",
        "the sign-in form or a session",
    )
    .await;
    if state == "in" {
        return;
    }
    c.find(Locator::Id("tg-email"))
        .await
        .unwrap()
        .send_keys(email)
        .await
        .unwrap();
    c.find(Locator::Id("tg-password"))
        .await
        .unwrap()
        .send_keys(password)
        .await
        .unwrap();
    c.find(Locator::Id("tg-signin-submit"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_js(
        c,
        "var b = document.getElementById('tg-balance'); return !!b && !b.hidden && !!b.dataset.balance;",
        "the balance after signing in",
    )
    .await;
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("embed-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let png = c.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

/// A Chrome DevTools command through chromedriver, for what WebDriver lacks
/// (a phone-sized viewport: desktop windows have a minimum width).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        let body = json!({"cmd": self.cmd, "params": self.params});
        (reqwest::Method::POST, Some(body.to_string()))
    }
}

async fn cdp(c: &Client, cmd: &'static str, params: Value) {
    c.issue_cmd(Cdp { cmd, params })
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
}

async fn balance(app: &TestApp, token: &str) -> i64 {
    let (status, body) = app.get("/credits/balance", Some(token)).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    body["data"]["balance"].as_i64().unwrap()
}

fn host_page(tollgate: &str, workflow_id: &str, product_id: &str) -> String {
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example shop</title>
<style>body {{ font-family: Georgia, serif; margin: 0; padding: 32px; background: #f6f1e7; color: #3b2f2f; }}</style>
<script>
  window.__before = Object.getOwnPropertyNames(window);
  window.__received = [];
  window.addEventListener("message", function (e) {{ window.__received.push(JSON.stringify(e.data)); }});
</script>
</head><body>
<h1>Example shop</h1>
<p>A site on another origin that embeds two Tollgate widgets.</p>
<script src="{tollgate}/embed.js" async data-workflow-id="{workflow_id}" data-title="Ask the calculator" data-color="#7c3aed"></script>
<script src="{tollgate}/embed.js" async data-product-id="{product_id}" data-title="Calculator tool" data-position="bottom-left"></script>
</body></html>"##
    )
}

/// Serves the host page on a port of its own (another origin).
async fn serve_host(page: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_and_calls_a_tool_through_the_embedded_widget() {
    if !browser_available() {
        return;
    }
    tokio::time::timeout(Duration::from_secs(90), run())
        .await
        .expect("the browser test finishes within 90 seconds");
}

async fn run() {
    // A server with the demo account, as a first start makes it.
    let app = TestApp::spawn(Backend::Sqlite).await.unwrap();
    let db = app.stop().await;
    let args = serve_args();
    let clock = std::sync::Arc::new(tollgate::clock::SystemClock);
    let node = tollgate::startup::App::new(&db.args(), &args, "http://x".into(), clock)
        .await
        .unwrap();
    let demo = node.ensure_demo().await.unwrap().expect("a demo account");
    drop(node);
    let app = TestApp::start(db, args, Backend::Sqlite).await;
    let token = app.login(&demo.email, &demo.password).await;
    let (_, workflows) = app.get("/workflows", Some(&token)).await;
    let calculator_wf = workflows["data"]["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Calculator")
        .expect("the demo Calculator workflow")["workflow_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, products) = app.get("/products/fetch?page_size=100", Some(&token)).await;
    let calculator = products["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "calculator")
        .expect("the calculator tool")
        .clone();
    let calculator_id = calculator["product_id"].as_str().unwrap().to_string();
    let price = calculator["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "evaluate")
        .unwrap()["price_credits"]
        .as_i64()
        .unwrap();
    let start_balance = balance(&app, &token).await;

    let host = serve_host(host_page(&app.url, &calculator_wf, &calculator_id)).await;
    let driver = start_driver().await;
    let profile = tempfile::tempdir().unwrap();
    let c = connect(&driver, profile.path()).await;

    // The host page gets two launchers and one global.
    c.goto(&format!("{host}/")).await.unwrap();
    wait_js(
        &c,
        "return document.querySelectorAll('.tollgate-embed-launcher').length === 2;",
        "two launchers",
    )
    .await;
    // `ret_nodes` is chromedriver's own, left by its script runner.
    let added = js(
        &c,
        "var before = new Set(window.__before.concat(['__before', '__received', 'ret_nodes'])); \
         return Object.getOwnPropertyNames(window).filter(function (k) { return !before.has(k); });",
    )
    .await;
    assert_eq!(added, json!(["TollgateEmbed"]), "the loader's only global");
    assert_eq!(
        js(&c, "return window.TollgateEmbed.widgets.length;").await,
        2
    );

    // Open the workflow widget: a frame on Tollgate's origin that the host cannot read.
    c.find(Locator::Css(
        ".tollgate-embed-launcher[data-tollgate-kind=workflow]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let frame = c
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("iframe[src*='/embed/']"))
        .await
        .unwrap();
    assert!(frame.is_displayed().await.unwrap());
    let sealed = js(
        &c,
        "var f = document.querySelector('iframe.tollgate-embed-frame'); \
         try { return f.contentDocument === null && f.contentWindow.document === undefined; } \
         catch (e) { return e.name === 'SecurityError'; }",
    )
    .await;
    assert_eq!(sealed, true, "the frame is cross-origin to the host");

    // Sign in inside the frame and chat with the Calculator workflow.
    frame.enter_frame().await.unwrap();
    wait_js(
        &c,
        "return !!document.getElementById('tg-email');",
        "the sign-in form",
    )
    .await;
    screenshot(&c, "desktop-sign-in.png").await;
    sign_in_if_needed(&c, &demo.email, &demo.password).await;
    balance_is(&c, start_balance).await;
    let frame_token = js(&c, "return sessionStorage.getItem('tollgate.embed.token');").await;
    let frame_token = frame_token
        .as_str()
        .expect("the frame keeps its token")
        .to_string();
    c.find(Locator::Id("tg-prompt"))
        .await
        .unwrap()
        .send_keys("2 * (3 + 4)")
        .await
        .unwrap();
    c.find(Locator::Id("tg-send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let reply = wait_js(
        &c,
        "var m = document.querySelectorAll('.tg-msg-bot, .tg-msg-error'); \
         return m.length ? m[m.length - 1].className + '|' + m[m.length - 1].textContent : null;",
        "the workflow's reply",
    )
    .await;
    assert_eq!(reply, "tg-msg tg-msg-bot|2 * (3 + 4) = 14");
    balance_is(&c, start_balance - price).await;
    screenshot(&c, "desktop-workflow-chat.png").await;

    // The host page holds nothing of the session.
    c.enter_parent_frame().await.unwrap();
    let host_view = js(
        &c,
        "var o = {}; Object.getOwnPropertyNames(window).forEach(function (k) { \
           try { var v = window[k]; if (typeof v === 'string') o[k] = v; } catch (e) {} }); \
         return JSON.stringify({ strings: o, local: Object.assign({}, localStorage), \
           session: Object.assign({}, sessionStorage), cookie: document.cookie, received: window.__received, \
           widgets: window.TollgateEmbed.widgets.map(function (w) { \
             return { kind: w.kind, id: w.id, title: w.title, keys: Object.keys(w) }; }) });",
    )
    .await;
    let host_view = host_view.as_str().unwrap();
    assert!(!host_view.contains(&frame_token), "{host_view}");
    assert!(!host_view.to_lowercase().contains("token"), "{host_view}");
    assert_eq!(
        js(&c, "return 'token' in window || 'access_token' in window;").await,
        false
    );

    // Open the product widget (the chat closes) and call the calculator.
    c.find(Locator::Css(
        ".tollgate-embed-launcher[data-tollgate-kind=product]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let open = js(
        &c,
        "return window.TollgateEmbed.widgets.filter(function (w) { return w.isOpen(); })\
         .map(function (w) { return w.kind; });",
    )
    .await;
    assert_eq!(open, json!(["product"]), "one frame open at a time");
    let frame = c
        .wait()
        .at_most(STEP)
        .for_element(Locator::Css("iframe[src*='/embed/product/']"))
        .await
        .unwrap();
    frame.enter_frame().await.unwrap();
    sign_in_if_needed(&c, &demo.email, &demo.password).await;
    let price_shown = wait_js(
        &c,
        "var p = document.getElementById('tg-price'); return p && p.dataset.price;",
        "the action's price",
    )
    .await;
    assert_eq!(price_shown, price.to_string());
    let required = js(
        &c,
        "var l = document.querySelector('label[for=tg-f-expression]'); return l && l.textContent;",
    )
    .await;
    assert_eq!(required, "expression * (required)", "the required mark");
    c.find(Locator::Id("tg-f-expression"))
        .await
        .unwrap()
        .send_keys("6 * 7")
        .await
        .unwrap();
    c.find(Locator::Id("tg-run"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let result = wait_js(
        &c,
        "var r = document.getElementById('tg-result-main'); if (r) return r.textContent; \
         var e = document.getElementById('tg-result-error'); return e ? 'error: ' + e.textContent : null;",
        "the tool's result",
    )
    .await;
    assert_eq!(result, "42");
    let charged = js(
        &c,
        "return document.getElementById('tg-charged').dataset.price;",
    )
    .await;
    assert_eq!(charged, price.to_string());
    balance_is(&c, start_balance - 2 * price).await;
    assert_eq!(balance(&app, &token).await, start_balance - 2 * price);
    screenshot(&c, "desktop-product.png").await;

    // On a phone-sized screen the frame fits the viewport.
    c.enter_parent_frame().await.unwrap();
    cdp(
        &c,
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    )
    .await;
    let fits = wait_js(
        &c,
        "var r = document.querySelector(\"iframe[src*='/embed/product/']\").getBoundingClientRect(); \
         return r.left >= 0 && r.right <= window.innerWidth && r.top >= 0 && r.width >= window.innerWidth - 20;",
        "the frame to fill a phone's width",
    )
    .await;
    assert_eq!(fits, true);
    screenshot(&c, "phone-product.png").await;
    cdp(&c, "Emulation.clearDeviceMetricsOverride", json!({})).await;

    // Hostile names render as text on a bundle page that opens both views.
    let (status, created) = app
        .post(
            "/workflows",
            Some(&token),
            json!({"name": HOSTILE, "visibility": "public", "engine": "graph",
                   "definition": {"steps": [{"id": "a", "type": "prompt", "template": "{{prompt}}"}]}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{created}");
    let hostile_wf = created["data"]["workflow_id"].as_str().unwrap().to_string();
    let (status, bundle) = app
        .post(
            "/bundles",
            Some(&token),
            json!({"name": HOSTILE, "description": "Tools and workflows", "visibility": "public",
                   "product_ids": [calculator_id], "workflow_ids": [hostile_wf, calculator_wf]}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{bundle}");
    let bundle_id = bundle["data"]["bundle_id"].as_str().unwrap();
    c.goto(&format!("{}/embed/bundle/{bundle_id}", app.url))
        .await
        .unwrap();
    sign_in_if_needed(&c, &demo.email, &demo.password).await;
    let names = wait_js(
        &c,
        "var n = document.querySelectorAll('.tg-item-name'); \
         return n.length === 3 ? Array.prototype.map.call(n, function (x) { return x.textContent; }) : null;",
        "the bundle's items",
    )
    .await;
    assert_eq!(names, json!(["Calculator", HOSTILE, "Calculator"]));
    assert_eq!(
        js(
            &c,
            "return document.getElementById('tg-title').textContent;"
        )
        .await,
        HOSTILE
    );
    assert_eq!(
        js(&c, "return document.querySelectorAll('img').length;").await,
        0
    );
    screenshot(&c, "desktop-bundle.png").await;
    js(
        &c,
        "document.querySelectorAll('.tg-item')[1].click(); return true;",
    )
    .await;
    wait_js(
        &c,
        "return !!document.getElementById('tg-prompt');",
        "the chat view",
    )
    .await;
    assert_eq!(
        js(
            &c,
            "return document.querySelector('.tg-subhead h2').textContent;"
        )
        .await,
        HOSTILE
    );
    js(
        &c,
        "document.querySelector('.tg-back').click(); return true;",
    )
    .await;
    js(
        &c,
        "document.querySelectorAll('.tg-item')[0].click(); return true;",
    )
    .await;
    wait_js(
        &c,
        "return !!document.getElementById('tg-run');",
        "the product view",
    )
    .await;
    assert_eq!(
        js(&c, "return document.querySelectorAll('img').length;").await,
        0
    );

    c.close().await.unwrap();
    drop(driver);
}
