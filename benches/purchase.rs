//! Purchase-path benchmark. It prepares a database (SQLite in a temp
//! directory, or a fresh schema of the PostgreSQL named by
//! `TOLLGATE_BENCH_DATABASE_URL`), starts the release `tollgate serve` on it
//! as a child process, and drives it with `wrk` (Debian's `wrk`), a load
//! generator in another process, so no client steals the server's cores in
//! this process. It prints, from one run, the throughput and latency of
//! `/health`, `/credits/balance`, `/products/fetch` and purchases (also
//! each with a new `Idempotency-Key`), with
//! their ratios to `/health` (measured first and last, the ratios against
//! the mean of the two), the server's resident memory, and `/health` at
//! the half-rate line's pacing (the latency spread the machine itself adds),
//! and the share of CPU time the host stole for other guests, for each line
//! and over the run (on a virtual machine).
//!
//! Run: `cargo bench --bench purchase` (env: `BENCH_SECONDS`, default 5;
//! `BENCH_HISTORY`, purchases of history behind the capped budget, default
//! 1,000,000; `BENCH_ROUNDS`, default 3, rounds of the 200-wallet purchase
//! each between two `/health` runs, whose median ratio is printed too;
//! `BENCH_SERVER`, another `tollgate` binary to run instead of this build's,
//! for alternating runs of two builds).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate::id::{BudgetId, ProductId, UserId};

use tollgate::clock::{SystemClock, Timestamp};
use tollgate::id::new_id;
use tollgate::ledger::{Ledger, NewGrant};
use tollgate::money::Credits;
use tollgate::store::{self, BudgetRow, NewUser, Store};

const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
const WALLETS: usize = 200;
const PURCHASE: &str =
    r#"{"product_id":"calculator","parameters":{"action":"evaluate","expression":"2 * (3 + 4)"}}"#;

/// One wallet with its default budget and an API key.
struct Wallet {
    user_id: UserId,
    budget: BudgetRow,
    key: String,
}

async fn wallet(store: &dyn Store, ledger: &Ledger) -> anyhow::Result<Wallet> {
    let user_id = UserId::new();
    let budget_id = BudgetId::new();
    store
        .create_user(&NewUser {
            id: user_id,
            email: format!("{user_id}@bench.example"),
            password_hash: "no sign-in".into(),
            role: tollgate::store::Role::Customer,
            budget_id,
            created_at: Timestamp::from_millis(0),
            enabled_products: vec![calculator_id(store).await?],
        })
        .await?;
    let budget = store.budget_by_id(budget_id).await?.expect("just made");
    let (_, key) = tollgate::accounts::create_api_key(store, &budget, "bench", 0).await?;
    ledger
        .grant(NewGrant {
            user_id,
            amount_credits: Credits::new(1_000_000_000),
            credit_type: "admin_grant".into(),
            expires_at: None,
            source_metadata: None,
        })
        .await?;
    Ok(Wallet {
        user_id,
        budget,
        key,
    })
}

async fn calculator_id(store: &dyn Store) -> anyhow::Result<ProductId> {
    Ok(store
        .products()
        .await?
        .into_iter()
        .find(|p| p.slug == "calculator")
        .expect("the builtin catalog is seeded")
        .id)
}

