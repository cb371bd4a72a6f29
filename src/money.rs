//! Credits: integers everywhere, 100 credits = 1 USD.
//!
//! An amount of credits is a [`Credits`], never a bare integer, from the
//! moment a request is parsed to the row that stores it: a price, a balance,
//! a hold, a cap and a budget's spend cannot be mixed up with a count, a
//! duration or a time. The wire speaks plain integers (`tollgate-api`), so
//! the adapters convert at the edge with [`Credits::new`] and
//! [`Credits::get`].

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};

use serde::{Deserialize, Serialize};

/// How many credits make one US dollar.
pub const CREDITS_PER_USD: i64 = 100;

/// An amount of credits. Signed: a ledger entry that takes credits away is
/// negative. Stored as an integer column on both backends.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
)]
#[serde(transparent)]
#[sqlx(transparent)]
pub struct Credits(i64);

impl Credits {
    pub const ZERO: Credits = Credits(0);

    pub const fn new(credits: i64) -> Self {
        Credits(credits)
    }

    /// The number of credits.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The USD figure of this amount.
    pub fn usd(self) -> f64 {
        self.0 as f64 / CREDITS_PER_USD as f64
    }

    pub const fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self + other`, or `None` where it would overflow.
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }

    /// `self × n` (a per-unit price times a count), or `None` where it
    /// would overflow.
    pub fn checked_mul(self, n: i64) -> Option<Credits> {
        self.0.checked_mul(n).map(Credits)
    }

    /// Zero where the amount is negative.
    pub fn at_least_zero(self) -> Credits {
        Credits(self.0.max(0))
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Add for Credits {
    type Output = Credits;
    fn add(self, rhs: Credits) -> Credits {
        Credits(self.0 + rhs.0)
    }
}

impl Sub for Credits {
    type Output = Credits;
    fn sub(self, rhs: Credits) -> Credits {
        Credits(self.0 - rhs.0)
    }
}

impl AddAssign for Credits {
    fn add_assign(&mut self, rhs: Credits) {
        self.0 += rhs.0;
    }
}

impl SubAssign for Credits {
    fn sub_assign(&mut self, rhs: Credits) {
        self.0 -= rhs.0;
    }
}

impl Neg for Credits {
    type Output = Credits;
    fn neg(self) -> Credits {
        Credits(-self.0)
    }
}

impl Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(iter: I) -> Credits {
        Credits(iter.map(|c| c.0).sum())
    }
}

impl<'a> Sum<&'a Credits> for Credits {
    fn sum<I: Iterator<Item = &'a Credits>>(iter: I) -> Credits {
        Credits(iter.map(|c| c.0).sum())
    }
}

impl From<Credits> for serde_json::Value {
    fn from(c: Credits) -> Self {
        c.0.into()
    }
}

// The SQLite ledger writer binds and reads through rusqlite, which has no
// derive: an amount is its integer there too.
impl rusqlite::ToSql for Credits {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.0))
    }
}

impl rusqlite::types::FromSql for Credits {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        i64::column_result(value).map(Credits)
    }
}

/// The USD figure for an amount of credits.
pub fn usd(credits: Credits) -> f64 {
    credits.usd()
}

#[cfg(test)]
mod tests {
    use super::Credits;

    #[test]
    fn a_hundred_credits_are_a_dollar() {
        assert_eq!(super::usd(Credits::new(100)), 1.0);
        assert_eq!(super::usd(Credits::new(-250)), -2.5);
        assert_eq!(Credits::new(1).usd(), 0.01);
    }

    #[test]
    fn credits_are_plain_integers_on_the_wire() {
        assert_eq!(serde_json::to_string(&Credits::new(-42)).unwrap(), "-42");
        assert_eq!(
            serde_json::from_str::<Credits>("7").unwrap(),
            Credits::new(7)
        );
        assert!(serde_json::from_str::<Credits>("1.5").is_err());
    }

    #[test]
    fn arithmetic_keeps_the_sign() {
        let a = Credits::new(10);
        let b = Credits::new(25);
        assert_eq!(a - b, Credits::new(-15));
        assert_eq!((a - b).at_least_zero(), Credits::ZERO);
        assert_eq!([a, b].iter().sum::<Credits>(), Credits::new(35));
        assert_eq!(Credits::new(i64::MAX).checked_add(a), None);
        assert_eq!(a.checked_mul(3), Some(Credits::new(30)));
    }
}
