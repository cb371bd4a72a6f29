//! Throttling of sign-in and sign-up attempts, per key (a client address or
//! an account), with backoff.
//!
//! Each key may make `limit` attempts in a window. The attempt past that is
//! refused until the window ends; every further time the key runs over, the
//! wait doubles (up to 16 windows). A key that stays within its limit for a
//! whole window starts afresh. State is per node and in memory, bounded by
//! `MAX_KEYS`: finished entries are dropped first, then the least recently
//! seen.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Most keys one limiter tracks.
const MAX_KEYS: usize = 100_000;
/// The longest wait, in windows.
const MAX_BACKOFF_WINDOWS: i64 = 16;

#[derive(Debug, Clone, Copy)]
struct Entry {
    window_start: i64,
    attempts: u32,
    /// How many times the key ran over its limit in a row.
    strikes: u32,
    blocked_until: i64,
    last_seen: i64,
}

/// A keyed fixed-window limiter with backoff; times are epoch milliseconds
/// from the caller's clock.
#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    window_ms: i64,
    max_keys: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Throttle {
    /// `limit` attempts per `window`; a limit of 0 lets everything through.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, MAX_KEYS)
    }

    fn with_capacity(limit: u32, window: Duration, max_keys: usize) -> Self {
        Throttle {
            limit,
            window_ms: (window.as_millis() as i64).max(1),
            max_keys,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// Counts an attempt by `key` at `now`; `Err(wait)` when it is refused.
    pub fn attempt(&self, key: &str, now: i64) -> Result<(), Duration> {
        if !self.enabled() {
            return Ok(());
        }
        let mut entries = self.entries.lock().expect("throttle lock");
        if entries.len() >= self.max_keys && !entries.contains_key(key) {
            self.evict(&mut entries, now);
        }
        let window = self.window_ms;
        let e = entries.entry(key.to_string()).or_insert(Entry {
            window_start: now,
            attempts: 0,
            strikes: 0,
            blocked_until: 0,
            last_seen: now,
        });
        if now < e.blocked_until {
            e.last_seen = now;
            return Err(wait(e.blocked_until - now));
        }
        if now - e.window_start >= window {
            // A whole window without attempts forgives earlier strikes.
            if now - e.last_seen >= window {
                e.strikes = 0;
            }
            e.window_start = now;
            e.attempts = 0;
        }
        e.last_seen = now;
        e.attempts += 1;
        if e.attempts <= self.limit {
            return Ok(());
        }
        e.strikes += 1;
        let until = if e.strikes == 1 {
            e.window_start + window
        } else {
            let windows = 1i64 << (e.strikes - 1).min(8);
            now + window * windows.min(MAX_BACKOFF_WINDOWS)
        };
        e.blocked_until = until;
        // The next window starts when the wait ends.
        e.window_start = until;
        e.attempts = 0;
        Err(wait(until - now))
    }

    /// Forgets a key's attempts, e.g. an account's after a successful sign-in.
    pub fn forget(&self, key: &str) {
        self.entries.lock().expect("throttle lock").remove(key);
    }

    fn evict(&self, entries: &mut HashMap<String, Entry>, now: i64) {
        let window = self.window_ms;
        entries.retain(|_, e| e.blocked_until > now || now - e.last_seen < window);
        if entries.len() < self.max_keys {
            return;
        }
        let mut seen: Vec<i64> = entries.values().map(|e| e.last_seen).collect();
        seen.sort_unstable();
        let cutoff = seen[seen.len() / 4];
        entries.retain(|_, e| e.last_seen > cutoff);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().expect("throttle lock").len()
    }
}

fn wait(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1) as u64)
}

/// The key a client address is throttled under: IPv6 clients by their /64,
/// since one subscriber usually holds a whole /64.
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

