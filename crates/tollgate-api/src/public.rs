//! Wire types: public.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Response shape for the API health probe.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct HealthResponse {
    /// Always `ok` when the API process is accepting requests.
    pub status: String,
}

/// Readiness: the process and its database answer.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct ReadyResponse {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: String,
    /// The database backend: `sqlite` or `postgres`.
    pub database: String,
}

/// Response shape for the public JWT verification key endpoint.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct JwtPublicKeyResponse {
    /// `true` when the key was returned.
    #[serde(default)]
    pub success: bool,
    /// PEM-encoded public key callers can use to verify access tokens issued by this API.
    pub public_key: String,
    /// JWT signing algorithm paired with `public_key`.
    pub algorithm: String,
    /// Key id of the key, as in the tokens' `kid` header.
    pub kid: String,
    /// The tokens' `iss` claim.
    pub issuer: String,
    /// Human-readable explanation of the payload.
    pub message: String,
}

/// One Ed25519 public key.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct Jwk {
    /// `OKP`.
    pub kty: String,
    /// `Ed25519`.
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    pub kid: String,
    /// `EdDSA`.
    pub alg: String,
    /// `sig`.
    #[serde(rename = "use")]
    pub use_: String,
}

/// Every key that may still verify a token.
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct JwksResponse {
    pub keys: Vec<Jwk>,
}
