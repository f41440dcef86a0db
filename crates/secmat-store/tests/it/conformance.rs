//! The behaviours every [`Store`] must have, each written once for both backends.

use std::sync::atomic::{AtomicU64, Ordering};

use secmat_core::{
    ClientAuthentication, CredentialSpec, CustomParameter, GrantType, ScopeContentType, Sealed,
    SendAsPartOf,
};
use secmat_store::{CredentialRecord, ListQuery, STATUS_DEPLOYED, Store, StoreError};

mod channels;
mod generations;
mod lifecycle;
mod listing;

pub use channels::*;
pub use generations::*;
pub use lifecycle::*;
pub use listing::*;

/// A fresh 32-hex-digit id.
fn new_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{:016x}{:016x}",
        crate::harness::random_u64(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A credential with every optional field set and three custom parameters.
pub fn full_record(name: &str) -> CredentialRecord {
    CredentialRecord {
        id: new_id(),
        version: 1,
        spec: CredentialSpec {
            name: name.to_owned(),
            description: Some("Orders API — «prod» 'quoted' \"double\" \\ / 名前".to_owned()),
            token_service_url: "https://auth.example.com/oauth/token?tenant=a&x=%20".to_owned(),
            client_id: "client-ü-1".to_owned(),
            client_authentication: ClientAuthentication::Header,
            scope: Some("read write".to_owned()),
            scope_content_type: ScopeContentType::Json,
            resource: Some("https://api.example.com/".to_owned()),
            audience: Some("urn:example:audience".to_owned()),
            grant_type: GrantType::Url,
            custom_parameters: vec![
                param("tenant", "acme", SendAsPartOf::Body),
                param("X-Trace", "a\"b'c;--", SendAsPartOf::Header),
                param("lang", "日本語", SendAsPartOf::Url),
            ],
        },
        sealed_secret: Sealed((0..=255u8).collect()),
        status: STATUS_DEPLOYED.to_owned(),
        deployed_by: "admin".to_owned(),
        deployed_on: 1_760_000_000_123,
    }
}

/// A credential with every optional field empty and the defaults.
pub fn minimal_record(name: &str) -> CredentialRecord {
    CredentialRecord {
        id: new_id(),
        version: 1,
        spec: CredentialSpec {
            name: name.to_owned(),
            description: None,
            token_service_url: "https://auth.example.com/token".to_owned(),
            client_id: "c".to_owned(),
            client_authentication: ClientAuthentication::default(),
            scope: None,
            scope_content_type: ScopeContentType::default(),
            resource: None,
            audience: None,
            grant_type: GrantType::default(),
            custom_parameters: vec![],
        },
        sealed_secret: Sealed(vec![1, 2, 3]),
        status: STATUS_DEPLOYED.to_owned(),
        deployed_by: "someone".to_owned(),
        deployed_on: 0,
    }
}

fn param(key: &str, value: &str, send_as_part_of: SendAsPartOf) -> CustomParameter {
    CustomParameter {
        key: key.to_owned(),
        value: value.to_owned(),
        send_as_part_of,
    }
}

pub fn names(records: &[CredentialRecord]) -> Vec<String> {
    records.iter().map(|r| r.spec.name.clone()).collect()
}

pub async fn backend_answers_ping(store: &dyn Store) {
    store.ping().await.unwrap();
    assert!(["sqlite", "postgres"].contains(&store.backend()));
}

pub async fn every_field_round_trips(store: &dyn Store) {
    let full = full_record("orders");
    let minimal = minimal_record("minimal");
    store.create_credential(&full).await.unwrap();
    store.create_credential(&minimal).await.unwrap();
    assert_eq!(store.get_credential("orders").await.unwrap(), Some(full));
    assert_eq!(
        store.get_credential("minimal").await.unwrap(),
        Some(minimal)
    );
    assert_eq!(store.get_credential("missing").await.unwrap(), None);
}

pub async fn awkward_names_round_trip(store: &dyn Store) {
    let awkward = [
        "ünïcødé-名前-🔑",
        "it's \"quoted\"",
        "a/b/c",
        "back\\slash",
        "semi;colon -- DROP TABLE credentials",
        "100%_wild*card?",
        " spaced ",
    ];
    for name in awkward {
        store.create_credential(&full_record(name)).await.unwrap();
    }
    for name in awkward {
        let got = store.get_credential(name).await.unwrap().unwrap();
        assert_eq!(got.spec.name, name);
    }
    let mut expected: Vec<String> = awkward.iter().map(|n| (*n).to_owned()).collect();
    expected.sort();
    let all = store
        .list_credentials(&ListQuery {
            limit: 100,
            ..ListQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(names(&all), expected);
    // LIKE wildcards in the search text are plain characters.
    let q = ListQuery {
        limit: 100,
        name_contains: Some("%_".to_owned()),
        ..ListQuery::default()
    };
    assert_eq!(
        names(&store.list_credentials(&q).await.unwrap()),
        vec!["100%_wild*card?"]
    );
    assert_eq!(store.count_credentials(Some("%")).await.unwrap(), 1);
    assert_eq!(store.count_credentials(Some("_")).await.unwrap(), 1);
}

pub async fn sealed_secret_bytes_round_trip_exactly(store: &dyn Store) {
    let mut big = Vec::with_capacity(65_536);
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..65_536 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        big.push(x as u8);
    }
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 0, 0xff, 0x00, b'\'', b'\\'],
        (0..=255u8).rev().collect(),
        big,
    ];
    for (i, bytes) in cases.iter().enumerate() {
        let mut r = minimal_record(&format!("secret-{i}"));
        r.sealed_secret = Sealed(bytes.clone());
        store.create_credential(&r).await.unwrap();
        let got = store.get_credential(&r.spec.name).await.unwrap().unwrap();
        assert_eq!(got.sealed_secret.0, *bytes, "case {i}");
        // And through an update.
        let mut next = got.clone();
        next.version += 1;
        next.sealed_secret = Sealed(bytes.iter().rev().copied().collect());
        store.update_credential(&next).await.unwrap();
        let got = store.get_credential(&r.spec.name).await.unwrap().unwrap();
        assert_eq!(
            got.sealed_secret, next.sealed_secret,
            "case {i} after update"
        );
    }
}

