//! Idempotent requests, after zero-to-production's `idempotency` module.
//! A request with an `Idempotency-Key` first [`claim`]s the key for its
//! user. A key already finished replays its recorded response; a key in
//! use by another request, or used with a different request, is refused.
//! The claimed request runs under [`run_claimed`], which [`finish`]es the
//! key with the response, or [`release`]s it when nothing durable
//! happened, so a retry runs again. Claims and finishes are ledger
//! commands: they are written in the ledger's batches and share their
//! commits with the purchases around them.
//!
//! A charged purchase records its response under the key in the charge's
//! own transaction (see `purchase::purchase_with_key`), and the key is not
//! finished again. A workflow run's paid step claims
//! [`IdempotencyKey::for_run_step`] with [`claim_lasting`], so a worker that
//! takes the run over replays the step instead of paying again.

use crate::clock::Timestamp;
use crate::id::RunId;
use crate::id::UserId;
use std::future::Future;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{AppInner, AppState};
use crate::ledger::{KeyAnswer, LedgerError};
use crate::store::{IdempotencyClaim, IdempotencyStatus, StoreError};

/// How long a claim of another process may last before it counts as dead,
/// beyond the request time limit.
const STALE_MARGIN_MS: i64 = 10_000;

/// An `Idempotency-Key`: 1 to 255 characters, surrounding spaces dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key a header value names, if it is one.
    pub fn parse(raw: &str) -> Option<IdempotencyKey> {
        let key = raw.trim();
        (!key.is_empty() && key.len() <= 255).then(|| IdempotencyKey(key.to_string()))
    }

    /// The key under which a workflow run's paid step records its charge,
    /// so a worker that takes the run over replays the step instead of
    /// paying again.
    pub fn for_run_step(run_id: RunId, step_key: &str) -> IdempotencyKey {
        IdempotencyKey(format!("run:{run_id}:{step_key}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A response as it is recorded for a key and replayed: the HTTP status
/// and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedResponse {
    pub status: u16,
    pub body: String,
}

/// A request's hold on its key: what [`release`] gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The claim's `created_at`: a later claim that takes the key over has
    /// another.
    at: Timestamp,
}

impl Claim {
    /// When the key was claimed: the key is still this claim's while its
    /// `created_at` is this.
    pub fn at(self) -> Timestamp {
        self.at
    }
}

/// What to do with a request after claiming its key.
#[derive(Debug, Clone, PartialEq)]
pub enum NextAction {
    /// The key is the request's now: run it under [`run_claimed`].
    StartProcessing(Claim),
    /// The key's first request finished: answer its response again.
    ReturnSavedResponse(SavedResponse),
}

/// Why a request with a key cannot run or replay.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    /// The key was used with a different request.
    #[error("the Idempotency-Key was used with a different request")]
    KeyReused,
    /// Another request with the key has not finished.
    #[error("a request with this Idempotency-Key is still running")]
    InProgress,
    /// The task running the claimed request failed.
    #[error("the request's task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ledger engine, which makes claims, failed or is stopping.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// `v` with the keys of every object sorted, so that two spellings of one
/// request hash alike.
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The hash a key is claimed with, to tell a retry of a request (as the
/// caller has made it [`canonical`]) from another request under the key.
pub fn request_hash(request: &Value) -> String {
    let digest = Sha256::digest(request.to_string().as_bytes());
    format!("{digest:x}")
}

/// Claims `key` for `user_id`'s request with `request_hash`.
pub async fn claim(
    app: &AppInner,
    user_id: UserId,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Result<NextAction, IdempotencyError> {
    claim_lasting(app, user_id, key, request_hash, request_claim_lasts(app)).await
}

/// How long a request's claim may stand before it counts as dead: a
/// request ends within the request time limit (its task may outlive the
/// request, but not its own time limit), so an older claim is dead.
fn request_claim_lasts(app: &AppInner) -> i64 {
    app.settings.request_timeout.as_millis() as i64 + STALE_MARGIN_MS
}

/// The time (in milliseconds) before which a request's unfinished claim
/// is dead, as [`claim`] takes it.
pub fn request_stale_before(app: &AppInner) -> i64 {
    stale_before(app, request_claim_lasts(app))
}

/// The time before which an unfinished claim that may stand `lasts_ms` is
/// dead.
fn stale_before(app: &AppInner, lasts_ms: i64) -> i64 {
    let now = Timestamp::from(app.clock.now());
    let mut stale_before = now - chrono::Duration::milliseconds(lasts_ms);
    if app.store.backend() == "sqlite" {
        // One node: every claim older than this process died with the last one.
        stale_before = stale_before.max(Timestamp::from_millis(app.started_at));
    }
    stale_before.millis()
}

/// [`claim`] for work whose claim may stand `lasts_ms` before it counts as
/// dead.
pub async fn claim_lasting(
    app: &AppInner,
    user_id: UserId,
    key: &IdempotencyKey,
    request_hash: &str,
    lasts_ms: i64,
) -> Result<NextAction, IdempotencyError> {
    // A ledger command: claims share the commits of the ledger's batches.
    let claim = app
        .ledger
        .claim(
            user_id,
            key.as_str(),
            request_hash,
            stale_before(app, lasts_ms),
        )
        .await?;
    match claim {
        IdempotencyClaim::Claimed(at) => Ok(NextAction::StartProcessing(Claim { at })),
        IdempotencyClaim::Existing(row) if row.request_hash != request_hash => {
            Err(IdempotencyError::KeyReused)
        }
        IdempotencyClaim::Existing(row) if row.status == IdempotencyStatus::Done => {
            Ok(NextAction::ReturnSavedResponse(SavedResponse {
                status: row.response_status.unwrap_or(200) as u16,
                body: row.response_body.unwrap_or_default(),
            }))
        }
        IdempotencyClaim::Existing(_) => Err(IdempotencyError::InProgress),
    }
}

/// Records `response` as the answer to `key`, if the key is still the
/// request's `claim` (a retry may have taken it over, with this request
/// counted dead; its own answer stands).
pub async fn finish(
    app: &AppInner,
    user_id: UserId,
    key: &IdempotencyKey,
    claim: Claim,
    response: &SavedResponse,
) -> Result<(), LedgerError> {
    let answer = KeyAnswer {
        key: key.as_str().to_string(),
        body: response.body.clone(),
        claimed_at: claim.at,
    };
    // A ledger command, like the claim: it shares the ledger's commits.
    app.ledger
        .finish_key(user_id, answer, i64::from(response.status))
        .await
}

/// Gives `key` up: its request left nothing to replay. A key that another
/// request has taken over since (this one was counted dead) stays theirs.
pub async fn release(
    app: &AppInner,
    user_id: UserId,
    key: &IdempotencyKey,
    claim: Claim,
) -> Result<(), StoreError> {
    app.store
        .release_idempotency_key(user_id, key.as_str(), claim.at)
        .await
}

/// What a claimed request's work answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Answered {
    pub response: SavedResponse,
    /// The work recorded `response` for the key itself, in a transaction
    /// of its own (a paid purchase does, in its charge's): it is not
    /// written again.
    pub recorded: bool,
}

/// Runs the request `work` under the claimed `key`: a response it gives is
/// recorded for the key (unless the work did) and returned; an error
/// (nothing durable to replay) releases the key and is returned.
///
/// The work runs in a task of its own, so a client that goes away cannot
/// leave the key claimed until it goes stale.
pub async fn run_claimed<W, E>(
    app: &AppState,
    user_id: UserId,
    key: &IdempotencyKey,
    claim: Claim,
    work: W,
) -> Result<SavedResponse, E>
where
    W: Future<Output = Result<Answered, E>> + Send + 'static,
    E: From<IdempotencyError> + Send + 'static,
{
    let (app, key) = (app.clone(), key.clone());
    let task = tokio::spawn(async move {
        match work.await {
            Ok(Answered { response, recorded }) => {
                if !recorded {
                    finish(&app, user_id, &key, claim, &response)
                        .await
                        .map_err(IdempotencyError::from)?;
                }
                Ok(response)
            }
            Err(e) => {
                release(&app, user_id, &key, claim)
                    .await
                    .map_err(IdempotencyError::from)?;
                Err(e)
            }
        }
    });
    task.await.map_err(IdempotencyError::from)?
}
