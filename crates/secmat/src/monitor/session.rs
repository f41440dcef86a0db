//! Sign-in sessions of the web monitor, kept in memory on the server.
//!
//! A session id is 256 random bits, sent as the cookie [`COOKIE`] (`HttpOnly`,
//! `SameSite=Strict`, `Path=/ui`, `Secure` behind HTTPS). The table is keyed by the SHA-256 of
//! the id, so looking an id up reveals nothing through timing and a memory dump holds no usable
//! cookie. A session ends after [`IDLE_MILLIS`] without a request, [`ABSOLUTE_MILLIS`] after
//! sign-in, on sign-out, or when its user is removed or changes password (checked against the
//! store every [`RECHECK_MILLIS`]; role changes are picked up at the same moment).
//!
//! Every session has its own CSRF token, which every form carries in the hidden field
//! [`CSRF_FIELD`] and every `POST` must send back. The sign-in form, which comes before any
//! session, uses a double-submit cookie ([`SIGNIN_COOKIE`]) instead: a site that cannot set
//! cookies for this origin cannot sign a victim in to its own account.
//!
//! Times come from the server's injected clock (milliseconds), so tests control expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use secmat_core::UnixMillis;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::Principal;

/// The session cookie.
pub const COOKIE: &str = "secmat_session";
/// The sign-in form's double-submit cookie.
pub const SIGNIN_COOKIE: &str = "secmat_signin";
/// The hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "_csrf";
/// A session ends after this long without a request (30 minutes).
pub const IDLE_MILLIS: i64 = 30 * 60 * 1000;
/// A session ends this long after sign-in, however active (8 hours, a working day).
pub const ABSOLUTE_MILLIS: i64 = 8 * 60 * 60 * 1000;
/// How often a session's user is compared with the store (removed user, new password, roles).
pub const RECHECK_MILLIS: i64 = 10 * 1000;
/// Sessions kept at most: beyond it expired ones are swept and then the least recently used is
/// dropped, so memory stays bounded even if someone signs in in a loop.
const MAX_SESSIONS: usize = 10_000;

type Key = [u8; 32];

struct Session {
    principal: Arc<Principal>,
    /// SHA-256 of the user's password hash at sign-in: a changed password ends the session.
    password_tag: [u8; 32],
    csrf: String,
    created: UnixMillis,
    last_seen: UnixMillis,
    checked: UnixMillis,
    flash: Option<String>,
}

impl Session {
    fn alive(&self, now: UnixMillis) -> bool {
        now - self.last_seen < IDLE_MILLIS && now - self.created < ABSOLUTE_MILLIS
    }
}

/// A live session, as a request sees it.
#[derive(Clone)]
pub struct Current {
    /// Who is signed in.
    pub principal: Arc<Principal>,
    /// The session's CSRF token.
    pub csrf: String,
    /// A message for the next page (e.g. "… deployed."), taken once.
    pub flash: Option<String>,
    /// Whether the user should be compared with the store now.
    pub recheck_due: bool,
    /// The fingerprint of the password hash the session was opened with.
    pub password_tag: [u8; 32],
    key: Key,
}

/// The answer to "who does this cookie belong to?".
pub enum Lookup {
    /// A live session.
    Live(Box<Current>),
    /// A cookie was sent, but its session has ended (expired, signed out, server restarted).
    Ended,
    /// No session cookie at all.
    None,
}

/// The session table. One per server (shared by every event loop through `AppState`).
#[derive(Default)]
pub struct Sessions {
    /// Held only for map operations, never across an `.await`.
    table: Mutex<HashMap<Key, Session>>,
}

/// The fingerprint of a password hash kept in a session.
pub fn password_tag(password_hash: &str) -> [u8; 32] {
    Sha256::digest(password_hash.as_bytes()).into()
}

/// 32 random bytes, base64url.
pub fn random_token() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 32];
    getrandom::getrandom(&mut raw)?;
    Ok(B64URL.encode(raw))
}

