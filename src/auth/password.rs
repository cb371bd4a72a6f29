//! Password hashing with argon2id (m = 19 MiB, t = 2, p = 1).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;

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
    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let h = super::hash("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong horse", &h));
        assert!(!super::verify("x", "not a hash"));
    }
}
