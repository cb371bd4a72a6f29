//! Enums stored as fixed names in TEXT columns.

/// A stored name this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}")]
pub struct UnknownName {
    /// What the name should have named ("order status", ...).
    pub kind: &'static str,
    pub name: String,
}

/// Gives an enum of unit variants its stored names: `ALL`, `as_str`,
/// `Display`, `FromStr` and `TryFrom<String>` (which rows read it through,
macro_rules! stored_names {
    ($ty:ident, $kind:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored and answered name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::store::UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == name)
                    .ok_or_else(|| $crate::store::UnknownName {
                        kind: $kind,
                        name: name.to_string(),
                    })
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::store::UnknownName;

            fn try_from(name: String) -> Result<Self, Self::Error> {
                name.parse()
            }
        }

        // A column of names, on either sqlx backend and through the SQLite
        // ledger writer: so that rows may hold the enum, or an `Option` of it,
        // directly.
        $crate::column::text_column!($ty);

        impl rusqlite::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
    };
}

pub(crate) use stored_names;

#[cfg(test)]
mod tests {
    use crate::store::{
        ApprovalKind, ApprovalStatus, BudgetStatus, CallbackStatus, DeliveryStatus, EntryKind,
        GrantClosed, IdempotencyStatus, IssueStatus, OrderStatus, ProductKind, ProductStatus, Role,
        RunStatus, UnknownName, Visibility, WorkflowEngine, WorkflowStatus,
    };

    /// Every variant reads back from its stored name, and `bad` names none.
    fn round_trips<T>(all: &[T], bad: &[&str])
    where
        T: Copy + PartialEq + std::fmt::Debug + std::fmt::Display,
        T: std::str::FromStr<Err = UnknownName> + TryFrom<String, Error = UnknownName>,
    {
        for &v in all {
            assert_eq!(v.to_string().parse::<T>(), Ok(v));
            assert_eq!(T::try_from(v.to_string()), Ok(v));
        }
        for name in bad {
            assert!(T::try_from(name.to_string()).is_err(), "{name:?}");
        }
    }

    #[test]
    fn stored_names_read_back_as_they_are_stored_and_nothing_else_reads() {
        round_trips(OrderStatus::ALL, &["", "Pending", "lost", "succeeded "]);
        round_trips(EntryKind::ALL, &["", "Grant", "gift", "refund"]);
        round_trips(ApprovalKind::ALL, &["", "Credential", "enable-product"]);
        round_trips(GrantClosed::ALL, &["", "Spent", "used"]);
        round_trips(RunStatus::ALL, &["", "Queued", "done", "canceled"]);
        round_trips(CallbackStatus::ALL, &["", "Pending", "sent"]);
        round_trips(DeliveryStatus::ALL, &["", "skipped", "Delivered"]);
        round_trips(ProductKind::ALL, &["", "Builtin", "grpc"]);
        round_trips(ProductStatus::ALL, &["", "Active", "paused"]);
        round_trips(ApprovalStatus::ALL, &["", "Open", "rejected"]);
        round_trips(IdempotencyStatus::ALL, &["", "pending", "Done"]);
        round_trips(Visibility::ALL, &["", "Public", "shared"]);
        round_trips(BudgetStatus::ALL, &["", "Paused", "stopped"]);
        round_trips(WorkflowStatus::ALL, &["", "Active", "paused"]);
        round_trips(WorkflowEngine::ALL, &["", "Graph", "dag"]);
        round_trips(IssueStatus::ALL, &["", "Open", "wontfix"]);
        round_trips(Role::ALL, &["", "Admin", "owner"]);
    }
}
