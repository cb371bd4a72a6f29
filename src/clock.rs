//! Time as a dependency, so the ledger and sweepers can be driven in tests.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// Where "now" comes from.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to; for tests and simulations.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    pub fn advance(&self, by: Duration) {
        *self.0.lock().expect("clock lock") += by;
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// A point in time, UTC, to the millisecond: a `DateTime<Utc>` in rows and
/// domain code, stored as milliseconds since the epoch (a BIGINT column) on
/// both backends and through the SQLite ledger writer, so that indexes and
/// comparisons in SQL stay plain integer ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    /// The time `ms` milliseconds after the epoch.
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(from_millis(ms))
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0.timestamp_millis()
    }

    /// The time as chrono's type.
    pub fn datetime(self) -> DateTime<Utc> {
        self.0
    }

    /// RFC 3339 with milliseconds and a `Z`, as the API answers times.
    pub fn iso(self) -> String {
        iso(self.0)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Truncated to the millisecond, the precision it is stored at.
    fn from(t: DateTime<Utc>) -> Self {
        Timestamp::from_millis(t.timestamp_millis())
    }
}

impl From<Timestamp> for DateTime<Utc> {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        Timestamp(self.0 + d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0 - d)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = Duration;
    fn sub(self, other: Timestamp) -> Duration {
        self.0 - other.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.iso())
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for Timestamp
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for Timestamp
where
    i64: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i64 as sqlx::Encode<'q, DB>>::encode(self.millis(), buf)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for Timestamp
where
    i64: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Timestamp::from_millis(
            <i64 as sqlx::Decode<'r, DB>>::decode(value)?,
        ))
    }
}

// Columns of times are bound as arrays on PostgreSQL's batch writes.
impl sqlx::postgres::PgHasArrayType for Timestamp {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <i64 as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

impl rusqlite::types::FromSql for Timestamp {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(Timestamp::from_millis(value.as_i64()?))
    }
}

impl rusqlite::ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.millis()))
    }
}

/// Milliseconds since the epoch, the form times take in the database.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The inverse of [`to_millis`].
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// RFC 3339 with milliseconds and a `Z`, the form every API timestamp takes.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_timestamp_keeps_milliseconds_and_answers_in_rfc_3339() {
        let t = Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(t.millis(), 1_700_000_000_123);
        assert_eq!(t.iso(), "2023-11-14T22:13:20.123Z");
        assert_eq!(t.to_string(), t.iso());
        let later = t + Duration::milliseconds(877);
        assert_eq!(later.millis(), 1_700_000_001_000);
        assert_eq!(later - t, Duration::milliseconds(877));
        assert!(t < later && later - Duration::seconds(1) < t);
        // Finer precision than the column's is dropped on the way in.
        let precise = t.datetime() + Duration::microseconds(999);
        assert_eq!(Timestamp::from(precise), t);
    }

    proptest! {
        #[test]
        fn milliseconds_round_trip(ms in -62_000_000_000_000i64..253_000_000_000_000i64) {
            prop_assert_eq!(Timestamp::from_millis(ms).millis(), ms);
            let t = Timestamp::from_millis(ms);
            prop_assert_eq!(Timestamp::from(DateTime::<Utc>::from(t)), t);
        }
    }
}