/// Writes `n` purchases of one credit into the budget's history, spread over
/// the last 30 days, with the counters and buckets the server keeps.
async fn history(url: &str, w: &Wallet, n: i64) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let span: i64 = 30 * 24 * 3_600_000;
    let statements = [
        format!(
            "INSERT INTO credit_transactions (id, user_id, transaction_type, amount_credits, balance_after_credits, grant_id, reference, date_created, budget_id, seq) \
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
             SELECT 'h' || CAST(i AS TEXT), '{u}', 'purchase', -1, 1000000000 - i, NULL, NULL, {now} - {span} + i * ({span} / {n}), '{b}', i + 1 FROM n",
            u = w.user_id,
            b = w.budget.id
        ),
        format!("UPDATE wallets SET balance_credits = balance_credits - {n}, entry_count = entry_count + {n} WHERE user_id = '{}'", w.user_id),
        format!("UPDATE grants SET remaining_credits = remaining_credits - {n} WHERE user_id = '{}'", w.user_id),
        format!(
            "INSERT INTO spend_buckets (budget_id, minute, amount, cumulative) \
             SELECT budget_id, minute, amount, SUM(amount) OVER (ORDER BY minute) FROM \
             (SELECT budget_id, date_created / 60000 AS minute, SUM(-amount_credits) AS amount FROM credit_transactions \
              WHERE budget_id = '{b}' GROUP BY budget_id, date_created / 60000) s",
            b = w.budget.id
        ),
        format!(
            "INSERT INTO budget_counters (budget_id, spent_total, held_credits, last_minute) VALUES ('{b}', {n}, 0, {m})",
            b = w.budget.id,
            m = now / 60000
        ),
    ];
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await?;
        for s in &statements {
            sqlx::query(s).execute(&pool).await?;
        }
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await?;
        for s in &statements {
            sqlx::query(s).execute(&pool).await?;
        }
        pool.close().await;
    }
    Ok(())
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(database_url: &str, data_dir: &std::path::Path) -> anyhow::Result<Server> {
    // `BENCH_SERVER` runs another build's binary, to compare two builds in
    // alternating runs on the same machine.
    let binary =
        std::env::var_os("BENCH_SERVER").unwrap_or_else(|| env!("CARGO_BIN_EXE_tollgate").into());
    let mut child = Command::new(binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-demo"])
        .env("TOLLGATE_DATABASE_URL", database_url)
        .env("TOLLGATE_MASTER_KEY", MASTER_KEY)
        .env("TOLLGATE_DATA_DIR", data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .ok_or_else(|| anyhow::anyhow!("the server exited before listening"))??;
        if let Some(rest) = line.strip_prefix("Tollgate is listening on ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
    };
    // Keep reading stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Server { child, url })
}

/// What one wrk run measured.
#[derive(Clone)]
struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    /// The share of the machine's CPU time the host took for other guests
    /// during the run (`steal` in `/proc/stat`; 0 where there is none).
    steal: f64,
}

/// One wrk run's load: GET `path` when `body` is empty, else POST `body`.
#[derive(Clone, Copy)]
struct Load<'a> {
    path: &'a str,
    /// API keys, one per request, round robin; none sends no bearer.
    keys: &'a [String],
    body: &'a str,
    connections: usize,
    seconds: u64,
    /// Each connection's pause after each answer.
    delay_ms: u64,
    /// Draws each pause from an exponential distribution whose mean is
    /// `delay_ms`, as independent agents' think times are.
    random_pauses: bool,
    /// Sends a new `Idempotency-Key` with every request.
    idempotency: bool,
}

impl<'a> Load<'a> {
    fn new(
        path: &'a str,
        keys: &'a [String],
        body: &'a str,
        connections: usize,
        seconds: u64,
    ) -> Self {
        Load {
            path,
            keys,
            body,
            connections,
            seconds,
            delay_ms: 0,
            random_pauses: false,
            idempotency: false,
        }
    }

    /// This load with a pause of `delay_ms` after each answer, drawn at
    /// random (exponential, of that mean) when `random`.
    fn paced(self, delay_ms: u64, random: bool) -> Self {
        Load {
            delay_ms,
            random_pauses: random,
            ..self
        }
    }
}

