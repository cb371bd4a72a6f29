//! Durable, signed callback delivery for workflow runs.
//!
//! When a run ends with a `callback_url`, its worker queues a row in the
//! `deliveries` outbox in the same transaction. [`run`] drains that outbox:
//! [`deliver_once`] claims one due delivery under a lease, POSTs the run to
//! its URL and records the attempt on the delivery and on the run's
//! `callback_*` fields.
//!
//! # The request
//!
//! ```text
//! POST <callback_url>
//! content-type: application/json
//! webhook-id: <delivery id, the same on every retry>
//! webhook-timestamp: <unix seconds of this attempt>
//! webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">
//!
//! {"type": "run.completed", "timestamp": "<completed_at>", "data": {"run": {...}}}
//! ```
//!
//! This is the Standard Webhooks scheme (<https://www.standardwebhooks.com>),
//! so its libraries verify these requests. The HMAC key is the user's secret
//! (`whsec_<base64 of 32 random bytes>`, shown by `GET /webhooks/secret`),
//! base64-decoded after the `whsec_` prefix. See [`payload`] for the body.
//!
//! # Outcomes and retries
//!
//! - a 2xx answer: `delivered`;
//! - a network error, a time-out, a 5xx, a 429 or a response larger than
//!   [`MAX_RESPONSE_BYTES`]: tried again after [`retry_delay`], until
//!   `callback_max_attempts` attempts were made, then `failed`;
//! - any other answer (3xx, since redirects are not followed, or another
//!   4xx), or a URL that is no longer allowed: `failed` at once.
//!
//! Delivery is at least once: a receiver that answered but whose answer was
//! not recorded (a crash, a shutdown) gets the same `webhook-id` again after
//! the lease expires, and should deduplicate by it.

use crate::id::UserId;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::watch;

use crate::app::{AppInner, AppState};
use crate::clock::{from_millis, iso, to_millis, Timestamp};
use crate::store::{DeliveryAttempt, DeliveryRow, DeliveryStatus, RunRow};
use crate::tools::outbound::OutboundError;
use crate::workflows::view::run_view;

/// The prefix Standard Webhooks gives signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a signing secret.
const SECRET_BYTES: usize = 32;
/// How long a claimed delivery is held before another node may take it.
pub const DELIVERY_LEASE: Duration = Duration::from_secs(60);
/// How long a receiver has to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a receiver's answer that is read (and then discarded).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// How long [`run`] sleeps when the outbox has nothing due.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// The event type every callback carries.
pub const EVENT_TYPE: &str = "run.completed";

/// Serialises secret creation and rotation on this node, so that concurrent
/// first uses write one secret and then all read it back.
static SECRET_WRITE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fresh signing secret: `whsec_` and base64 of 32 random bytes.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The user's signing secret, created on first use.
pub async fn secret_for(app: &AppInner, user_id: UserId) -> anyhow::Result<String> {
    if let Some(secret) = load_secret(app, user_id).await? {
        return Ok(secret);
    }
    let _guard = SECRET_WRITE.lock().await;
    if let Some(secret) = load_secret(app, user_id).await? {
        return Ok(secret);
    }
    let now = Timestamp::from(app.clock.now());
    app.store
        .insert_webhook_secret(user_id, &app.master.seal(new_secret().as_bytes()), now)
        .await?;
    // Read back what is stored: another node may have created it first.
    load_secret(app, user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the webhook secret was not stored"))
}

/// Replaces the user's signing secret; deliveries from now on, retries
/// included, are signed with the new one only.
pub async fn rotate_secret(app: &AppInner, user_id: UserId) -> anyhow::Result<String> {
    let _guard = SECRET_WRITE.lock().await;
    write_secret(app, user_id, &new_secret()).await?;
    load_secret(app, user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the webhook secret was not stored"))
}

async fn load_secret(app: &AppInner, user_id: UserId) -> anyhow::Result<Option<String>> {
    let Some(sealed) = app.store.webhook_secret(user_id).await? else {
        return Ok(None);
    };
    let secret = String::from_utf8(app.master.open(&sealed)?)
        .map_err(|_| anyhow::anyhow!("a stored webhook secret is not text"))?;
    secret_key(&secret)?;
    Ok(Some(secret))
}

async fn write_secret(app: &AppInner, user_id: UserId, secret: &str) -> anyhow::Result<()> {
    let now = Timestamp::from(app.clock.now());
    app.store
        .set_webhook_secret(user_id, &app.master.seal(secret.as_bytes()), now)
        .await?;
    Ok(())
}

/// The HMAC key of a `whsec_` secret.
fn secret_key(secret: &str) -> anyhow::Result<Vec<u8>> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or_else(|| anyhow::anyhow!("a webhook secret must start with {SECRET_PREFIX}"))?;
    let key = B64
        .decode(encoded)
        .map_err(|_| anyhow::anyhow!("a webhook secret must be base64 after {SECRET_PREFIX}"))?;
    anyhow::ensure!(!key.is_empty(), "a webhook secret must not be empty");
    Ok(key)
}

/// The `webhook-signature` value: `v1,` and base64 of HMAC-SHA256 over
/// `{id}.{timestamp}.{body}`, keyed with the decoded secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> anyhow::Result<String> {
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret_key(secret)?)
        .map_err(|_| anyhow::anyhow!("an HMAC key of any length is accepted"))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The callback body, in the Standard Webhooks payload shape:
