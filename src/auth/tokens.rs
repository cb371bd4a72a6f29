//! Access tokens: EdDSA (Ed25519) JWTs signed with a key kept in the
//! database, so every node of a deployment signs and verifies alike.
//! Old keys stay verifiable by `kid` after a rotation, until retired.
//! A token also stops counting when it is logged out or when its user's
//! sessions were ended (a role change).

use crate::clock::Timestamp;
use crate::id::{BudgetId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::id::new_id;
use crate::secret::MasterKey;
use crate::store::{RetireOutcome, SigningKeyRow, Store, StoreError};

/// The one algorithm Tollgate signs and accepts.
pub const ALGORITHM: Algorithm = Algorithm::EdDSA;
/// `aud` of access tokens; vendor call tokens use the product id instead.
pub const ACCESS_AUDIENCE: &str = "tollgate-api";
/// Clock skew tolerated between nodes, in seconds.
const LEEWAY_SECS: u64 = 5;
/// How often a node checks whether keys were rotated or retired elsewhere.
const KEY_CHECK: Duration = Duration::from_secs(1);

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    /// The budget the token acts in.
    pub bid: BudgetId,
    pub role: String,
    /// `iat` in milliseconds, so a session cut-off made in the same second
    /// as a sign-in tells them apart. Older tokens lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
}

impl AccessClaims {
    fn issued_at_ms(&self) -> i64 {
        self.iat_ms.unwrap_or(self.iat * 1000)
    }
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has expired")]
    Expired,
    #[error("the token's signature or claims are invalid")]
    Invalid,
    #[error("the session was ended")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A public key as published.
#[derive(Debug, Clone)]
pub struct PublicKey {
    pub kid: String,
    pub pem: String,
    /// The raw Ed25519 key, base64url (the JWK `x`).
    pub x: String,
}

struct Keys {
    kid: String,
    /// Every kid in use, sorted, with whether it is current; compared with
    /// the database's to notice changes.
    ids: Vec<(String, bool)>,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    public: Vec<PublicKey>,
}

/// Issues and verifies tokens with the deployment's keys.
pub struct TokenService {
    store: Arc<dyn Store>,
    master: MasterKey,
    issuer: String,
    keys: RwLock<Arc<Keys>>,
    last_reload: Mutex<Instant>,
    last_check: Mutex<Instant>,
}

/// A new Ed25519 key as a row to store.
pub fn generate_key_row(master: &MasterKey, now_ms: i64) -> anyhow::Result<SigningKeyRow> {
    let mut seed = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
    let key = SigningKey::from_bytes(&seed);
    let private = key.to_pkcs8_pem(LineEnding::LF)?;
    let public = key.verifying_key().to_public_key_pem(LineEnding::LF)?;
    Ok(SigningKeyRow {
        kid: new_id(),
        algorithm: "EdDSA".into(),
        private_key_sealed: master.seal(private.as_bytes()),
        public_pem: public,
        current: true,
        created_at: Timestamp::from_millis(now_ms),
    })
}

fn raw_public_key(pem: &str) -> anyhow::Result<[u8; 32]> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    Ok(ed25519_dalek::VerifyingKey::from_public_key_pem(pem)?.to_bytes())
}

impl TokenService {
    /// Loads the keys, creating the first one on a new database.
    pub async fn load(
        store: Arc<dyn Store>,
        master: MasterKey,
        issuer: String,
    ) -> anyhow::Result<Self> {
        let fresh = generate_key_row(&master, chrono::Utc::now().timestamp_millis())?;
        store.ensure_current_signing_key(&fresh).await?;
        let keys = Self::read_keys(store.as_ref(), &master).await?;
        Ok(TokenService {
            store,
            master,
            issuer,
            keys: RwLock::new(Arc::new(keys)),
            last_reload: Mutex::new(Instant::now()),
            last_check: Mutex::new(Instant::now()),
        })
    }

    async fn read_keys(store: &dyn Store, master: &MasterKey) -> anyhow::Result<Keys> {
        let rows = store.signing_keys().await?;
        let current = rows
            .iter()
            .find(|r| r.current)
            .ok_or_else(|| anyhow::anyhow!("no current signing key"))?;
        let private = master.open(&current.private_key_sealed)?;
        let signing = EncodingKey::from_ed_pem(&private)?;
        let mut verifying = HashMap::new();
        let mut public = Vec::new();
        for row in &rows {
            verifying.insert(
                row.kid.clone(),
                DecodingKey::from_ed_pem(row.public_pem.as_bytes())?,
            );
            public.push(PublicKey {
                kid: row.kid.clone(),
                pem: row.public_pem.clone(),
                x: URL_SAFE_NO_PAD.encode(raw_public_key(&row.public_pem)?),
            });
        }
        // The current key first: it is the one `GET /public/jwt-public-key` shows.
        public.sort_by_key(|k| k.kid != current.kid);
        let mut ids: Vec<(String, bool)> =
            rows.iter().map(|r| (r.kid.clone(), r.current)).collect();
        ids.sort();
        Ok(Keys {
            kid: current.kid.clone(),
            ids,
            signing,
            verifying,
            public,
        })
    }

