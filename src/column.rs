//! Types stored as their text form: the column impls both sqlx backends
//! and the SQLite ledger writer (rusqlite) need, written once for stored
//! names (`store::names`) and ids (`id`).

/// Gives `$ty`, which parses from its stored text with `FromStr` (an error
/// that is a `std::error::Error`), the impls that let rows hold it, or an
/// `Option` of it, in a TEXT column: sqlx's `Type` and `Decode` on either
/// backend and rusqlite's `FromSql`. Writing it is the caller's: names bind
/// as `&'static str`, ids format their hex.
macro_rules! text_column {
    ($ty:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                Ok(<&'r str as sqlx::Decode<'r, DB>>::decode(value)?.parse::<$ty>()?)
            }
        }

        impl rusqlite::types::FromSql for $ty {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse::<$ty>()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

pub(crate) use text_column;
