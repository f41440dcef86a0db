//! HTTP receiver channels: round trips, conflicts, optimistic updates and deletes.

use secmat_core::channel::ChannelSpec;
use secmat_store::{ChannelRecord, Store, StoreError};

/// A channel forwarding to a fixed address with the default timeout.
pub fn channel(name: &str, credential_name: &str) -> ChannelRecord {
    ChannelRecord {
        spec: ChannelSpec {
            name: name.to_owned(),
            address: "https://api.example.com/odata/v2".to_owned(),
            credential_name: credential_name.to_owned(),
            timeout_ms: 60_000,
        },
        version: 1,
        modified_by: "admin".to_owned(),
        modified_on: 1_760_000_000_123,
    }
}

pub fn channel_names(records: &[ChannelRecord]) -> Vec<String> {
    records.iter().map(|r| r.spec.name.clone()).collect()
}

pub async fn channels_round_trip(store: &dyn Store) {
    let fixed = channel("sf-api", "SuccessFactors");
    let mut dynamic = channel("dyn.a_b~c", "${header.X-Credential}");
    dynamic.spec.address = "http://[::1]:8080/a%20b/ü/'q'\"d\"".to_owned();
    dynamic.spec.timeout_ms = 1;
    dynamic.modified_by = "Editor-ü 'x'".to_owned();
    dynamic.modified_on = 0;
    let mut odd = channel("odd", "it's \"quoted\" ; -- DROP TABLE channels");
    odd.spec.timeout_ms = i64::MAX as u64;
    odd.modified_on = -1;
    for c in [&fixed, &dynamic, &odd] {
        store.create_channel(c).await.unwrap();
    }
    for c in [&fixed, &dynamic, &odd] {
        assert_eq!(
            store.get_channel(&c.spec.name).await.unwrap().as_ref(),
            Some(c)
        );
    }
    assert_eq!(store.get_channel("missing").await.unwrap(), None);
    // Channels and credentials are separate name spaces.
    assert_eq!(store.get_credential("sf-api").await.unwrap(), None);
    assert_eq!(store.count_credentials(None).await.unwrap(), 0);
    assert_eq!(store.count_channels(None).await.unwrap(), 3);

    // A timeout the database cannot hold is refused, and nothing is stored.
    let mut huge = channel("huge", "c");
    huge.spec.timeout_ms = u64::MAX;
    assert!(store.create_channel(&huge).await.is_err());
    assert_eq!(store.get_channel("huge").await.unwrap(), None);
}

pub async fn channel_names_are_unique_and_case_sensitive(store: &dyn Store) {
    let first = channel("dup", "a");
    store.create_channel(&first).await.unwrap();
    match store.create_channel(&channel("dup", "b")).await {
        Err(StoreError::Conflict(name)) => assert_eq!(name, "dup"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.get_channel("dup").await.unwrap(), Some(first.clone()));
    // A credential of the same name is no conflict.
    store
        .create_credential(&super::minimal_record("dup"))
        .await
        .unwrap();
    let upper = channel("DUP", "c");
    store.create_channel(&upper).await.unwrap();
    assert_eq!(store.get_channel("DUP").await.unwrap(), Some(upper));
    assert_eq!(store.get_channel("Dup").await.unwrap(), None);
    assert!(store.delete_channel("DUP").await.unwrap());
    assert_eq!(store.get_channel("dup").await.unwrap(), Some(first));
    assert_eq!(store.count_channels(None).await.unwrap(), 1);
}

pub async fn channel_update_with_the_next_version_replaces_it(store: &dyn Store) {
    let v1 = channel("edit-me", "a");
    store.create_channel(&v1).await.unwrap();
    let mut v2 = v1.clone();
    v2.version = 2;
    v2.spec.address = "http://other.example:81".to_owned();
    v2.spec.credential_name = "${header.X-Credential}".to_owned();
    v2.spec.timeout_ms = 3_600_000;
    v2.modified_by = "editor".to_owned();
    v2.modified_on = 1_770_000_000_000;
    store.update_channel(&v2).await.unwrap();
    assert_eq!(
        store.get_channel("edit-me").await.unwrap(),
        Some(v2.clone())
    );
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.spec.credential_name = "b".to_owned();
    store.update_channel(&v3).await.unwrap();
    assert_eq!(store.get_channel("edit-me").await.unwrap(), Some(v3));
}

pub async fn channel_update_of_a_missing_name_is_not_found(store: &dyn Store) {
    let mut r = channel("ghost", "a");
    r.version = 2;
    match store.update_channel(&r).await {
        Err(StoreError::NotFound(name)) => assert_eq!(name, "ghost"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // A credential of that name does not make it exist.
    store
        .create_credential(&super::minimal_record("ghost"))
        .await
        .unwrap();
    assert!(matches!(
        store.update_channel(&r).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.get_channel("ghost").await.unwrap(), None);
}

pub async fn channel_update_with_a_wrong_version_is_stale(store: &dyn Store) {
    let v1 = channel("contended", "a");
    store.create_channel(&v1).await.unwrap();
    for version in [1, 3, 0, -1, i64::MIN, i64::MAX] {
        let mut r = channel("contended", "other");
        r.version = version;
        match store.update_channel(&r).await {
            Err(StoreError::Stale(name)) => assert_eq!(name, "contended"),
            other => panic!("expected Stale for version {version}, got {other:?}"),
        }
    }
    assert_eq!(
        store.get_channel("contended").await.unwrap(),
        Some(v1.clone())
    );
    // Two editors who both read v1: the first wins, the second is stale.
    let mut first = v1.clone();
    first.version = 2;
    first.modified_by = "first".to_owned();
    let mut second = first.clone();
    second.modified_by = "second".to_owned();
    store.update_channel(&first).await.unwrap();
    assert!(matches!(
        store.update_channel(&second).await,
        Err(StoreError::Stale(_))
    ));
    assert_eq!(store.get_channel("contended").await.unwrap(), Some(first));
}

pub async fn channel_delete_says_whether_there_was_something(store: &dyn Store) {
    store
        .create_channel(&channel("short-lived", "a"))
        .await
        .unwrap();
    store
        .create_credential(&super::minimal_record("short-lived"))
        .await
        .unwrap();
    assert!(store.delete_channel("short-lived").await.unwrap());
    assert!(!store.delete_channel("short-lived").await.unwrap());
    assert!(!store.delete_channel("never-was").await.unwrap());
    assert_eq!(store.get_channel("short-lived").await.unwrap(), None);
    // Only the channel went.
    assert!(store.get_credential("short-lived").await.unwrap().is_some());
    // The name is free again.
    store
        .create_channel(&channel("short-lived", "b"))
        .await
        .unwrap();
}
