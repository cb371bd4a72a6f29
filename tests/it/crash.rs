//! The server is killed with SIGKILL at random moments while agents buy
//! with `Idempotency-Key`s and retry, with the same key and body, whatever
//! got no answer. Afterwards every purchase answered 200 is in the buyer's
//! ledger exactly once, nothing was charged that was not answered, wallets
//! balance, and the holds of killed calls are released.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate::clock::Timestamp;
use tollgate::money::Credits;
use tollgate::store::EntryKind;

use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{fresh_db, rows_naming_what_is_not_there, Backend};

const AGENTS: usize = 6;
const KILLS: usize = 20;

struct Node {
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `tollgate serve`; on a fresh database it answers the demo key.
fn start(
    db_url: &str,
    master_key: &str,
    dir: &std::path::Path,
    port: u16,
    first: bool,
) -> (Node, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        // Short limits, so claims and holds of killed calls go stale soon on
        // PostgreSQL (where a restarted node cannot know they are dead).
        .args([
            "--request-timeout-secs",
            "3",
            "--tool-timeout-ms",
            "1000",
            "--sweep-interval-secs",
            "1",
        ])
        .env("TOLLGATE_DATABASE_URL", db_url)
        .env("TOLLGATE_MASTER_KEY", master_key)
        .env("TOLLGATE_DATA_DIR", dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the tollgate binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut key = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(k) = line.trim().strip_prefix("API key:") {
            key = Some(k.trim().to_string());
            break;
        }
        if line.starts_with("Tollgate is listening") && !first {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    (Node { child }, key)
}

async fn wait_healthy(client: &reqwest::Client, base: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status().is_success() {
                return Instant::now();
            }
        }
        assert!(Instant::now() < deadline, "the server did not come back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What the agents saw.
#[derive(Default)]
struct Seen {
    /// Idempotency key → order id of its 200.
    answered: HashMap<String, String>,
    /// Longest wait from a restart to the answer of a request the crash cut.
    worst_after_restart: Duration,
    /// Purchases whose first request got no answer.
    cut: usize,
}

async fn killed_at_random_moments(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let (node, key) = start(&db.url, &db.master_key, dir.path(), port, true);
    let key = key.expect("the first start makes a demo key");
    let node = Arc::new(Mutex::new(Some(node)));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    wait_healthy(&client, &base).await;
    let restarted_at = Arc::new(Mutex::new(Instant::now()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let agents: Vec<_> = (0..AGENTS)
        .map(|agent| {
            let (client, base, key, seen, stop, restarted_at) = (
                client.clone(),
                base.clone(),
                key.clone(),
                seen.clone(),
                stop.clone(),
                restarted_at.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let idem = format!("agent-{agent}-{n}");
                    // Both paths: a one-write call and a held, captured one.
                    let body = if n % 2 == 0 {
                        json!({"product_id": "calculator", "parameters": {"action": "evaluate", "expression": format!("{n} + {agent}")}})
                    } else {
                        json!({"product_id": "instance_memory", "parameters": {"action": "set", "key": format!("k{agent}"), "value": n}})
                    };
                    let mut cut = false;
                    loop {
                        let sent = client
                            .post(format!("{base}/products/purchase"))
                            .bearer_auth(&key)
                            .header("Idempotency-Key", &idem)
                            .json(&body)
                            .send()
                            .await;
                        let answer = match sent {
                            Ok(r) => {
                                let status = r.status();
                                r.json::<Value>().await.ok().map(|b| (status, b))
                            }
                            Err(_) => None,
                        };
                        match answer {
                            Some((StatusCode::OK, b)) => {
                                let mut s = seen.lock().unwrap();
                                s.answered.insert(idem.clone(), b["order_id"].as_str().unwrap().to_string());
                                if cut {
                                    s.cut += 1;
                                    let waited = restarted_at.lock().unwrap().elapsed();
                                    s.worst_after_restart = s.worst_after_restart.max(waited);
                                }
                                break;
                            }
                            Some((status, _)) if status == StatusCode::CONFLICT || status.is_server_error() => {
                                // Still running, or the node is going away: ask again.
                                cut = true;
                            }
                            Some((status, b)) => panic!("unexpected {status}: {b}"),
                            None => cut = true,
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            })
        })
        .collect();

    for _ in 0..KILLS {
        let pause = rand::thread_rng().gen_range(100..600);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        drop(node.lock().unwrap().take()); // SIGKILL
        let (fresh, _) = start(&db.url, &db.master_key, dir.path(), port, false);
        *node.lock().unwrap() = Some(fresh);
        let up = wait_healthy(&client, &base).await;
        *restarted_at.lock().unwrap() = up;
    }
    // Let the agents buy on the last node for a moment, longer on a loaded
    // machine, so that the checks below see enough answered purchases.
    let enough = Instant::now() + Duration::from_secs(30);
    tokio::time::sleep(Duration::from_millis(300)).await;
    while seen.lock().unwrap().answered.len() <= 20 && Instant::now() < enough {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for a in agents {
        tokio::time::timeout(Duration::from_secs(90), a)
            .await
            .expect("every cut request got its answer")
            .unwrap();
    }
    // On PostgreSQL the last holds are released by the sweeper after their deadline.
    let store = tollgate::store::connect(&db.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store
        .overdue_holds(Timestamp::from_millis(i64::MAX), 10)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "holds of killed calls were never released"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(node.lock().unwrap().take());

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.answered.len() > 20,
        "the agents bought something: {}",
        seen.answered.len()
    );
    assert!(seen.cut > 0, "some requests were cut by the kills");
    if backend == Backend::Sqlite {
        assert!(
            seen.worst_after_restart < Duration::from_secs(60),
            "a cut request waited {:?} after the restart",
            seen.worst_after_restart
        );
    }
    let user = store
        .user_by_email(tollgate::startup::DEMO_EMAIL)
        .await
        .unwrap()
        .unwrap();
    let txns = store
        .transactions_for_user(user.id, 1_000_000)
        .await
        .unwrap();
    let charged: Vec<String> = txns
        .iter()
        .filter(|t| t.transaction_type == EntryKind::Purchase)
        .map(|t| t.reference.clone().expect("a purchase names its order"))
        .collect();
    let unique: HashSet<&String> = charged.iter().collect();
    assert_eq!(unique.len(), charged.len(), "no order was charged twice");
    let answered: HashSet<&String> = seen.answered.values().collect();
    assert_eq!(
        unique, answered,
        "exactly the purchases answered 200 are charged"
    );
    let sum: Credits = txns.iter().map(|t| t.amount_credits).sum();
    let grants: Credits = store
        .grants_for_user(user.id, 1_000)
        .await
        .unwrap()
        .iter()
        .map(|g| g.remaining_credits)
        .sum();
    let wallet = store.wallet(user.id).await.unwrap().unwrap();
    assert_eq!(
        (sum, grants),
        (wallet.balance_credits, wallet.balance_credits),
        "the wallet balances"
    );
    assert_eq!(
        wallet.held_credits,
        Credits::ZERO,
        "no credits are held any more"
    );
    assert_eq!(
        rows_naming_what_is_not_there(&db).await,
        Vec::<String>::new(),
        "every ledger row names rows that exist"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_survive_sigkill_at_random_moments_on_sqlite() {
    killed_at_random_moments(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchases_survive_sigkill_at_random_moments_on_postgres() {
    killed_at_random_moments(Backend::Postgres).await
}
