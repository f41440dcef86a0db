//! Who is calling, and may they? One layer for every endpoint: HTTP Basic today, Bearer (API keys,
//! secmat's own `/oauth/token`) next, both resolving to the same [`Principal`].
//!
//! Argon2 verification costs tens of milliseconds of CPU by design, and consumers authenticate on
//! every call. So a successful verification is remembered for [`CACHE_TTL`] under a keyed hash
//! (HMAC-SHA-256 with a per-process random key) of exactly what was presented; the cache is
//! dropped whenever the store's users generation moves (a user or its roles changed, in this
//! process or in another one — see [`AuthService::watch_users`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use secmat_store::{Store, UserRecord};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::time::Instant;
use zeroize::Zeroizing;

/// How long a verified password is trusted without verifying it again.
pub const CACHE_TTL: Duration = Duration::from_secs(60);
/// How often servers look for user changes made by other processes (`secmat user …`).
pub const USERS_POLL: Duration = Duration::from_secs(2);
/// Cache entries kept at most; beyond it the cache starts over (bounded memory under attack).
const CACHE_MAX: usize = 10_000;

/// The roles of SAP Cloud Integration's API that secmat knows, plus its own `AccessTokenRead`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read security material (list, show).
    MonitoringDataRead,
    /// Create, edit, delete and deploy security material.
    CredentialsEdit,
    /// Run the connectivity test.
    CredentialsRead,
    /// Obtain access tokens and use the HTTP adapter.
    AccessTokenRead,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 4] = [
        Role::MonitoringDataRead,
        Role::CredentialsEdit,
        Role::CredentialsRead,
        Role::AccessTokenRead,
    ];

    /// The role's name as SAP (and secmat's store) spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::MonitoringDataRead => "MonitoringDataRead",
            Role::CredentialsEdit => "CredentialsEdit",
            Role::CredentialsRead => "CredentialsRead",
            Role::AccessTokenRead => "AccessTokenRead",
        }
    }

    /// Parses a role name (case-insensitive).
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name.
    pub name: String,
    /// What the user may do.
    pub roles: Vec<Role>,
}

impl Principal {
    /// Whether the caller holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Why a request is not authenticated. Never says which part (user or password) was wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("authentication required: send HTTP Basic credentials (user and password)")]
    Missing,
    /// Malformed header, unknown user or wrong password.
    #[error("invalid credentials")]
    Invalid,
    /// A scheme secmat does not accept (yet).
    #[error("unsupported authentication scheme; use HTTP Basic")]
    UnsupportedScheme,
    /// The store failed while looking the user up.
    #[error("user store unavailable")]
    Store,
}

/// A decoded `user:password` and its length; the used bytes are zeroed on drop.
struct Decoded([u8; 1024], usize);

impl Drop for Decoded {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        if let Some(used) = self.0.get_mut(..self.1) {
            used.zeroize();
        }
    }
}

struct Cached {
    tag: [u8; 32],
    principal: Arc<Principal>,
    generation: i64,
    until: Instant,
}

/// The last `Authorization` header one connection presented and whom it proved. A keep-alive
/// connection that repeats it (as consumers do on every request) is not decoded and hashed
/// again; the memo holds only as long as an entry of the verified-credentials cache would
/// ([`CACHE_TTL`], and no change to the users).
#[derive(Default)]
pub struct ConnectionMemo(std::sync::Mutex<Option<Remembered>>);

struct Remembered {
    /// The caller's `Authorization` value (credentials: wiped when forgotten).
    header: Zeroizing<Vec<u8>>,
    principal: Arc<Principal>,
    generation: i64,
    until: Instant,
}

/// Verifies callers against the store's users, with the verified-credentials cache.
pub struct AuthService {
    store: Arc<dyn Store>,
    /// Keyed with 32 random bytes at start; cloned per use (cheaper than re-keying).
    mac: Hmac<Sha256>,
    cache: RwLock<HashMap<[u8; 32], Cached, TagHash>>,
    generation: std::sync::atomic::AtomicI64,
    /// A real hash to verify against when the user does not exist, so that unknown users take as
    /// long as known ones (no user enumeration by timing).
    dummy_hash: String,
}

impl AuthService {
    /// A service over `store`'s users.
    pub async fn new(store: Arc<dyn Store>) -> anyhow::Result<Arc<Self>> {
        let mut cache_key = Zeroizing::new([0u8; 32]);
        getrandom::getrandom(cache_key.as_mut())?;
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(cache_key.as_ref())?;
        let generation = store.users_generation().await?;
        let dummy_hash = hash_password("not a real password")?;
        Ok(Arc::new(Self {
            store,
            mac,
            cache: RwLock::new(HashMap::default()),
            generation: generation.into(),
            dummy_hash,
        }))
    }