fn key_of(id: &str) -> Key {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for `principal`; returns the cookie value and the session.
    pub fn create(
        &self,
        principal: Arc<Principal>,
        password_tag: [u8; 32],
        now: UnixMillis,
    ) -> Result<(String, Current), getrandom::Error> {
        let id = random_token()?;
        let csrf = random_token()?;
        let key = key_of(&id);
        let session = Session {
            principal: principal.clone(),
            password_tag,
            csrf: csrf.clone(),
            created: now,
            last_seen: now,
            checked: now,
            flash: None,
        };
        if let Ok(mut t) = self.table.lock() {
            if t.len() >= MAX_SESSIONS {
                t.retain(|_, s| s.alive(now));
            }
            if t.len() >= MAX_SESSIONS
                && let Some(oldest) = t.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
            {
                t.remove(&oldest);
            }
            t.insert(key, session);
        }
        let current = Current {
            principal,
            csrf,
            flash: None,
            recheck_due: false,
            password_tag,
            key,
        };
        Ok((id, current))
    }

    /// Finds the live session of `cookie_value` and marks it used at `now`; `take_flash` takes
    /// its pending message (pages do, form posts do not).
    pub fn lookup(&self, cookie_value: Option<&str>, now: UnixMillis, take_flash: bool) -> Lookup {
        let Some(id) = cookie_value else {
            return Lookup::None;
        };
        let key = key_of(id);
        let Ok(mut t) = self.table.lock() else {
            return Lookup::Ended;
        };
        let Some(s) = t.get_mut(&key) else {
            return Lookup::Ended;
        };
        if !s.alive(now) {
            t.remove(&key);
            return Lookup::Ended;
        }
        s.last_seen = now;
        let flash = if take_flash { s.flash.take() } else { None };
        Lookup::Live(Box::new(Current {
            principal: s.principal.clone(),
            csrf: s.csrf.clone(),
            flash,
            recheck_due: now - s.checked >= RECHECK_MILLIS,
            password_tag: s.password_tag,
            key,
        }))
    }

    /// Records that the session's user was compared with the store at `now` and now holds
    /// `principal` (its roles may have changed).
    pub fn rechecked(&self, current: &Current, principal: Arc<Principal>, now: UnixMillis) {
        if let Ok(mut t) = self.table.lock()
            && let Some(s) = t.get_mut(&current.key)
        {
            s.principal = principal;
            s.checked = now;
        }
    }

    /// Leaves a message for the next page the session shows.
    pub fn set_flash(&self, current: &Current, message: String) {
        if let Ok(mut t) = self.table.lock()
            && let Some(s) = t.get_mut(&current.key)
        {
            s.flash = Some(message);
        }
    }

    /// Ends a session (sign-out, or its user changed).
    pub fn end(&self, current: &Current) {
        if let Ok(mut t) = self.table.lock() {
            t.remove(&current.key);
        }
    }

    /// Sessions in the table (live or not yet swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.table.lock().map(|t| t.len()).unwrap_or(0)
    }
}

