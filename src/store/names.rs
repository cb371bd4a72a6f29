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
/// with `#[sqlx(try_from = "String")]`), all from one list.
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
    };
}

pub(crate) use stored_names;
