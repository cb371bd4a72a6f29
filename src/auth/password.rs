//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1), and the
//! rules a new password must meet.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::collections::HashSet;
use std::sync::OnceLock;

/// Fewest characters a new password may have.
pub const MIN_LENGTH: usize = 12;
/// Most characters a password may have; longer ones only cost hashing time.
pub const MAX_LENGTH: usize = 1024;

/// Why a new password was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error("the password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password must have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("the password is one of the most common passwords; choose another")]
    Common,
}

/// The most common passwords, lower-cased, shipped in the binary.
fn common_passwords() -> &'static HashSet<&'static str> {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        include_str!("../../assets/common-passwords.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Checks a password someone chooses (sign-up, `admin create-user`, a
/// change): long enough, and neither a common password nor one with only
/// digits and punctuation added (`password12345`), compared case-insensitively.
/// Signing in does not check this, so older passwords keep working.
pub fn check_new(password: &str) -> Result<(), WeakPassword> {
    let n = password.chars().count();
    if n < MIN_LENGTH {
        return Err(WeakPassword::TooShort);
    }
    if n > MAX_LENGTH {
        return Err(WeakPassword::TooLong);
    }
    let lower = password.to_lowercase();
    let list = common_passwords();
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    if list.contains(lower.as_str()) || (stem.chars().count() >= 4 && list.contains(stem)) {
        return Err(WeakPassword::Common);
    }
    Ok(())
}

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC-format argon2id hash of `password`.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing")
        .to_string()
}

/// True when `password` matches `phc`.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real check, for unknown emails, so response
/// times do not reveal which emails have accounts.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("dummy password for timing"));
    let _ = verify(password, phc);
}

/// Hashes at once at most one per core: each takes 19 MiB and a core for a
/// few milliseconds, so a flood of sign-ins queues here instead of
/// exhausting memory and the blocking thread pool.
fn gate() -> &'static tokio::sync::Semaphore {
    static GATE: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    GATE.get_or_init(|| {
        tokio::sync::Semaphore::new(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
        )
    })
}

/// [`hash`] off the async threads, under the gate.
pub async fn hash_async(password: String) -> String {
    let _permit = gate()
        .acquire()
        .await
        .expect("the hashing gate is never closed");
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .expect("password hashing task")
}

/// [`verify`] off the async threads, under the gate; with no hash it spends
/// the same time and answers false.
pub async fn verify_async(password: String, phc: Option<String>) -> bool {
    let _permit = gate()
        .acquire()
        .await
        .expect("the hashing gate is never closed");
    tokio::task::spawn_blocking(move || match phc {
        Some(h) => verify(&password, &h),
        None => {
            verify_dummy(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::{check_new, WeakPassword};

    #[test]
    fn new_passwords_must_be_long_and_uncommon() {
        assert_eq!(check_new("short pw"), Err(WeakPassword::TooShort));
        assert_eq!(check_new("elevenchars"), Err(WeakPassword::TooShort));
        assert_eq!(check_new(&"x".repeat(1025)), Err(WeakPassword::TooLong));
        for common in [
            "1qaz2wsx3edc",
            "QazWsxEdcRfv",
            "PASSWORD1234",
            "qwertyuiop12",
            "password1234567",
            "Dragon2024!!!!",
            "iloveyou1234",
        ] {
            assert_eq!(check_new(common), Err(WeakPassword::Common), "{common}");
        }
        for fine in [
            "correct horse battery",
            "twelve chars",
            "Tr0ub4dor&3 staple",
        ] {
            assert_eq!(check_new(fine), Ok(()), "{fine}");
        }
    }

    #[test]
    fn the_shipped_list_holds_thousands_of_passwords() {
        assert!(super::common_passwords().len() >= 10_000);
        assert!(super::common_passwords().contains("password"));
    }

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let h = super::hash("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong horse", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
