//! Who is calling: passwords, access tokens (JWT) and budget API keys.

pub mod api_key;
pub mod password;
pub mod throttle;
pub mod tokens;

use crate::id::ApiKeyId;
use crate::id::{BudgetId, UserId};

pub use crate::store::Role;

/// An authenticated caller, acting in one budget.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub budget_id: BudgetId,
    pub role: Role,
    /// The API key in use, when the caller is not a signed-in user.
    pub api_key_id: Option<ApiKeyId>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the caller may see a listing (a workflow, a bundle) owned
    /// by `owner`: their own, a public one, or any for an admin.
    pub fn may_see(&self, owner: UserId, visibility: crate::store::Visibility) -> bool {
        self.may_change(owner) || visibility == crate::store::Visibility::Public
    }

    /// Whether the caller may change a listing owned by `owner`: their own,
    /// or any for an admin.
    pub fn may_change(&self, owner: UserId) -> bool {
        owner == self.user_id || self.is_admin()
    }

    /// Whether the caller may see and touch the objects of a budget of its
    /// user: an API key only its own budget's, a signed-in user every one.
    pub fn sees_budget(&self, budget_id: BudgetId) -> bool {
        self.api_key_id.is_none() || self.budget_id == budget_id
    }

    /// The one budget an API key is confined to; `None` for a signed-in
    /// user, who sees all of theirs.
    pub fn key_budget(&self) -> Option<BudgetId> {
        self.api_key_id.as_ref().map(|_| self.budget_id)
    }
}
