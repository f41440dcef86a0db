//! Users and their generation counter; migrations, restarts and durability.

use secmat_store::{Store, UserRecord};

use super::{channel, full_record, minimal_record};
use crate::harness::Harness;

fn user(name: &str, roles: &[&str]) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1${name}$hash"),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    }
}

pub async fn users_round_trip_and_bump_the_generation(store: &dyn Store) {
    assert!(store.list_users().await.unwrap().is_empty());
    let mut seen = vec![store.users_generation().await.unwrap()];
    let mut changed = |g: i64| {
        assert!(!seen.contains(&g), "generation {g} seen before: {seen:?}");
        seen.push(g);
    };

    let admin = user("admin", &["CredentialsEdit", "CredentialsRead"]);
    store.put_user(&admin).await.unwrap();
    changed(store.users_generation().await.unwrap());
    let reader = user("Reader-ü", &[]);
    store.put_user(&reader).await.unwrap();
    changed(store.users_generation().await.unwrap());
    assert_eq!(store.get_user("admin").await.unwrap(), Some(admin.clone()));
    assert_eq!(
        store.get_user("Reader-ü").await.unwrap(),
        Some(reader.clone())
    );
    assert_eq!(store.get_user("ADMIN").await.unwrap(), None);

    // Replacing a user.
    let admin2 = user("admin", &["MonitoringDataRead"]);
    store.put_user(&admin2).await.unwrap();
    changed(store.users_generation().await.unwrap());
    assert_eq!(store.get_user("admin").await.unwrap(), Some(admin2.clone()));
    assert_eq!(
        store.list_users().await.unwrap(),
        vec![reader.clone(), admin2]
    ); // 'R' < 'a'

    // Deleting.
    assert!(store.delete_user("admin").await.unwrap());
    changed(store.users_generation().await.unwrap());
    assert!(!store.delete_user("admin").await.unwrap());
    assert_eq!(store.get_user("admin").await.unwrap(), None);
    assert_eq!(store.list_users().await.unwrap(), vec![reader]);
}

pub async fn credential_writes_leave_the_users_generation_alone(store: &dyn Store) {
    store
        .put_user(&user("u", &["CredentialsRead"]))
        .await
        .unwrap();
    let before = store.users_generation().await.unwrap();
    let mut r = full_record("c");
    store.create_credential(&r).await.unwrap();
    r.version = 2;
    store.update_credential(&r).await.unwrap();
    store.delete_credential("c").await.unwrap();
    assert_eq!(store.users_generation().await.unwrap(), before);
}

pub async fn migrations_are_idempotent(h: &Harness) {
    let first = h.open().await;
    first.create_credential(&full_record("kept")).await.unwrap();
    first
        .create_channel(&channel("kept", "kept"))
        .await
        .unwrap();
    first.put_user(&user("kept", &[])).await.unwrap();
    let generations = [
        first.users_generation().await.unwrap(),
        first.credentials_generation().await.unwrap(),
        first.channels_generation().await.unwrap(),
    ];
    // Opening again (with the first store still open, as a second node would) finds the schema
    // current, changes nothing and sees the same data.
    let second = h.open().await;
    let third = h.open().await;
    for s in [&first, &second, &third] {
        assert!(s.get_credential("kept").await.unwrap().is_some());
        assert!(s.get_channel("kept").await.unwrap().is_some());
        let now = [
            s.users_generation().await.unwrap(),
            s.credentials_generation().await.unwrap(),
            s.channels_generation().await.unwrap(),
        ];
        assert_eq!(now, generations);
    }
}

/// A database at schema version 1 (as secmat before channels left it), with one credential, one
/// user and a known users generation.
const V1_SQLITE: &str = include_str!("../../../migrations/sqlite/0001_init.sql");
const V1_PG: &str = include_str!("../../../migrations/postgres/0001_init.sql");
const V1_BOOKKEEPING: &str = "
CREATE TABLE secmat_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_on BIGINT NOT NULL
);
INSERT INTO secmat_migrations (version, name, applied_on) VALUES (1, 'init', 0);
UPDATE meta SET value = 4242 WHERE key = 'users_generation';
INSERT INTO users (name, password_hash, roles, updated_on)
VALUES ('old-admin', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', '[\"CredentialsEdit\"]', 0);
";
const V1_CREDENTIAL: &str = "
INSERT INTO credentials (name, id, version, description, token_service_url, client_id,
    client_authentication, scope, scope_content_type, resource, audience, grant_type,
    custom_parameters, sealed_secret, status, deployed_by, deployed_on)
VALUES ('from-v1', '0123456789abcdef0123456789abcdef', 3, NULL, 'https://auth.example.com/token',
    'c', 'body', NULL, 'urlencoded', NULL, NULL, 'body', '[]', SECRET, 'DEPLOYED', 'admin', 7);
";

pub async fn upgrading_from_schema_version_1_keeps_everything(h: &Harness) {
    h.raw_sql(
        &format!(
            "{V1_SQLITE};{V1_BOOKKEEPING};{}",
            V1_CREDENTIAL.replace("SECRET", "X'010203'")
        ),
        &format!(
            "{V1_PG};{V1_BOOKKEEPING};{}",
            V1_CREDENTIAL.replace("SECRET", "decode('010203', 'hex')")
        ),
    )
    .await;
    let store = h.open().await;
    let old = store.get_credential("from-v1").await.unwrap().unwrap();
    assert_eq!(old.version, 3);
    assert_eq!(old.sealed_secret.0, vec![1, 2, 3]);
    assert_eq!(store.users_generation().await.unwrap(), 4242);
    assert_eq!(
        store.get_user("old-admin").await.unwrap().unwrap().roles,
        vec!["CredentialsEdit"]
    );
    // The new parts work, and existing credentials can still be edited and listed.
    assert_eq!(store.count_channels(None).await.unwrap(), 0);
    let before = store.credentials_generation().await.unwrap();
    let mut next = old.clone();
    next.version = 4;
    store.update_credential(&next).await.unwrap();
    assert_ne!(store.credentials_generation().await.unwrap(), before);
    store
        .create_channel(&channel("new", "from-v1"))
        .await
        .unwrap();
    drop(store);
    // And a second start finds nothing left to do.
    let store = h.open().await;
    assert_eq!(store.get_credential("from-v1").await.unwrap(), Some(next));
    assert!(store.get_channel("new").await.unwrap().is_some());
    assert_eq!(store.users_generation().await.unwrap(), 4242);
}

pub async fn simultaneous_first_starts_migrate_once(h: &Harness) {
    let (a, b, c, d) = tokio::join!(h.open(), h.open(), h.open(), h.open());
    a.create_credential(&minimal_record("x")).await.unwrap();
    for s in [&a, &b, &c, &d] {
        assert_eq!(s.count_credentials(None).await.unwrap(), 1);
    }
}

pub async fn writes_are_visible_after_reopening(h: &Harness) {
    let store = h.open().await;
    let r = full_record("durable");
    store.create_credential(&r).await.unwrap();
    let c = channel("durable", "${header.X-Credential}");
    store.create_channel(&c).await.unwrap();
    store
        .put_user(&user("durable", &["AccessTokenRead"]))
        .await
        .unwrap();
    // Dropped without a graceful close.
    drop(store);
    let store = h.open().await;
    assert_eq!(store.get_credential("durable").await.unwrap(), Some(r));
    assert_eq!(store.get_channel("durable").await.unwrap(), Some(c));
    assert!(store.get_user("durable").await.unwrap().is_some());
}
