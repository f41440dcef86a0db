//! CSRF tokens as SAP's API hands them out: `GET` with `X-CSRF-Token: Fetch` returns one in the
//! `X-CSRF-Token` response header; `POST`, `PUT` and `DELETE` must send it back, or get `403` with
//! `X-CSRF-Token: Required`.
//!
//! Tokens are stateless: `issued-at (8 bytes) | HMAC-SHA-256(key, user | issued-at)[..16]`,
//! base64url. The key is derived from the master key, so every node of a cluster accepts every
//! other node's tokens; a token is bound to the user it was issued to and expires after
//! [`CSRF_TTL_MILLIS`].

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use hmac::{Hmac, Mac};
use secmat_core::UnixMillis;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header, in the spelling SAP uses.
pub const HEADER: &str = "X-CSRF-Token";
/// How long a token stays valid (SAP binds it to a session; clients re-fetch after a `403`).
pub const CSRF_TTL_MILLIS: i64 = 8 * 60 * 60 * 1000;

/// Issues and checks CSRF tokens.
#[derive(Clone)]
pub struct Csrf {
    mac: Hmac<Sha256>,
}

impl Csrf {
    /// A token authority keyed with `key` (32 bytes derived from the master key).
    pub fn new(key: &[u8; 32]) -> anyhow::Result<Self> {
        Ok(Self {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key)?,
        })
    }

    fn tag(&self, user: &str, issued: i64) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(b"csrf v1\0");
        mac.update(user.as_bytes());
        mac.update(b"\0");
        mac.update(&issued.to_be_bytes());
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A token for `user`, issued at `now`.
    pub fn issue(&self, user: &str, now: UnixMillis) -> String {
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&now.to_be_bytes());
        raw.extend_from_slice(&self.tag(user, now));
        B64URL.encode(raw)
    }

    /// Whether `token` was issued to `user` and has not expired at `now`.
    pub fn check(&self, token: &str, user: &str, now: UnixMillis) -> bool {
        let Ok(raw) = B64URL.decode(token.trim()) else {
            return false;
        };
        let Ok(raw) = <[u8; 24]>::try_from(raw.as_slice()) else {
            return false;
        };
        let mut issued = [0u8; 8];
        issued.copy_from_slice(&raw[..8]);
        let issued = i64::from_be_bytes(issued);
        let age = now.saturating_sub(issued);
        (0..=CSRF_TTL_MILLIS).contains(&age) && bool::from(self.tag(user, issued).ct_eq(&raw[8..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csrf() -> Csrf {
        Csrf::new(&[1u8; 32]).unwrap()
    }

    #[test]
    fn a_token_is_valid_for_its_user_until_it_expires() {
        let t = csrf().issue("alice", 1_000);
        assert!(csrf().check(&t, "alice", 1_000 + CSRF_TTL_MILLIS));
        assert!(!csrf().check(&t, "alice", 1_001 + CSRF_TTL_MILLIS));
        assert!(!csrf().check(&t, "bob", 2_000));
        assert!(!csrf().check(&t, "alice", 999), "issued in the future");
    }

    #[test]
    fn forged_or_foreign_tokens_fail() {
        let t = csrf().issue("alice", 1_000);
        assert!(!Csrf::new(&[2u8; 32]).unwrap().check(&t, "alice", 1_000));
        assert!(!csrf().check("Fetch", "alice", 1_000));
        assert!(!csrf().check("", "alice", 1_000));
        let mut bytes = B64URL.decode(&t).unwrap();
        bytes[20] ^= 1;
        assert!(!csrf().check(&B64URL.encode(bytes), "alice", 1_000));
    }
}
