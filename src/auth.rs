//! Who is calling: passwords, access tokens (JWT) and budget API keys.

pub mod api_key;
pub mod password;
pub mod throttle;
pub mod tokens;

/// Roles a user can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Vendor,
    Customer,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "vendor" => Some(Role::Vendor),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Vendor => "vendor",
            Role::Customer => "customer",
        }
    }
}

/// An authenticated caller, acting in one budget.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: String,
    pub budget_id: String,
    pub role: Role,
    /// The API key in use, when the caller is not a signed-in user.
    pub api_key_id: Option<String>,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
