//! Budgets (agent groups): their policies, tools and API keys, managed by
//! their owner signed in. An agent's API key cannot raise its own caps or
//! enable tools, and sees only its own budget.

use super::quotas::{self, Quota, QuotaExceeded};
use crate::accounts;
use crate::app::AppInner;
use crate::auth::Caller;
use crate::cache;
use crate::clock::{to_millis, Timestamp};
use crate::id::ApiKeyId;
use crate::id::BudgetId;
use crate::id::ProductId;

use crate::store::{ApiKeyRow, BudgetRow, BudgetStatus, StoreError};

/// The caps a budget may set, by the name the API gives them.
pub const CAP_NAMES: [&str; 6] = ["per_call", "hourly", "daily", "weekly", "monthly", "total"];

/// Why a budget cannot be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// No budget with the id is the caller's (or, for an API key, its own).
    #[error("no such budget")]
    NotFound,
    /// Managing budgets and keys needs the owner signed in, not an API key.
    #[error("managing budgets needs the owner's access token")]
    UserTokenRequired,
    /// No tool matches the id, slug or name.
    #[error("no such tool")]
    ProductNotFound,
    /// The tool is not enabled on the budget.
    #[error("the tool is not enabled on the budget")]
    ProductNotOnBudget,
    /// No live API key with the id on the budget.
    #[error("no such API key")]
    ApiKeyNotFound,
    #[error(transparent)]
    Quota(#[from] QuotaExceeded),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A budget's settings to change; absent ones are left as they are.
#[derive(Debug, Clone, Default)]
pub struct BudgetPatch {
    pub name: Option<String>,
    pub status: Option<BudgetStatus>,
    /// Caps by one of [`CAP_NAMES`]; `None` clears one.
    pub caps: Vec<(&'static str, Option<crate::money::Credits>)>,
}

impl BudgetPatch {
    fn apply(&self, b: &mut BudgetRow) {
        if let Some(n) = &self.name {
            b.name = n.clone();
        }
        if let Some(s) = &self.status {
            b.status = *s;
        }
        for (cap, value) in &self.caps {
            let slot = match *cap {
                "per_call" => &mut b.cap_per_call,
                "hourly" => &mut b.cap_hourly,
                "daily" => &mut b.cap_daily,
                "weekly" => &mut b.cap_weekly,
                "monthly" => &mut b.cap_monthly,
                _ => &mut b.cap_total,
            };
            *slot = *value;
        }
    }
}

/// A budget and the ids of the tools enabled on it.
#[derive(Debug, Clone)]
pub struct BudgetView {
    pub budget: BudgetRow,
    pub product_ids: Vec<ProductId>,
}

/// The caller's own budget `budget_id`; anyone else's is not found, so ids
/// do not leak.
pub async fn own_budget(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
) -> Result<BudgetRow, BudgetError> {
    let budget = app
        .store
        .budget_by_id(budget_id)
        .await?
        .ok_or(BudgetError::NotFound)?;
    // An API key sees only its own budget: the user's others do not exist
    // for it.
    if budget.user_id != caller.user_id || !caller.sees_budget(budget.id) {
        return Err(BudgetError::NotFound);
    }
    Ok(budget)
}

/// Refuses an API key where the owner must be signed in.
pub fn require_user_token(caller: &Caller) -> Result<(), BudgetError> {
    if caller.api_key_id.is_some() {
        return Err(BudgetError::UserTokenRequired);
    }
    Ok(())
}

/// The caller's budget `budget_id`, for its owner to manage.
pub async fn managed(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
) -> Result<BudgetRow, BudgetError> {
    let budget = own_budget(app, caller, budget_id).await?;
    require_user_token(caller)?;
    Ok(budget)
}

async fn view(app: &AppInner, budget: BudgetRow) -> Result<BudgetView, BudgetError> {
    let product_ids = app.store.budget_product_ids(budget.id).await?;
    Ok(BudgetView {
        budget,
        product_ids,
    })
}

/// The caller's budgets.
pub async fn list(app: &AppInner, caller: &Caller) -> Result<Vec<BudgetView>, BudgetError> {
    require_user_token(caller)?;
    let mut out = Vec::new();
    for b in app.store.budgets_for_user(caller.user_id).await? {
        out.push(view(app, b).await?);
    }
    Ok(out)
}

/// A new budget with no tools enabled.
pub async fn create(
    app: &AppInner,
    caller: &Caller,
    patch: &BudgetPatch,
) -> Result<BudgetRow, BudgetError> {
    require_user_token(caller)?;
    let mut b = BudgetRow {
        id: BudgetId::new(),
        user_id: caller.user_id,
        name: "Budget".into(),
        status: BudgetStatus::Active,
        is_default: false,
        created_at: Timestamp::from(app.clock.now()),
        cap_per_call: None,
        cap_hourly: None,
        cap_daily: None,
        cap_weekly: None,
        cap_monthly: None,
        cap_total: None,
    };
    patch.apply(&mut b);
    let budgets = app.store.budgets_for_user(caller.user_id).await?;
    quotas::check(app, Quota::BudgetsPerUser, budgets.len() as i64)?;
    app.store.insert_budget(&b).await?;
    Ok(b)
}

/// The caller's budget `budget_id`.
pub async fn get(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
) -> Result<BudgetView, BudgetError> {
    let b = managed(app, caller, budget_id).await?;
    view(app, b).await
}

/// Renames, pauses or resumes the budget, or sets its caps.
pub async fn update(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
    patch: &BudgetPatch,
) -> Result<BudgetView, BudgetError> {
    let mut b = managed(app, caller, budget_id).await?;
    patch.apply(&mut b);
    app.store.update_budget(&b).await?;
    app.caches
        .invalidate(cache::kind::BUDGET, &b.id.to_string());
    view(app, b).await
}

/// Enables the tool `product_ref` (id, slug or name) on the budget, at its
/// prices of now. Returns the budget and the tool's id.
pub async fn enable_product(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
    product_ref: &str,
) -> Result<(BudgetRow, String), BudgetError> {
    let b = managed(app, caller, budget_id).await?;
    let snapshot = app.catalog.snapshot();
    let (product, _) = snapshot
        .resolve(product_ref)
        .ok_or(BudgetError::ProductNotFound)?;
    app.store
        .enable_product(
            b.id,
            product.id(),
            &product.prices_json(),
            Timestamp::from(app.clock.now()),
        )
        .await?;
    app.caches
        .invalidate(cache::kind::BUDGET, &b.id.to_string());
    Ok((b, product.id().to_string()))
}

/// Disables the tool `product_ref` (id, slug or name; a tool no longer in
/// the catalog by its id) on the budget. Returns the budget and the id.
pub async fn disable_product(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
    product_ref: &str,
) -> Result<(BudgetRow, ProductId), BudgetError> {
    let b = managed(app, caller, budget_id).await?;
    // A tool since removed from the catalog is named by its id.
    let id = app
        .catalog
        .snapshot()
        .resolve(product_ref)
        .map(|(p, _)| p.row.id)
        .or_else(|| ProductId::parse(product_ref))
        .ok_or(BudgetError::ProductNotOnBudget)?;
    let disabled = app.store.disable_product(b.id, id).await?;
    app.caches
        .invalidate(cache::kind::BUDGET, &b.id.to_string());
    if !disabled {
        return Err(BudgetError::ProductNotOnBudget);
    }
    Ok((b, id))
}

/// A new API key on the budget: its row and its secret, which is shown
/// this once.
pub async fn create_api_key(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
    name: &str,
) -> Result<(ApiKeyRow, String), BudgetError> {
    let budget = managed(app, caller, budget_id).await?;
    let keys = app.store.api_keys_for_budget(budget.id).await?;
    let live = keys.iter().filter(|k| k.revoked_at.is_none()).count();
    quotas::check(app, Quota::ApiKeysPerBudget, live as i64)?;
    Ok(accounts::create_api_key(
        app.store.as_ref(),
        &budget,
        name,
        to_millis(app.clock.now()),
    )
    .await?)
}

/// The budget's API keys, revoked ones too; never their secrets.
pub async fn list_api_keys(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
) -> Result<Vec<ApiKeyRow>, BudgetError> {
    let budget = managed(app, caller, budget_id).await?;
    Ok(app.store.api_keys_for_budget(budget.id).await?)
}

/// Revokes the key `key_id` of the budget: it stops working at once.
/// Returns when, in epoch milliseconds.
pub async fn revoke_api_key(
    app: &AppInner,
    caller: &Caller,
    budget_id: BudgetId,
    key_id: ApiKeyId,
) -> Result<i64, BudgetError> {
    let budget = managed(app, caller, budget_id).await?;
    let now = Timestamp::from(app.clock.now());
    if !app.store.revoke_api_key(budget.id, key_id, now).await? {
        return Err(BudgetError::ApiKeyNotFound);
    }
    app.caches
        .invalidate(cache::kind::API_KEY, &key_id.to_string());
    Ok(now.millis())
}