pub async fn duplicate_name_is_a_conflict(store: &dyn Store) {
    let first = full_record("dup");
    store.create_credential(&first).await.unwrap();
    let second = minimal_record("dup");
    match store.create_credential(&second).await {
        Err(StoreError::Conflict(name)) => assert_eq!(name, "dup"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(store.get_credential("dup").await.unwrap(), Some(first));
    assert_eq!(store.count_credentials(None).await.unwrap(), 1);
}

pub async fn names_are_case_sensitive(store: &dyn Store) {
    let upper = full_record("A");
    let lower = minimal_record("a");
    store.create_credential(&upper).await.unwrap();
    store.create_credential(&lower).await.unwrap();
    assert_eq!(store.get_credential("A").await.unwrap(), Some(upper));
    assert_eq!(
        store.get_credential("a").await.unwrap(),
        Some(lower.clone())
    );
    assert!(store.delete_credential("A").await.unwrap());
    assert_eq!(store.get_credential("A").await.unwrap(), None);
    assert_eq!(store.get_credential("a").await.unwrap(), Some(lower));
}

pub async fn update_with_the_next_version_replaces_the_record(store: &dyn Store) {
    let v1 = minimal_record("edit-me");
    store.create_credential(&v1).await.unwrap();
    let mut v2 = full_record("edit-me");
    v2.id = v1.id.clone();
    v2.version = 2;
    store.update_credential(&v2).await.unwrap();
    assert_eq!(
        store.get_credential("edit-me").await.unwrap(),
        Some(v2.clone())
    );
    let mut v3 = minimal_record("edit-me");
    v3.id = v1.id.clone();
    v3.version = 3;
    v3.deployed_by = "editor".to_owned();
    store.update_credential(&v3).await.unwrap();
    assert_eq!(store.get_credential("edit-me").await.unwrap(), Some(v3));
}

pub async fn update_of_a_missing_name_is_not_found(store: &dyn Store) {
    let mut r = full_record("ghost");
    r.version = 2;
    match store.update_credential(&r).await {
        Err(StoreError::NotFound(name)) => assert_eq!(name, "ghost"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert_eq!(store.get_credential("ghost").await.unwrap(), None);
}

pub async fn update_with_a_wrong_version_or_id_is_stale(store: &dyn Store) {
    let v1 = minimal_record("contended");
    store.create_credential(&v1).await.unwrap();
    let mut attempts = Vec::new();
    for version in [1, 3, 0, -1] {
        let mut r = full_record("contended");
        r.id = v1.id.clone();
        r.version = version;
        attempts.push(r);
    }
    let mut other_id = full_record("contended");
    other_id.version = 2;
    attempts.push(other_id);
    for r in &attempts {
        match store.update_credential(r).await {
            Err(StoreError::Stale(name)) => assert_eq!(name, "contended"),
            other => panic!(
                "expected Stale for version {} id {}, got {other:?}",
                r.version, r.id
            ),
        }
    }
    assert_eq!(
        store.get_credential("contended").await.unwrap(),
        Some(v1.clone())
    );
    // Two editors who both read v1: the first wins, the second is stale.
    let mut first = v1.clone();
    first.version = 2;
    first.deployed_by = "first".to_owned();
    let mut second = first.clone();
    second.deployed_by = "second".to_owned();
    store.update_credential(&first).await.unwrap();
    assert!(matches!(
        store.update_credential(&second).await,
        Err(StoreError::Stale(_))
    ));
    assert_eq!(
        store.get_credential("contended").await.unwrap(),
        Some(first)
    );
}

pub async fn delete_says_whether_there_was_something(store: &dyn Store) {
    store
        .create_credential(&minimal_record("short-lived"))
        .await
        .unwrap();
    assert!(store.delete_credential("short-lived").await.unwrap());
    assert!(!store.delete_credential("short-lived").await.unwrap());
    assert!(!store.delete_credential("never-was").await.unwrap());
    assert_eq!(store.get_credential("short-lived").await.unwrap(), None);
    // The name is free again.
    store
        .create_credential(&minimal_record("short-lived"))
        .await
        .unwrap();
}
