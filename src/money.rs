//! Credits: integers everywhere, 100 credits = 1 USD.

/// How many credits make one US dollar.
pub const CREDITS_PER_USD: i64 = 100;

/// The USD figure for an amount of credits.
pub fn usd(credits: i64) -> f64 {
    credits as f64 / CREDITS_PER_USD as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_hundred_credits_are_a_dollar() {
        assert_eq!(super::usd(100), 1.0);
        assert_eq!(super::usd(-250), -2.5);
        assert_eq!(super::usd(1), 0.01);
    }
}