    /// Authenticates the value of an `Authorization` header.
    pub async fn authenticate(&self, header: Option<&str>) -> Result<Arc<Principal>, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let (scheme, rest) = header.trim().split_once(' ').ok_or(AuthError::Invalid)?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(AuthError::UnsupportedScheme);
        }
        // Decoded on the stack: this runs on every request of every consumer. Only the bytes
        // written are wiped afterwards (wiping all 1 KiB cost more than the rest of the check).
        let mut buf = Decoded([0u8; 1024], 0);
        buf.1 = match B64.decode_slice(rest.trim(), &mut buf.0) {
            Ok(n) => n,
            Err(_) => {
                buf.1 = buf.0.len(); // it may have written part of it
                return Err(AuthError::Invalid);
            }
        };
        let text = std::str::from_utf8(&buf.0[..buf.1]).map_err(|_| AuthError::Invalid)?;
        let (user, password) = text.split_once(':').ok_or(AuthError::Invalid)?;
        self.verify(user, password).await
    }

    /// [`AuthService::authenticate`], remembering the outcome for the connection `memo` belongs to.
    pub async fn authenticate_on(
        &self,
        memo: &ConnectionMemo,
        header: Option<&[u8]>,
    ) -> Result<Arc<Principal>, AuthError> {
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if let Some(h) = header
            && let Ok(m) = memo.0.lock()
            && let Some(r) = m.as_ref()
            && r.generation == generation
            && bool::from(r.header.as_slice().ct_eq(h))
            && r.until > Instant::now()
        {
            return Ok(r.principal.clone());
        }
        let principal = self
            .authenticate(header.map(|v| std::str::from_utf8(v).unwrap_or("")))
            .await?;
        if let Some(h) = header
            && let Ok(mut m) = memo.0.lock()
        {
            *m = Some(Remembered {
                header: Zeroizing::new(h.to_vec()),
                principal: principal.clone(),
                generation,
                until: Instant::now() + CACHE_TTL,
            });
        }
        Ok(principal)
    }

    /// Verifies a user name and password (also used by the web monitor's sign-in).
    pub async fn verify(&self, user: &str, password: &str) -> Result<Arc<Principal>, AuthError> {
        let tag = self.tag(user, password);
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        if let Some(p) = self.cached(&tag, generation) {
            return Ok(p);
        }
        let record = self
            .store
            .get_user(user)
            .await
            .map_err(|_| AuthError::Store)?;
        let (hash, record) = match record {
            Some(r) => (r.password_hash.clone(), Some(r)),
            None => (self.dummy_hash.clone(), None),
        };
        let password = Zeroizing::new(password.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let record = record.filter(|_| ok).ok_or(AuthError::Invalid)?;
        let principal = Arc::new(principal_of(&record));
        self.remember(tag, principal.clone(), generation);
        Ok(principal)
    }

    fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn cached(&self, tag: &[u8; 32], generation: i64) -> Option<Arc<Principal>> {
        let cache = self.cache.read().ok()?;
        let entry = cache.get(tag)?;
        let fresh = entry.generation == generation && entry.until > Instant::now();
        (fresh && bool::from(entry.tag.ct_eq(tag))).then(|| entry.principal.clone())
    }

    fn remember(&self, tag: [u8; 32], principal: Arc<Principal>, generation: i64) {
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(
                tag,
                Cached {
                    tag,
                    principal,
                    generation,
                    until: Instant::now() + CACHE_TTL,
                },
            );
        }
    }

    /// Looks at the store's users generation; on a change, forgets every cached verification.
    pub async fn refresh_generation(&self) {
        if let Ok(g) = self.store.users_generation().await {
            let old = self.generation.swap(g, std::sync::atomic::Ordering::AcqRel);
            if old != g {
                if let Ok(mut cache) = self.cache.write() {
                    cache.clear();
                }
                tracing::info!(
                    generation = g,
                    "users changed; cached authentications dropped"
                );
            }
        }
    }

    /// Runs until `shutdown`, polling the users generation every [`USERS_POLL`].
    pub async fn watch_users(self: Arc<Self>, shutdown: crate::shutdown::Shutdown) {
        let mut tick = tokio::time::interval(USERS_POLL);
        let stop = shutdown.wait();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => self.refresh_generation().await,
                () = &mut stop => return,
            }
        }
    }
}

/// Map keys are HMAC outputs, uniformly random: their first eight bytes are already a perfect
/// hash, so hashing them again (SipHash) would only cost time on every request.
#[derive(Default, Clone, Copy)]
struct TagHash;

/// The hasher behind [`TagHash`]: keeps the first eight bytes written.
#[derive(Default)]
struct TagHasher(u64);

impl std::hash::BuildHasher for TagHash {
    type Hasher = TagHasher;
    fn build_hasher(&self) -> TagHasher {
        TagHasher(0)
    }
}

impl std::hash::Hasher for TagHasher {
    fn write(&mut self, bytes: &[u8]) {
        if self.0 == 0 && bytes.len() >= 8 {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[..8]);
            self.0 = u64::from_le_bytes(w) | 1;
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

fn principal_of(r: &UserRecord) -> Principal {
    let mut roles: Vec<Role> = r.roles.iter().filter_map(|s| Role::parse(s)).collect();
    roles.sort();
    roles.dedup();
    Principal {
        name: r.name.clone(),
        roles,
    }
}

/// Hashes a password with Argon2id (default parameters: 19 MiB, 2 passes).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("could not hash the password: {e}"))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_in_any_case_and_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(&r.as_str().to_lowercase()), Some(r));
        }
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn password_hashes_are_argon2id_and_verify() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("pw", &h));
        assert!(!verify_password("pW", &h));
        assert!(!verify_password("pw", "not a hash"));
    }
}