impl Current {
    /// Whether `sent` is this session's CSRF token (constant time).
    pub fn csrf_matches(&self, sent: &str) -> bool {
        bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether the request reached the proxy in front of secmat over HTTPS.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}

/// A `Set-Cookie` value for `name=value` on `path`; `None` deletes the cookie.
pub fn set_cookie(name: &str, value: Option<&str>, path: &str, secure: bool) -> String {
    let mut c = match value {
        Some(v) => format!("{name}={v}; Path={path}; HttpOnly; SameSite=Strict"),
        None => format!("{name}=; Path={path}; HttpOnly; SameSite=Strict; Max-Age=0"),
    };
    if secure {
        c.push_str("; Secure");
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn alice() -> Arc<Principal> {
        Arc::new(Principal {
            name: "alice".into(),
            roles: vec![Role::MonitoringDataRead],
        })
    }

    fn live(l: Lookup) -> Current {
        match l {
            Lookup::Live(c) => *c,
            _ => panic!("expected a live session"),
        }
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_has_a_csrf_token() {
        let s = Sessions::default();
        let (id, created) = s.create(alice(), [1; 32], 0).unwrap();
        assert_eq!(id.len(), 43, "256 bits, base64url");
        let found = live(s.lookup(Some(&id), 1000, true));
        assert_eq!(found.principal.name, "alice");
        assert!(found.csrf_matches(&created.csrf));
        assert!(!found.csrf_matches("other"));
        assert!(!found.csrf_matches(""));
        assert!(matches!(
            s.lookup(Some("forged"), 1000, true),
            Lookup::Ended
        ));
        assert!(matches!(s.lookup(None, 1000, true), Lookup::None));
    }

    #[test]
    fn sessions_end_after_30_idle_minutes() {
        let s = Sessions::default();
        let (id, _) = s.create(alice(), [1; 32], 0).unwrap();
        live(s.lookup(Some(&id), IDLE_MILLIS - 1, true));
        // Used at IDLE - 1: alive until 2 * IDLE - 1.
        live(s.lookup(Some(&id), 2 * IDLE_MILLIS - 2, true));
        assert!(matches!(
            s.lookup(Some(&id), 3 * IDLE_MILLIS, true),
            Lookup::Ended
        ));
        assert_eq!(s.len(), 0, "an ended session is removed");
    }

    #[test]
    fn sessions_end_after_8_hours_however_active() {
        let s = Sessions::default();
        let (id, _) = s.create(alice(), [1; 32], 0).unwrap();
        let mut t = 0;
        while t + IDLE_MILLIS / 2 < ABSOLUTE_MILLIS {
            t += IDLE_MILLIS / 2;
            live(s.lookup(Some(&id), t, true));
        }
        assert!(matches!(
            s.lookup(Some(&id), ABSOLUTE_MILLIS, true),
            Lookup::Ended
        ));
    }

    #[test]
    fn flash_messages_are_shown_once_and_sign_out_ends_the_session() {
        let s = Sessions::default();
        let (id, c) = s.create(alice(), [1; 32], 0).unwrap();
        s.set_flash(&c, "deployed".into());
        assert_eq!(live(s.lookup(Some(&id), 1, false)).flash, None);
        assert_eq!(
            live(s.lookup(Some(&id), 2, true)).flash.as_deref(),
            Some("deployed")
        );
        assert_eq!(live(s.lookup(Some(&id), 3, true)).flash, None);
        s.end(&c);
        assert!(matches!(s.lookup(Some(&id), 4, true), Lookup::Ended));
    }

    #[test]
    fn the_user_is_rechecked_every_ten_seconds() {
        let s = Sessions::default();
        let (id, c) = s.create(alice(), [1; 32], 0).unwrap();
        assert!(!live(s.lookup(Some(&id), RECHECK_MILLIS - 1, true)).recheck_due);
        assert!(live(s.lookup(Some(&id), RECHECK_MILLIS, true)).recheck_due);
        let demoted = Arc::new(Principal {
            name: "alice".into(),
            roles: vec![],
        });
        s.rechecked(&c, demoted, RECHECK_MILLIS);
        let now = live(s.lookup(Some(&id), RECHECK_MILLIS + 1, true));
        assert!(!now.recheck_due);
        assert!(now.principal.roles.is_empty());
    }

    #[test]
    fn the_table_is_bounded() {
        let s = Sessions::default();
        for i in 0..(MAX_SESSIONS as i64 + 5) {
            s.create(alice(), [1; 32], i).unwrap();
        }
        assert_eq!(s.len(), MAX_SESSIONS);
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header_and_written_with_strict_flags() {
        let mut h = HeaderMap::new();
        h.append("cookie", "a=1; secmat_session=abc".parse().unwrap());
        h.append("cookie", "b=2".parse().unwrap());
        assert_eq!(cookie(&h, COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "c"), None);
        assert_eq!(
            set_cookie(COOKIE, Some("v"), "/ui", true),
            "secmat_session=v; Path=/ui; HttpOnly; SameSite=Strict; Secure"
        );
        assert!(set_cookie(COOKIE, None, "/ui", false).ends_with("Max-Age=0"));
        h.insert("x-forwarded-proto", "https".parse().unwrap());
        assert!(is_https(&h));
    }
}