/// The throttles of sign-in and sign-up.
#[derive(Debug)]
pub struct AuthThrottles {
    /// Sign-in attempts per client address.
    pub login_by_address: Throttle,
    /// Sign-in attempts per account (email), from any address, since the
    /// last successful sign-in.
    pub login_by_account: Throttle,
    /// Sign-ups per client address.
    pub signup_by_address: Throttle,
}

impl AuthThrottles {
    /// `login_per_minute` sign-in attempts per address and per account,
    /// `signup_per_hour` sign-ups per address; 0 turns either off.
    pub fn new(login_per_minute: u32, signup_per_hour: u32) -> Self {
        AuthThrottles {
            login_by_address: Throttle::new(login_per_minute, Duration::from_secs(60)),
            login_by_account: Throttle::new(login_per_minute, Duration::from_secs(60)),
            signup_by_address: Throttle::new(signup_per_hour, Duration::from_secs(3600)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_attempt_past_the_limit_waits_for_the_window_to_end() {
        let t = Throttle::new(3, Duration::from_secs(60));
        for i in 0..3 {
            assert!(t.attempt("a", i * 1000).is_ok());
        }
        assert_eq!(t.attempt("a", 10_000), Err(Duration::from_millis(50_000)));
        assert!(t.attempt("b", 10_000).is_ok(), "other keys are unaffected");
        assert!(t.attempt("a", 59_999).is_err());
        assert!(t.attempt("a", MIN).is_ok());
        t.forget("a");
        for _ in 0..3 {
            assert!(t.attempt("a", MIN).is_ok());
        }
    }

    #[test]
    fn running_over_again_doubles_the_wait_and_a_quiet_window_forgives() {
        let t = Throttle::new(1, Duration::from_secs(60));
        assert!(t.attempt("a", 0).is_ok());
        assert_eq!(t.attempt("a", 1).unwrap_err().as_millis(), 59_999);
        assert!(t.attempt("a", MIN).is_ok());
        assert_eq!(
            t.attempt("a", MIN + 1).unwrap_err().as_millis() as i64,
            2 * MIN
        );
        let later = MIN + 1 + 2 * MIN;
        assert!(t.attempt("a", later).is_ok());
        assert_eq!(
            t.attempt("a", later).unwrap_err().as_millis() as i64,
            4 * MIN
        );
        // The waits stop growing at 16 windows.
        let mut now = later + 4 * MIN;
        for _ in 0..10 {
            assert!(t.attempt("a", now).is_ok());
            now += t.attempt("a", now).unwrap_err().as_millis() as i64;
        }
        assert!(t.attempt("a", now).is_ok());
        assert_eq!(
            t.attempt("a", now).unwrap_err().as_millis() as i64,
            16 * MIN
        );
        // Two quiet windows later the key starts afresh.
        let fresh = now + 16 * MIN + 2 * MIN;
        assert!(t.attempt("a", fresh).is_ok());
        assert_eq!(
            t.attempt("a", fresh + 1).unwrap_err().as_millis() as i64,
            MIN - 1
        );
    }

    #[test]
    fn a_limit_of_zero_lets_everything_through() {
        let t = Throttle::new(0, Duration::from_secs(60));
        for i in 0..1000 {
            assert!(t.attempt("a", i).is_ok());
        }
    }

    #[test]
    fn memory_stays_bounded() {
        let t = Throttle::with_capacity(5, Duration::from_secs(60), 100);
        for i in 0..10_000 {
            let _ = t.attempt(&format!("k{i}"), i);
            assert!(t.len() <= 100);
        }
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64() {
        let a = address_key(Some("2001:4860:1:2:aaaa::1".parse().unwrap()));
        let b = address_key(Some("2001:4860:1:2:bbbb::9".parse().unwrap()));
        assert_eq!(a, b);
        assert_eq!(a, "2001:4860:1:2::/64");
        assert_eq!(
            address_key(Some("::ffff:10.1.2.3".parse().unwrap())),
            "10.1.2.3"
        );
        assert_eq!(address_key(None), "unknown");
    }
}
