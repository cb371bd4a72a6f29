//! Purchase-path benchmark: starts a Tollgate server on 127.0.0.1 (SQLite in
//! a temp directory, or PostgreSQL when TOLLGATE_BENCH_DATABASE_URL is set),
//! then drives `GET /health` and `POST /products/purchase` with the same
//! concurrency over keep-alive connections, and prints throughput, latency
//! percentiles and the purchase/health ratios from the same run.
//!
//! Run: `cargo bench --bench purchase` (env: BENCH_REQUESTS, BENCH_CONCURRENCY).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate::app::App;
use tollgate::clock::SystemClock;
use tollgate::config::{DatabaseArgs, LogFormat, ServeArgs};
use tollgate::secret::Secret;

struct Stats {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

async fn drive(
    client: &reqwest::Client,
    total: usize,
    concurrency: usize,
    make: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) -> Stats {
    let started = Instant::now();
    let per_task = total / concurrency;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_task);
            for _ in 0..per_task {
                let t = Instant::now();
                let resp = make(&client).send().await.expect("request");
                assert!(resp.status().is_success(), "status {}", resp.status());
                resp.bytes().await.expect("body");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    Stats {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: all[all.len() / 2],
        p99: all[all.len() * 99 / 100],
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let concurrency: usize = std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir()?;
    let database_url = match std::env::var("TOLLGATE_BENCH_DATABASE_URL") {
        // A schema of its own, so runs never see each other's data.
        Ok(base) => {
            let schema = format!("bench_{}", tollgate::id::new_id());
            let pool = sqlx::PgPool::connect(&base).await?;
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&pool)
                .await?;
            pool.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-c%20search_path%3D{schema}")
        }
        Err(_) => format!("sqlite://{}/bench.db", dir.path().display()),
    };
    let db = DatabaseArgs {
        database_url: database_url.clone(),
        master_key: Some(Secret::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")),
        data_dir: dir.path().to_path_buf(),
    };
    let serve = ServeArgs {
        bind: "127.0.0.1:0".parse()?,
        public_url: None,
        no_demo: true,
        disable_signup: false,
        token_ttl_secs: 3600,
        body_limit: 1 << 20,
        request_timeout_secs: 60,
        sweep_interval_secs: 30,
        outbound_allowlist: String::new(),
        tool_timeout_ms: 30_000,
        tool_max_response_bytes: 1 << 20,
        no_default_builtin_tools: false,
        issue_reports_per_hour: 30,
        llm_base_url: None,
        llm_api_key: None,
        llm_model: "test-model".into(),
        llm_allowed_models: String::new(),
        llm_max_calls_per_run: 20,
        llm_max_calls_per_user_hour: 200,
        llm_max_calls_per_user_day: 1000,
        llm_credits_per_1k_prompt_tokens: 0,
        llm_credits_per_1k_completion_tokens: 0,
        workers: 2,
        run_lease_secs: 30,
        callback_max_attempts: 5,
        run_state_limit_bytes: 1024 * 1024,
        max_queued_runs_per_user: 50,
        max_running_runs_per_user: 2,
        callback_backoff_ms: 50,
        embed_frame_ancestors: "*".into(),
        log_format: LogFormat::Text,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = App::new(&db, &serve, url.clone(), Arc::new(SystemClock)).await?;
    let demo = app.ensure_demo().await?.expect("a fresh database");
    // Enough credits for every purchase.
    let user = app.state.store.user_by_email(&demo.email).await?.unwrap();
    app.state
        .ledger
        .grant(tollgate::ledger::NewGrant {
            user_id: user.id,
            amount_credits: 10_000_000,
            credit_type: "admin_grant".into(),
            expires_at: None,
            source_metadata: None,
        })
        .await?;
    tokio::spawn(app.run(listener, std::future::pending()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let key = demo.api_key.clone();
    let instance: serde_json::Value = client
        .post(format!("{url}/products/purchase"))
        .bearer_auth(&key)
        .json(&json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": "k", "value": "v"}}))
        .send()
        .await?
        .json()
        .await?;
    let instance_id = instance["instance_id"].as_str().unwrap().to_string();

    let health_url = format!("{url}/health");
    let health: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
        Arc::new(move |c| c.get(&health_url));
    let purchase_url = format!("{url}/products/purchase");
    let body =
        json!({"product_id": "instance_memory", "parameters": {"action": "get", "key": "k"}});
    let purchase: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync> =
        Arc::new(move |c| {
            c.post(&purchase_url)
                .bearer_auth(&key)
                .header("x-instance-id", &instance_id)
                .json(&body)
        });

    // Warm up both paths, then measure them back to back.
    drive(&client, 200, concurrency.min(8), health.clone()).await;
    drive(&client, 200, concurrency.min(8), purchase.clone()).await;
    let h = drive(&client, total, concurrency, health).await;
    let p = drive(&client, total, concurrency, purchase).await;
    let backend = if database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    println!("backend {backend}, {total} requests per endpoint, concurrency {concurrency}");
    println!(
        "GET /health              {:>9.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}",
        h.rps, h.p50, h.p99
    );
    println!(
        "POST /products/purchase  {:>9.0} req/s  p50 {:>8.2?}  p99 {:>8.2?}",
        p.rps, p.p50, p.p99
    );
    println!(
        "purchase/health: throughput {:.3}, p50 latency {:.1}x, p99 latency {:.1}x",
        p.rps / h.rps,
        p.p50.as_secs_f64() / h.p50.as_secs_f64(),
        p.p99.as_secs_f64() / h.p99.as_secs_f64()
    );
    Ok(())
}