///
/// ```json
/// {"type": "run.completed", "timestamp": "2025-01-01T00:00:00.000Z", "data": {"run": {...}}}
/// ```
///
/// `type` is `run.completed` for every terminal status; `data.run.status`
/// says which (`succeeded`, `failed` or `cancelled`). `timestamp` is when
/// the run ended, the same on every retry. `data.run` is the run object of
/// `GET /api/agent-webhooks/runs/{runId}` as it stands at the attempt, so
/// its `callback_*` fields show the delivery state before this attempt.
pub fn payload(run: &RunRow) -> Value {
    json!({
        "type": EVENT_TYPE,
        "timestamp": iso(from_millis(run.completed_at.unwrap_or(run.updated_at).millis())),
        "data": {"run": run_view(run)},
    })
}

/// The wait before retrying after `attempts` attempts, without jitter:
/// `base * 2^(attempts-1)`, at most [`MAX_BACKOFF`]. With the default base of
/// 2 s (`TOLLGATE_CALLBACK_BACKOFF_MS`) that is 2 s, 4 s, 8 s, ... up to an
/// hour.
pub fn backoff(base: Duration, attempts: i64) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 62) as u32;
    let base_ms = u64::try_from(base.as_millis()).unwrap_or(u64::MAX).max(1);
    let ms = base_ms.saturating_mul(2u64.saturating_pow(exponent));
    Duration::from_millis(ms).min(MAX_BACKOFF)
}

/// The actual wait: [`backoff`] with jitter, uniformly between half of it
/// and all of it, so receivers that failed together are not retried
/// together.
pub fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let full = u64::try_from(backoff(base, attempts).as_millis()).unwrap_or(u64::MAX);
    let half = full / 2;
    Duration::from_millis(rand::thread_rng().gen_range(half..=full).max(1))
}

/// What one attempt came to.
enum Outcome {
    Delivered(u16),
    /// Worth trying again.
    Retry(Option<u16>, String),
    /// Not worth trying again.
    Fail(Option<u16>, String),
}

/// Delivers one due callback, if any; true when one was handled.
pub async fn deliver_once(app: &AppInner) -> anyhow::Result<bool> {
    deliver_once_within(app, DELIVERY_TIMEOUT).await
}

/// [`deliver_once`] with a chosen time limit for the receiver's answer.
pub async fn deliver_once_within(app: &AppInner, timeout: Duration) -> anyhow::Result<bool> {
    let now = Timestamp::from(app.clock.now());
    let lease_until = now + chrono::Duration::milliseconds(DELIVERY_LEASE.as_millis() as i64);
    let Some(delivery) = app.store.claim_delivery(now, lease_until.millis()).await? else {
        return Ok(false);
    };
    let attempts = delivery.attempts + 1;
    let outcome = match app.store.run_by_id(delivery.run_id).await? {
        Some(run) => attempt(app, &delivery, &run, now.millis(), timeout).await?,
        None => Outcome::Fail(None, "the run no longer exists".into()),
    };
    let finished = to_millis(app.clock.now());
    let (status, http_status, error, next_attempt_at) = match outcome {
        Outcome::Delivered(code) => (DeliveryStatus::Delivered, Some(code), None, finished),
        Outcome::Retry(code, error) if attempts < app.settings.callback_max_attempts => {
            let delay = retry_delay(app.settings.callback_backoff, attempts);
            let next = finished + delay.as_millis() as i64;
            (DeliveryStatus::Pending, code, Some(error), next)
        }
        Outcome::Retry(code, error) | Outcome::Fail(code, error) => {
            (DeliveryStatus::Failed, code, Some(error), finished)
        }
    };
    tracing::info!(
        delivery_id = %delivery.id,
        run_id = %delivery.run_id,
        attempt = attempts,
        http_status = http_status.map(i64::from),
        error = error.as_deref().unwrap_or(""),
        outcome = status.as_str(),
        "callback attempt"
    );
    crate::telemetry::delivery(status.as_str());
    app.store
        .record_delivery_attempt(&DeliveryAttempt {
            delivery_id: delivery.id,
            run_id: delivery.run_id,
            status,
            attempts,
            next_attempt_at: Timestamp::from_millis(next_attempt_at),
            http_status: http_status.map(i64::from),
            error,
            attempted_at: now,
        })
        .await?;
    Ok(true)
}