/// Runs wrk with a Lua script that makes each request of `load`.
fn wrk(url: &str, load: Load<'_>) -> anyhow::Result<Run> {
    let Load {
        path,
        keys,
        body,
        connections,
        seconds,
        delay_ms,
        random_pauses,
        idempotency,
    } = load;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("bench.lua");
    let keys_lua: Vec<String> = keys.iter().map(|k| format!("\"{k}\"")).collect();
    let method = if body.is_empty() { "GET" } else { "POST" };
    let mut f = std::fs::File::create(&script)?;
    write!(
        f,
        r#"
local keys = {{{keys}}}
local n = 0
local body = [==[{body}]==]
local keyed = {idempotency}
-- Keys never repeat: this run's nonce, the thread's number, a counter.
local threads = 0
setup = function(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
request = function()
  n = n + 1
  local headers = {{}}
  if #keys > 0 then headers["Authorization"] = "Bearer " .. keys[(n % #keys) + 1] end
  if keyed then headers["Idempotency-Key"] = "{nonce}-" .. tid .. "-" .. n end
  if body ~= "" then headers["Content-Type"] = "application/json" end
  return wrk.format("{method}", "{path}", headers, body ~= "" and body or nil)
end
local mean = {delay_ms}
local random_pauses = {random_pauses}
init = function(args)
  math.randomseed(os.time() * 64 + tid)
end
delay = function()
  if random_pauses then
    return math.floor(-mean * math.log(1 - math.random()) + 0.5)
  end
  return mean
end
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("RESULT %f %f %f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, non2xx))
end
"#,
        keys = keys_lua.join(","),
        nonce = new_id(),
    )?;
    let threads = connections.clamp(1, 2);
    let cpu_before = cpu_ticks();
    let out = Command::new("wrk")
        .args([
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "10s",
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run wrk ({e}); install Debian's wrk"))?;
    let steal = stolen(cpu_before, cpu_ticks());
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("wrk printed no result: {text}"))?;
    let v: Vec<f64> = line
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    Ok(Run {
        rps: v[0],
        p50_ms: v[1],
        p99_ms: v[2],
        non_2xx: v[3] as u64,
        steal,
    })
}

/// The machine's (all, stolen) CPU ticks so far, from `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    Some((ticks.iter().sum(), *ticks.get(7)?))
}

/// The share of the ticks between two readings that were stolen: on a
/// virtual machine, time the host gave to other guests while this one had
/// work to run. Every figure of a run with much of it is slower and more
/// spread than the machine alone makes it.
fn stolen(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> f64 {
    match (before, after) {
        (Some((all0, steal0)), Some((all1, steal1))) if all1 > all0 => {
            steal1.saturating_sub(steal0) as f64 / (all1 - all0) as f64
        }
        _ => 0.0,
    }
}

/// The ledger engine's (batches, commands) so far, from `/metrics`.
async fn ledger_counts(url: &str) -> anyhow::Result<(f64, f64)> {
    let text = reqwest::get(format!("{url}/metrics")).await?.text().await?;
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    Ok((
        get("tollgate_ledger_batches_total "),
        get("tollgate_ledger_commands_total "),
    ))
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn print(name: &str, r: &Run, health: f64) {
    println!(
        "{name:<46} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  {:>6.3} x /health  steal {:>4.1}%{}",
        r.rps,
        r.p50_ms,
        r.p99_ms,
        r.rps / health,
        r.steal * 100.0,
        if r.non_2xx > 0 {
            format!("  ({} non-2xx!)", r.non_2xx)
        } else {
            String::new()
        }
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let history_n: i64 = std::env::var("BENCH_HISTORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    // PostgreSQL: (server URL, the run's schema), dropped at the end.
    let mut pg_schema = None;
    let database_url = match std::env::var("TOLLGATE_BENCH_DATABASE_URL") {
        // A schema of its own, so runs never see each other's data.
        Ok(base) => {
            let schema = format!("bench_{}", new_id());
            pg_schema = Some((base.clone(), schema.clone()));
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
    let backend = if database_url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };

    // Prepare: migrations and the catalog come from a first start.
    let started = Instant::now();
    drop(start_server(&database_url, dir.path())?);
    let store = store::connect(&database_url).await?;
    let ledger = Ledger::new(store.clone(), Arc::new(SystemClock));
    let mut wallets = Vec::new();
    for _ in 0..WALLETS {
        wallets.push(wallet(store.as_ref(), &ledger).await?);
    }
    let hot = wallet(store.as_ref(), &ledger).await?;
    let uncapped = wallet(store.as_ref(), &ledger).await?;
    let capped = wallet(store.as_ref(), &ledger).await?;
    let mut caps = capped.budget.clone();
    caps.cap_per_call = Some(Credits::new(1_000));
    caps.cap_hourly = Some(Credits::new(1_000_000_000));
    caps.cap_daily = Some(Credits::new(1_000_000_000));
    caps.cap_weekly = Some(Credits::new(1_000_000_000));
    caps.cap_monthly = Some(Credits::new(1_000_000_000));
    caps.cap_total = Some(Credits::new(1_000_000_000));
    store.update_budget(&caps).await?;
    history(&database_url, &capped, history_n).await?;
    if backend == "postgres" {
        // A database in service has statistics (autovacuum analyses tables
        // as they change); a fresh schema has none, and plans made without
        // them scan whole tables where an index would find a few rows. And
        // autovacuum would vacuum the bulk-loaded history in the middle of
        // the first measurements, and a checkpoint write it out: both are
        // done here, so the runs measure a database in its steady state.
        let pool = sqlx::PgPool::connect(&database_url).await?;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
        )
        .fetch_all(&pool)
        .await?;
        sqlx::query(&format!("VACUUM (ANALYZE) {}", tables.join(", ")))
            .execute(&pool)
            .await?;
        sqlx::query("CHECKPOINT").execute(&pool).await?;
        pool.close().await;
    }
    drop(ledger);
    drop(store);
    let setup = started.elapsed();

    let server = start_server(&database_url, dir.path())?;
    let url = server.url.clone();
    let pid = server.child.id();
    let keys: Vec<String> = wallets.iter().map(|w| w.key.clone()).collect();
    let none: Vec<String> = Vec::new();
    println!(
        "backend {backend}; {WALLETS} wallets, {history_n} purchases behind the capped budget (set up in {:.1?}); wrk, {seconds} s per line",
        setup
    );
    // Warm up every path once.
    wrk(&url, Load::new("/health", &none, "", 8, 1))?;
    wrk(&url, Load::new("/products/purchase", &keys, PURCHASE, 8, 1))?;

    // `/health` is measured first and last, and the ratios are against the
    // mean of the two, so that the machine's drift over the run weighs on
    // both sides alike; both figures are printed.
    let run_cpu = cpu_ticks();
    let health_first = wrk(&url, Load::new("/health", &none, "", 32, seconds))?;
    let mut lines: Vec<(String, Run)> = Vec::new();
    let balance = wrk(&url, Load::new("/credits/balance", &keys, "", 32, seconds))?;
    lines.push(("GET /credits/balance".into(), balance.clone()));
    let fetch = wrk(&url, Load::new("/products/fetch", &keys, "", 32, seconds))?;
    lines.push(("GET /products/fetch".into(), fetch.clone()));
    let (batches_before, commands_before) = ledger_counts(&url).await?;
    let many = wrk(
        &url,
        Load::new("/products/purchase", &keys, PURCHASE, 32, seconds),
    )?;
    lines.push(("POST /products/purchase, 200 wallets".into(), many.clone()));
    let (batches, commands) = ledger_counts(&url).await?;
    let per_batch = (commands - commands_before) / (batches - batches_before).max(1.0);
    let rss_peak = rss_mib(pid);
    let one = wrk(
        &url,
        Load::new(
            "/products/purchase",
            std::slice::from_ref(&hot.key),
            PURCHASE,
            64,
            seconds,
        ),
    )?;
    lines.push(("  one hot wallet, 64 connections".into(), one.clone()));
    let off = wrk(
        &url,
        Load::new(
            "/products/purchase",
            std::slice::from_ref(&uncapped.key),
            PURCHASE,
            32,
            seconds,
        ),
    )?;
    lines.push(("  one budget, no caps".into(), off.clone()));
    let on = wrk(
        &url,
        Load::new(
            "/products/purchase",
            std::slice::from_ref(&capped.key),
            PURCHASE,
            32,
            seconds,
        ),
    )?;
    lines.push((
        format!("  one budget, all caps, {history_n} in history"),
        on.clone(),
    ));
    // Half the peak rate: each of 32 connections waits 64 / peak seconds
    // after each answer, so that with its own latency it sends a little
    // under half as many requests as at the peak. (Subtracting the peak's
    // latency would overshoot: unloaded, a request answers far sooner.)
    let delay = ((32.0 * 2.0 * 1000.0) / many.rps.max(1.0)).round().max(1.0) as u64;
    let half = wrk(
        &url,
        Load::new("/products/purchase", &keys, PURCHASE, 32, seconds).paced(delay, false),
    )?;
    lines.push((
        format!("  at under half the peak rate ({delay} ms pauses)"),
        half.clone(),
    ));
    // The machine's own spread at that pacing: `/health` does no work, so
    // its p99 / p50 is what scheduling and the load generator add.
    let half_health = wrk(
        &url,
        Load::new("/health", &none, "", 32, seconds).paced(delay, false),
    )?;
    lines.push((
        format!("GET /health with the same {delay} ms pauses"),
        half_health.clone(),
    ));
    // The same rate with random pauses (exponential, of the same mean), as
    // agents that do not wait for one another send: with fixed pauses, the
    // connections one batch answered at once all send again at once.
    let random = wrk(
        &url,
        Load::new("/products/purchase", &keys, PURCHASE, 32, seconds).paced(delay, true),
    )?;
    lines.push((
        format!("  the same with random pauses (mean {delay} ms)"),
        random.clone(),
    ));
    let random_health = wrk(
        &url,
        Load::new("/health", &none, "", 32, seconds).paced(delay, true),
    )?;
    lines.push((
        "GET /health with the same random pauses".to_string(),
        random_health.clone(),
    ));
    // The 200-wallet purchase again, in rounds each between two `/health`
    // runs: each round's ratio is against the mean of its neighbours, and
    // the median of the rounds moves far less than one pair does on a
    // machine whose speed drifts within a minute.
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let health_load = Load::new("/health", &none, "", 32, seconds);
    let mut paired = Vec::with_capacity(rounds);
    let mut before = wrk(&url, health_load)?;
    for _ in 0..rounds {
        let purchase = wrk(
            &url,
            Load::new("/products/purchase", &keys, PURCHASE, 32, seconds),
        )?;
        let after = wrk(&url, health_load)?;
        paired.push(purchase.rps / ((before.rps + after.rps) / 2.0));
        before = after;
    }
    paired.sort_by(f64::total_cmp);
    // Last of the purchases: its keys and orders stay behind in the tables.
    let keyed = wrk(
        &url,
        Load {
            idempotency: true,
            ..Load::new("/products/purchase", &keys, PURCHASE, 32, seconds)
        },
    )?;
    lines.push(("  each with a new Idempotency-Key".into(), keyed.clone()));
    let health_last = wrk(&url, Load::new("/health", &none, "", 32, seconds))?;
    let health = Run {
        rps: (health_first.rps + health_last.rps) / 2.0,
        ..health_first.clone()
    };
    print(
        "GET /health (32 connections), first",
        &health_first,
        health.rps,
    );
    print(
        "GET /health (32 connections), last",
        &health_last,
        health.rps,
    );
    for (name, run) in &lines {
        print(name, run, health.rps);
    }
    let rss = rss_mib(pid).max(rss_peak);
    println!();
    println!("/health, mean of first and last: {:.0} req/s", health.rps);
    println!("purchase / health:            {:.3}", many.rps / health.rps);
    println!(
        "purchase / health, median of {rounds} rounds each between two /health runs: {:.3} ({:.3} to {:.3})",
        paired[paired.len() / 2],
        paired[0],
        paired[paired.len() - 1]
    );
    println!(
        "balance / health:             {:.3}",
        balance.rps / health.rps
    );
    println!(
        "fetch / health:               {:.3}",
        fetch.rps / health.rps
    );
    println!("keyed / unkeyed purchases:    {:.3}", keyed.rps / many.rps);
    println!("hot wallet / many wallets:    {:.3}", one.rps / many.rps);
    println!("ledger commands per commit:   {per_batch:.1} (200 wallets)");
    println!("caps on (history) / caps off: {:.3}", on.rps / off.rps);
    println!(
        "p99 / p50 at {:.0} req/s ({:.2} x peak): {:.2}",
        half.rps,
        half.rps / many.rps.max(1.0),
        half.p99_ms / half.p50_ms.max(0.001)
    );
    println!(
        "p99 / p50 of /health at {:.0} req/s, the same pauses: {:.2}",
        half_health.rps,
        half_health.p99_ms / half_health.p50_ms.max(0.001)
    );
    println!(
        "p99 / p50 at {:.0} req/s, random pauses: {:.2} (/health {:.2})",
        random.rps,
        random.p99_ms / random.p50_ms.max(0.001),
        random_health.p99_ms / random_health.p50_ms.max(0.001)
    );
    println!("server resident memory:       {rss:.0} MiB");
    let steal = stolen(run_cpu, cpu_ticks());
    println!(
        "CPU stolen by the host:       {:.1}%{}",
        steal * 100.0,
        if steal > 0.05 {
            " (other guests took much of this machine's time: every figure is slower and its tail wider than the machine alone makes it)"
        } else {
            ""
        }
    );
    drop(server);
    std::thread::sleep(Duration::from_millis(100));
    if let Some((base, schema)) = pg_schema {
        let pool = sqlx::PgPool::connect(&base).await?;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&pool)
            .await?;
        pool.close().await;
    }
    Ok(())
}
