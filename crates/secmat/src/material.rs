//! Writing security material: the one place that seals a client secret, stores the record and
//! evicts the credential's cached tokens. The API (`api::credentials`) and the web monitor both
//! write through here, so both follow the same rules in the same order.

use secmat_core::NewCredential;
use secmat_store::{CredentialRecord, STATUS_DEPLOYED, StoreError};
use secrecy::ExposeSecret;

use crate::state::AppState;

/// Why a write failed. Messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum MaterialError {
    /// No credential with that name.
    #[error("OAuth2 client credentials '{0}' do not exist.")]
    NotFound(String),
    /// The store refused or failed (conflicts included).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The secret could not be sealed (details are in the log).
    #[error("the client secret could not be encrypted")]
    Seal,
}

/// Associated data of a sealed client secret: binds it to its credential's id and version.
pub fn secret_aad(id: &str, version: i64) -> Vec<u8> {
    format!("secmat|credentials|{id}|ClientSecret|v{version}").into_bytes()
}

fn seal_record(
    state: &AppState,
    user: &str,
    id: String,
    version: i64,
    new: NewCredential,
) -> Result<CredentialRecord, MaterialError> {
    let sealed = state
        .keyring
        .seal(
            new.client_secret.expose_secret().as_bytes(),
            &secret_aad(&id, version),
        )
        .map_err(|e| {
            tracing::error!(error = %e, "could not seal a client secret");
            MaterialError::Seal
        })?;
    Ok(CredentialRecord {
        id,
        version,
        spec: new.spec,
        sealed_secret: sealed,
        status: STATUS_DEPLOYED.to_owned(),
        deployed_by: user.to_owned(),
        deployed_on: state.clock.now_millis(),
    })
}

fn new_id() -> Result<String, MaterialError> {
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw).map_err(|_| MaterialError::Seal)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Stores and deploys a new credential on behalf of `user`.
pub async fn create(state: &AppState, user: &str, new: NewCredential) -> Result<(), MaterialError> {
    let name = new.spec.name.clone();
    let record = seal_record(state, user, new_id()?, 1, new)?;
    state.store.create_credential(&record).await?;
    state.tokens.forget(&name, None);
    tracing::info!(credential = %name, user, "credential created and deployed");
    Ok(())
}

/// Replaces the credential `new.spec.name` (a new version: its tokens are evicted at once).
pub async fn replace(
    state: &AppState,
    user: &str,
    new: NewCredential,
) -> Result<(), MaterialError> {
    let name = new.spec.name.clone();
    let current = state
        .store
        .get_credential(&name)
        .await?
        .ok_or_else(|| MaterialError::NotFound(name.clone()))?;
    let record = seal_record(state, user, current.id, current.version + 1, new)?;
    state.store.update_credential(&record).await?;
    state.tokens.forget(&name, Some(&record.id));
    tracing::info!(credential = %name, user, version = record.version, "credential edited and deployed");
    Ok(())
}

/// Deletes a credential; its tokens are evicted at once.
pub async fn delete(state: &AppState, user: &str, name: &str) -> Result<(), MaterialError> {
    let current = state
        .store
        .get_credential(name)
        .await?
        .ok_or_else(|| MaterialError::NotFound(name.to_owned()))?;
    if !state.store.delete_credential(name).await? {
        return Err(MaterialError::NotFound(name.to_owned()));
    }
    state.tokens.forget(name, Some(&current.id));
    tracing::info!(credential = %name, user, "credential deleted");
    Ok(())
}