    /// Re-reads the keys from the database (after a rotation elsewhere).
    pub async fn reload(&self) -> anyhow::Result<()> {
        let keys = Self::read_keys(self.store.as_ref(), &self.master).await?;
        *self.keys.write().expect("keys lock") = Arc::new(keys);
        *self.last_reload.lock().expect("reload lock") = Instant::now();
        Ok(())
    }

    /// Makes a new current key; tokens signed by older keys still verify.
    pub async fn rotate(&self) -> anyhow::Result<String> {
        let row = generate_key_row(&self.master, chrono::Utc::now().timestamp_millis())?;
        self.store.rotate_signing_key(&row).await?;
        self.reload().await?;
        Ok(row.kid)
    }

    /// Takes a key that no longer signs out of use: tokens signed with it
    /// stop verifying on every node within about a second.
    pub async fn retire(&self, kid: &str) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp_millis();
        match self.store.retire_signing_key(kid, Timestamp::from_millis(now)).await? {
            RetireOutcome::Retired => {}
            RetireOutcome::Current => anyhow::bail!(
                "signing key {kid} is the current key; rotate first (tollgate admin rotate-signing-key), then retire it"
            ),
            RetireOutcome::AlreadyRetired => anyhow::bail!("signing key {kid} is already retired"),
            RetireOutcome::NotFound => anyhow::bail!("there is no signing key {kid}"),
        }
        self.reload().await
    }

    /// Reloads the keys when the database's set differs from this node's;
    /// at most once per [`KEY_CHECK`], by one caller at a time.
    async fn refresh_if_stale(&self) {
        {
            let mut last = self.last_check.lock().expect("check lock");
            if last.elapsed() < KEY_CHECK {
                return;
            }
            *last = Instant::now();
        }
        match self.store.signing_key_ids().await {
            Ok(mut ids) => {
                ids.sort();
                if ids != self.keys().ids {
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "reloading signing keys failed; will retry");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "checking signing keys failed; will retry"),
        }
    }

    /// Ends the session of a verified access token at once.
    pub async fn revoke(&self, claims: &AccessClaims) -> Result<(), StoreError> {
        self.store
            .revoke_token(&claims.jti, Timestamp::from_millis(claims.exp * 1000))
            .await
    }

    fn keys(&self) -> Arc<Keys> {
        self.keys.read().expect("keys lock").clone()
    }

    /// The issuer (`iss`) of every token: the public base URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Published keys, current first.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys().public.clone()
    }

    /// Signs any claims with the current key.
    pub fn sign<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        let keys = self.keys();
        let mut header = Header::new(ALGORITHM);
        header.kid = Some(keys.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &keys.signing)?)
    }

    /// An access token for a user acting in a budget.
    pub fn issue_access(
        &self,
        user_id: UserId,
        budget_id: BudgetId,
        role: &str,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let now = now_ms.div_euclid(1000);
        self.sign(&AccessClaims {
            iss: self.issuer.clone(),
            aud: ACCESS_AUDIENCE.into(),
            sub: user_id,
            exp: now + ttl.as_secs() as i64,
            iat: now,
            jti: new_id(),
            bid: budget_id,
            role: role.into(),
            iat_ms: Some(now_ms),
        })
    }

    /// Verifies an access token: algorithm, key (not retired), issuer,
    /// audience and expiry, then that its session was not ended.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = self.verify_signed(token).await?;
        let state = self
            .store
            .session_state(claims.sub, &claims.jti)
            .await?
            .ok_or(TokenError::Invalid)?;
        if state.revoked || claims.issued_at_ms() < state.sessions_valid_after {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }

    async fn verify_signed(&self, token: &str) -> Result<AccessClaims, TokenError> {
        self.refresh_if_stale().await;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let mut key = self.keys().verifying.get(&kid).cloned();
        if key.is_none() && self.may_reload() {
            // Another node may have rotated; look once more.
            if self.reload().await.is_ok() {
                key = self.keys().verifying.get(&kid).cloned();
            }
        }
        let key = key.ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(ALGORITHM);
        validation.algorithms = vec![ALGORITHM];
        validation.leeway = LEEWAY_SECS;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })
    }

    fn may_reload(&self) -> bool {
        self.last_reload.lock().expect("reload lock").elapsed() > Duration::from_secs(2)
    }
}
