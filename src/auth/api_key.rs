//! Budget API keys: opaque, shown once, stored as a SHA-256 hash.
//!
//! Keys carry 256 random bits, so a fast hash is enough; a slow password
//! hash would only slow every request down.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every key starts with this, so secret scanners and people recognise it.
pub const PREFIX: &str = "tg_";

/// A freshly minted key: the secret and what is stored of it.
pub struct MintedKey {
    pub secret: String,
    pub prefix: String,
    pub hash: String,
}

/// Mints a new random key.
pub fn mint() -> MintedKey {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    MintedKey {
        prefix: secret[..10].to_string(),
        hash: hash(&secret),
        secret,
    }
}

/// The stored form of a key.
pub fn hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("{digest:x}")
}

/// True when the string has the shape of a key (not that it exists).
pub fn looks_like_key(s: &str) -> bool {
    s.len() == PREFIX.len() + 43 && s.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    #[test]
    fn minted_keys_are_unique_prefixed_and_hash_stably() {
        let a = super::mint();
        let b = super::mint();
        assert_ne!(a.secret, b.secret);
        assert!(super::looks_like_key(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(super::hash(&a.secret), a.hash);
        assert_eq!(a.hash.len(), 64);
    }

    #[test]
    fn the_stored_form_is_the_lower_hex_sha256_of_the_key() {
        // Keys stored by earlier versions must still be found.
        assert_eq!(
            super::hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
