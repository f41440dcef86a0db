//! What every request handler shares. Built once in `serve` (or by a test) and passed in: no
//! globals.

use std::sync::Arc;

use secmat_core::{Clock, Keyring};
use secmat_store::Store;

use crate::auth::AuthService;
use crate::csrf::Csrf;
use crate::tokens::TokenService;

/// The server's shared state.
pub struct AppState {
    /// Credentials and users.
    pub store: Arc<dyn Store>,
    /// Seals client secrets before they reach the store.
    pub keyring: Arc<Keyring>,
    /// Authenticates callers.
    pub auth: Arc<AuthService>,
    /// Issues and checks CSRF tokens.
    pub csrf: Csrf,
    /// Wall-clock time.
    pub clock: Arc<dyn Clock>,
    /// Hands out access tokens from the shared cache.
    pub tokens: Arc<TokenService>,
    /// The HTTP receiver adapter.
    pub gateway: Arc<crate::gateway::Gateway>,
    /// The web monitor's sign-in sessions (here, not in the router: every event loop's router
    /// must see the same sessions).
    pub sessions: crate::monitor::Sessions,
}

/// How tokens are fetched and cached.
#[derive(Debug, Clone, Default)]
pub struct TokenSettings {
    /// HTTP client settings for token endpoints.
    pub http: secmat_core::http::HttpConfig,
    /// Cache rules.
    pub cache: secmat_core::CacheConfig,
}

impl AppState {
    /// State over `store` with `keyring`; the CSRF key is derived from the active master key.
    pub async fn new(
        store: Arc<dyn Store>,
        keyring: Arc<Keyring>,
        clock: Arc<dyn Clock>,
        tokens: TokenSettings,
    ) -> anyhow::Result<Self> {
        let auth = AuthService::new(store.clone()).await?;
        let csrf = Csrf::new(&keyring.active().derive(b"csrf"))?;
        let cache = secmat_core::TokenCache::new(tokens.cache, clock.clone());
        let client = secmat_core::http::TokenClient::new(&tokens.http)?;
        let gateway = Arc::new(crate::gateway::Gateway::new(
            store.clone(),
            tokens.http.extra_ca_pem.as_deref(),
        )?);
        let tokens = Arc::new(TokenService::new(
            store.clone(),
            keyring.clone(),
            cache,
            client,
        ));
        Ok(Self {
            store,
            keyring,
            auth,
            csrf,
            clock,
            tokens,
            gateway,
            sessions: crate::monitor::Sessions::default(),
        })
    }
}