/// One signed POST of `run` to the delivery's URL.
async fn attempt(
    app: &AppInner,
    delivery: &DeliveryRow,
    run: &RunRow,
    now_ms: i64,
    timeout: Duration,
) -> anyhow::Result<Outcome> {
    // The URL was checked when the run was triggered; the operator's rules
    // may have changed since, and an IP literal never meets the resolver.
    let url = match app.outbound.check_url(&delivery.url) {
        Ok(url) => url,
        Err(e) => {
            return Ok(Outcome::Fail(
                None,
                format!("the callback URL is not allowed: {e}"),
            ))
        }
    };
    let secret = secret_for(app, delivery.user_id).await?;
    let payload = payload(run);
    // The run's parts are bounded by the state limit; this bounds their sum.
    let max_body = app
        .settings
        .run_state_limit_bytes
        .saturating_mul(2)
        .saturating_add(256 * 1024);
    if crate::workflows::template::json_size(&payload, max_body).is_err() {
        return Ok(Outcome::Fail(
            None,
            format!("the callback body would be larger than {max_body} bytes"),
        ));
    }
    let body = serde_json::to_vec(&payload)?;
    let timestamp = now_ms.div_euclid(1000);
    let signature = sign(&secret, &delivery.id.to_string(), timestamp, &body)?;
    let request = app
        .outbound
        .direct()
        .post(url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", delivery.id.to_string())
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    // The client's own limit covers the whole exchange; this one also
    // bounds anything the client might wait on outside it.
    let sent = tokio::time::timeout(
        timeout + Duration::from_secs(1),
        app.outbound.send(request, MAX_RESPONSE_BYTES),
    )
    .await
    .unwrap_or(Err(OutboundError::Timeout));
    Ok(match sent {
        Ok(response) => {
            let code = response.status;
            match code {
                200..=299 => Outcome::Delivered(code),
                429 | 500..=599 => {
                    Outcome::Retry(Some(code), format!("the receiver answered HTTP {code}"))
                }
                300..=399 => Outcome::Fail(
                    Some(code),
                    format!("the receiver answered HTTP {code}; callbacks do not follow redirects"),
                ),
                _ => Outcome::Fail(Some(code), format!("the receiver answered HTTP {code}")),
            }
        }
        Err(OutboundError::Timeout) => Outcome::Retry(
            None,
            format!(
                "the receiver did not answer within {} ms",
                timeout.as_millis()
            ),
        ),
        Err(e @ (OutboundError::Failed(_) | OutboundError::TooLarge(_))) => {
            Outcome::Retry(None, e.to_string())
        }
        Err(e @ (OutboundError::Forbidden(_) | OutboundError::InvalidUrl(_))) => {
            Outcome::Fail(None, format!("the callback URL is not allowed: {e}"))
        }
    })
}

/// Drains the outbox until `shutdown` turns true: delivers while anything is
/// due, then sleeps a moment. Errors are logged and the loop goes on. A
/// delivery cut off by shutdown is retried once its lease expires.
pub async fn run(app: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let handled = tokio::select! {
            result = deliver_once(&app) => result,
            _ = shutdown.changed() => return,
        };
        match handled {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "delivering a callback failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE_POLL) => {}
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_standard_webhooks_form() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret_key(&secret).unwrap().len(), 32);
        assert_ne!(secret, new_secret());
        assert!(secret_key("no prefix").is_err());
        assert!(secret_key("whsec_not base64!").is_err());
    }

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example from the Standard Webhooks reference libraries.
        let signature = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn backoff_doubles_up_to_an_hour_and_jitter_stays_within_half_and_all() {
        let base = Duration::from_secs(10);
        assert_eq!(backoff(base, 1), Duration::from_secs(10));
        assert_eq!(backoff(base, 2), Duration::from_secs(20));
        assert_eq!(backoff(base, 4), Duration::from_secs(80));
        assert_eq!(backoff(base, 30), MAX_BACKOFF);
        assert_eq!(backoff(base, i64::MAX), MAX_BACKOFF);
        for attempts in 1..10 {
            let d = retry_delay(base, attempts);
            let full = backoff(base, attempts);
            assert!(d >= full / 2 && d <= full, "{d:?} for {full:?}");
        }
        assert!(retry_delay(Duration::from_millis(1), 1) >= Duration::from_millis(1));
    }
}
