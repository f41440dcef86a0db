//! Secrets at rest: an authenticated envelope around every stored secret.
//!
//! Format (`Sealed` bytes): `b"sm1"` (format version) | key id (8 bytes) | nonce (24 bytes) |
//! XChaCha20-Poly1305 ciphertext and tag. The key id says which master key sealed it, so keys can
//! be rotated without guessing. The associated data, chosen by the caller, binds a ciphertext to
//! its place (for a client secret: the credential's row id and version); a ciphertext copied into
//! another row fails to open instead of yielding a secret under the wrong name.
//!
//! 24-byte random nonces make random generation safe for any realistic number of seals per key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const MAGIC: &[u8; 3] = b"sm1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = MAGIC.len() + KEY_ID_LEN + NONCE_LEN;

/// Why a secret could not be sealed or opened. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes are not a secmat envelope (truncated, or another format).
    #[error("stored secret is not a secmat envelope (truncated or corrupted)")]
    Malformed,
    /// Sealed under a master key that is not loaded.
    #[error(
        "stored secret was sealed with master key {0}, which is not loaded; supply that key (SECMAT_MASTER_KEY_FILE)"
    )]
    UnknownKey(String),
    /// The ciphertext, its tag or its associated data do not match: tampered, or moved to another row.
    #[error("stored secret failed authentication (tampered with, or moved from another row)")]
    Forged,
    /// A master key in text form was not 32 bytes of base64.
    #[error("master key must be 32 random bytes, base64-encoded ({0})")]
    BadKey(&'static str),
    /// The operating system's random source failed.
    #[error("the operating system's random number generator failed")]
    Random,
}

/// Sealed bytes as they are stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(pub Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

/// One 256-bit master key and its id (the first 8 bytes of its SHA-256 digest).
pub struct MasterKey {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
    /// Base for [`MasterKey::derive`]: SHA-256 over a label and the key, never the key itself.
    subkey_base: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id_hex())
    }
}

