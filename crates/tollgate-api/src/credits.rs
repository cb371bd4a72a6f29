//! Wire types: credits.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Object;
#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditBalanceData {
    /// Current available credit balance, in whole credits (100 credits = $1).
    pub balance: i64,
    /// ISO-8601 timestamp of the next credit expiration, or null when the balance is zero.
    #[serde(default)]
    pub expiration: Option<String>,
    /// Whole days until the next expiration, or null when the balance is zero.
    #[serde(default)]
    pub expires_in_days: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditBalanceResponse {
    /// `true` when the balance lookup succeeded.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: CustomerCreditBalanceData,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditGrant {
    /// Grant document ID (serialized as `_id` in the response).
    #[serde(rename = "_id")]
    pub id: String,
    /// Owning user ID.
    pub user_id: String,
    /// Credits originally granted (positive integer).
    pub amount_credits: i64,
    /// USD equivalent of the grant at issuance.
    pub amount_usd: f64,
    /// Credits still available from this grant.
    pub remaining_credits: i64,
    /// Grant source classification (for example `admin_grant`, `referral_signup`, `x402_purchase`).
    pub credit_type: String,
    /// Free-form metadata supplied when the grant was created.
    #[serde(default)]
    pub source_metadata: Object,
    /// ISO-8601 timestamp the grant was issued.
    pub date_created: String,
    /// ISO-8601 timestamp the grant was added to the pool.
    #[serde(default)]
    pub pooled_at: Option<String>,
    /// ISO-8601 timestamp the grant expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditTransaction {
    /// Transaction document ID (serialized as `_id` in the response).
    #[serde(rename = "_id")]
    pub id: String,
    /// Owning user ID.
    pub user_id: String,
    /// One of `grant`, `expiration`, `revocation`, or `purchase` (tool deduction).
    pub transaction_type: String,
    /// Credits applied by this transaction. Negative for debits (expiration/revocation/purchase), positive for grants.
    pub amount_credits: i64,
    /// USD equivalent of the transaction.
    pub amount_usd: f64,
    /// Balance in credits after applying the transaction.
    pub balance_after_credits: i64,
    /// Balance in USD after applying the transaction.
    pub balance_after_usd: f64,
    /// ISO-8601 timestamp of the transaction.
    pub date_created: String,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditHistoryData {
    /// Credit grants owned by the caller, newest first.
    pub grants: Vec<CustomerCreditGrant>,
    /// Transaction audit trail, newest first.
    pub transactions: Vec<CustomerCreditTransaction>,
}

#[derive(Debug, Clone, PartialEq, ToSchema, Serialize, Deserialize)]
pub struct CustomerCreditHistoryResponse {
    /// `true` when the history lookup succeeded.
    #[serde(default)]
    pub success: bool,
    /// Human-readable status message.
    #[serde(default)]
    pub message: String,
    pub data: CustomerCreditHistoryData,
}
