//! Ids in MongoDB's ObjectId layout: 4 bytes of seconds, 5 random bytes fixed
//! per process, a 3-byte counter. Written here because the layout is twelve
//! bytes of arithmetic and the `bson` crate would bring a whole document model.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use rand::RngCore;

/// A 12-byte ObjectId, shown as 24 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

fn process_unique() -> &'static [u8; 5] {
    static UNIQUE: OnceLock<[u8; 5]> = OnceLock::new();
    UNIQUE.get_or_init(|| {
        let mut bytes = [0u8; 5];
        rand::thread_rng().fill_bytes(&mut bytes);
        bytes
    })
}

fn next_counter() -> u32 {
    static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
    COUNTER
        .get_or_init(|| AtomicU32::new(rand::thread_rng().next_u32() & 0x00ff_ffff))
        .fetch_add(1, Ordering::Relaxed)
        & 0x00ff_ffff
}

impl ObjectId {
    /// A new id stamped with the current time.
    pub fn new() -> Self {
        let secs = chrono::Utc::now().timestamp().clamp(0, u32::MAX as i64) as u32;
        Self::with_seconds(secs)
    }

    fn with_seconds(secs: u32) -> Self {
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs.to_be_bytes());
        bytes[4..9].copy_from_slice(process_unique());
        bytes[9..].copy_from_slice(&next_counter().to_be_bytes()[1..]);
        ObjectId(bytes)
    }

    /// Seconds since the Unix epoch at which the id was made.
    pub fn timestamp(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    /// Parses 24 hex characters, in either case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 24 {
            return None;
        }
        let mut bytes = [0u8; 12];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            bytes[i] = (hi * 16 + lo) as u8;
        }
        Some(ObjectId(bytes))
    }

    /// True when `s` is a well-formed ObjectId.
    pub fn is_valid(s: &str) -> bool {
        Self::parse(s).is_some()
    }
}

impl Default for ObjectId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every purchase makes a few ids: one write of 24 characters, not
        // twelve formatted bytes.
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 24];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        f.write_str(std::str::from_utf8(&out).expect("hex digits are ASCII"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl FromStr for ObjectId {
    type Err = InvalidObjectId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s).ok_or(InvalidObjectId)
    }
}

/// The error for a string that is not 24 hex characters.
#[derive(Debug, thiserror::Error)]
#[error("not a 24-character hex ObjectId")]
pub struct InvalidObjectId;

/// A fresh id as a string, for rows.
pub fn new_id() -> String {
    ObjectId::new().to_string()
}

/// Declares ids of one kind of object each, over [`ObjectId`]: a `UserId`
/// cannot be passed where a `BudgetId` is wanted. Each is `Copy`, parses at
/// the edge (`FromStr`, `parse`), shows and serializes as its 24 hex
/// characters, and is stored as that text on both backends and through the
/// SQLite ledger writer.
macro_rules! object_ids {
    ($($(#[$meta:meta])* $name:ident),+ $(,)?) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ObjectId);

        impl $name {
            /// A new id stamped with the current time.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(ObjectId::new())
            }

            /// Parses 24 hex characters, in either case.
            pub fn parse(s: &str) -> Option<Self> {
                ObjectId::parse(s).map($name)
            }

            /// The id underneath.
            pub fn object_id(self) -> ObjectId {
                self.0
            }
        }

        impl From<ObjectId> for $name {
            fn from(id: ObjectId) -> Self {
                $name(id)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidObjectId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s).ok_or(InvalidObjectId)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                Self::parse(other) == Some(*self)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom(InvalidObjectId))
            }
        }

        $crate::column::text_column!($name);

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            String: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <String as sqlx::Encode<'q, DB>>::encode(self.to_string(), buf)
            }
        }

        // Lists of ids are bound as arrays on PostgreSQL (`= ANY($1)`,
        // `UNNEST`), as text arrays like their column.
        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <String as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.to_string()))
            }
        }
    )+};
}

object_ids!(
    /// An account.
    UserId,
    /// A budget: the wallet's spending envelope an API key or session acts in.
    BudgetId,
    /// A tool in the catalog.
    ProductId,
    /// A workflow.
    WorkflowId,
    /// One run of a workflow.
    RunId,
    /// A purchase's order.
    OrderId,
    /// A grant of credits.
    GrantId,
    /// Credits held for a call in flight.
    HoldId,
    /// An entry of the credit ledger.
    TransactionId,
    /// A budget's API key.
    ApiKeyId,
    /// A request for the budget owner's approval.
    ApprovalId,
    /// A run's callback delivery.
    DeliveryId,
    /// A named set of tools and workflows.
    BundleId,
    /// A report of an issue with a tool.
    IssueId,
    /// A connection instance (`x-instance-id`), or a workflow run's own
    /// instance, which has its run's id.
    InstanceId,
);

impl From<RunId> for InstanceId {
    /// A workflow run's tool calls share an instance with the run's id.
    fn from(run: RunId) -> Self {
        InstanceId::from(run.object_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_are_24_lower_hex_with_time_first_and_a_counter_last() {
        let before = chrono::Utc::now().timestamp() as u32;
        let a = ObjectId::new();
        let b = ObjectId::new();
        let s = a.to_string();
        assert_eq!(s.len(), 24);
        assert!(s
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(a.timestamp() >= before && a.timestamp() <= before + 2);
        assert_eq!(a.0[4..9], b.0[4..9], "process-unique bytes are shared");
        let ca = u32::from_be_bytes([0, a.0[9], a.0[10], a.0[11]]);
        let cb = u32::from_be_bytes([0, b.0[9], b.0[10], b.0[11]]);
        // Tests running beside this one mint ids too, so `b` comes some
        // steps after `a`, never at or before it.
        let step = cb.wrapping_sub(ca) & 0xffffff;
        assert!((1..0x80_0000).contains(&step), "counter stepped by {step}");
    }

    #[test]
    fn ids_show_as_the_hex_they_parse_from() {
        let id = ObjectId([
            0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0x10, 0x99, 0xff, 0x0a, 0x5c,
        ]);
        assert_eq!(id.to_string(), "00017f80abcdef1099ff0a5c");
        assert_eq!(ObjectId::parse("00017F80ABCDEF1099FF0A5C"), Some(id));
        let fresh = ObjectId::new();
        assert_eq!(ObjectId::parse(&fresh.to_string()), Some(fresh));
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "",
            "abc",
            "zzzzzzzzzzzzzzzzzzzzzzzz",
            "0123456789abcdef0123456",
            "0123456789abcdef012345678",
        ] {
            assert!(ObjectId::parse(bad).is_none(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(bytes in proptest::array::uniform12(any::<u8>())) {
            let id = ObjectId(bytes);
            prop_assert_eq!(ObjectId::parse(&id.to_string()), Some(id));
            prop_assert_eq!(ObjectId::parse(&id.to_string().to_uppercase()), Some(id));
        }
    }
}