impl MasterKey {
    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let mut base = Sha256::new();
        base.update(b"secmat subkey base v1\0");
        base.update(bytes);
        let subkey_base = Zeroizing::new(base.finalize().into());
        Self {
            id,
            cipher: XChaCha20Poly1305::new(bytes.into()),
            subkey_base,
        }
    }

    /// A 256-bit key for another purpose (`label` names it, e.g. `b"csrf"`), derived from this
    /// master key so that every node holding the same master key derives the same subkey, while
    /// no subkey reveals the master key or another subkey.
    pub fn derive(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(self.subkey_base.as_ref());
        h.update(label);
        Zeroizing::new(h.finalize().into())
    }

    /// A fresh random key, returned with its base64 text form (to be written to a key file).
    pub fn generate() -> Result<(Self, Zeroizing<String>), EnvelopeError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(bytes.as_mut()).map_err(|_| EnvelopeError::Random)?;
        Ok((
            Self::from_bytes(&bytes),
            Zeroizing::new(B64.encode(bytes.as_ref())),
        ))
    }

    /// A key from the base64 text of a key file (surrounding white space ignored).
    pub fn from_base64(text: &str) -> Result<Self, EnvelopeError> {
        let raw = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| EnvelopeError::BadKey("not valid base64"))?,
        );
        let bytes: &[u8; 32] = raw
            .as_slice()
            .try_into()
            .map_err(|_| EnvelopeError::BadKey("wrong length"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The key id in hex, safe to log.
    pub fn id_hex(&self) -> String {
        self.id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The master keys in use: one active key that seals, any number of older keys that still open.
#[derive(Debug)]
pub struct Keyring {
    active: MasterKey,
    retired: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring sealing with `active` and also opening what `retired` keys sealed.
    pub fn new(active: MasterKey, retired: Vec<MasterKey>) -> Self {
        Self { active, retired }
    }

    /// The key that seals new secrets (and from which subkeys are derived).
    pub fn active(&self) -> &MasterKey {
        &self.active
    }

    /// The id of the key new secrets are sealed with.
    pub fn active_key_id(&self) -> String {
        self.active.id_hex()
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Sealed, EnvelopeError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce).map_err(|_| EnvelopeError::Random)?;
        let ciphertext = self
            .active
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| EnvelopeError::Forged)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.active.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(Sealed(out))
    }

    /// Opens what [`Keyring::seal`] sealed with the same `aad`.
    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, EnvelopeError> {
        let bytes = &sealed.0;
        if bytes.len() < HEADER_LEN + 16 || &bytes[..MAGIC.len()] != MAGIC {
            return Err(EnvelopeError::Malformed);
        }
        let key_id = &bytes[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let nonce = &bytes[MAGIC.len() + KEY_ID_LEN..HEADER_LEN];
        let key = std::iter::once(&self.active)
            .chain(&self.retired)
            .find(|k| k.id == key_id)
            .ok_or_else(|| {
                EnvelopeError::UnknownKey(key_id.iter().map(|b| format!("{b:02x}")).collect())
            })?;
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: &bytes[HEADER_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| EnvelopeError::Forged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ring() -> Keyring {
        Keyring::new(MasterKey::from_bytes(&[7u8; 32]), vec![])
    }

    #[test]
    fn sealed_secret_opens_with_the_same_associated_data() {
        let k = ring();
        let s = k.seal(b"s3c:r%t+/=&?", b"row-1|v1").unwrap();
        assert_eq!(k.open(&s, b"row-1|v1").unwrap().as_slice(), b"s3c:r%t+/=&?");
    }

    #[test]
    fn ciphertext_does_not_contain_the_plaintext() {
        let s = ring().seal(b"very-secret-value", b"a").unwrap();
        assert!(!s.0.windows(17).any(|w| w == b"very-secret-value"));
    }

    #[test]
    fn ciphertext_moved_to_another_row_fails_to_open() {
        let k = ring();
        let s = k.seal(b"secret", b"row-1|v1").unwrap();
        assert_eq!(k.open(&s, b"row-2|v1"), Err(EnvelopeError::Forged));
        assert_eq!(k.open(&s, b"row-1|v2"), Err(EnvelopeError::Forged));
    }

    #[test]
    fn unknown_key_is_named_by_its_id() {
        let s = ring().seal(b"secret", b"a").unwrap();
        let other = Keyring::new(MasterKey::from_bytes(&[8u8; 32]), vec![]);
        let id = MasterKey::from_bytes(&[7u8; 32]).id_hex();
        assert_eq!(other.open(&s, b"a"), Err(EnvelopeError::UnknownKey(id)));
    }

    #[test]
    fn retired_keys_still_open_what_they_sealed() {
        let old = ring();
        let s = old.seal(b"secret", b"a").unwrap();
        let rotated = Keyring::new(
            MasterKey::from_bytes(&[9u8; 32]),
            vec![MasterKey::from_bytes(&[7u8; 32])],
        );
        assert_eq!(rotated.open(&s, b"a").unwrap().as_slice(), b"secret");
        assert_ne!(rotated.active_key_id(), old.active_key_id());
    }

    #[test]
    fn generated_keys_round_trip_through_base64() {
        let (key, text) = MasterKey::generate().unwrap();
        let again = MasterKey::from_base64(&format!("  {}\n", text.as_str())).unwrap();
        assert_eq!(key.id_hex(), again.id_hex());
        assert_eq!(
            MasterKey::from_base64("c2hvcnQ=").unwrap_err(),
            EnvelopeError::BadKey("wrong length")
        );
        assert!(MasterKey::from_base64("!!!").is_err());
    }

    #[test]
    fn derived_subkeys_differ_by_label_and_by_master_key() {
        let a = MasterKey::from_bytes(&[7u8; 32]);
        assert_eq!(
            *a.derive(b"csrf"),
            *MasterKey::from_bytes(&[7u8; 32]).derive(b"csrf")
        );
        assert_ne!(*a.derive(b"csrf"), *a.derive(b"other"));
        assert_ne!(
            *a.derive(b"csrf"),
            *MasterKey::from_bytes(&[8u8; 32]).derive(b"csrf")
        );
        assert_ne!(a.derive(b"csrf").as_slice(), &[7u8; 32]);
    }

    #[test]
    fn same_plaintext_seals_differently_each_time() {
        let k = ring();
        assert_ne!(k.seal(b"x", b"a").unwrap(), k.seal(b"x", b"a").unwrap());
    }

    proptest! {
        #[test]
        fn any_single_byte_flip_is_detected(
            msg in proptest::collection::vec(any::<u8>(), 0..64),
            idx in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let k = ring();
            let mut s = k.seal(&msg, b"aad").unwrap();
            let i = idx.index(s.0.len());
            s.0[i] ^= 1 << bit;
            prop_assert!(k.open(&s, b"aad").is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = ring().open(&Sealed(bytes), b"aad");
        }
    }
}
