//! Users and their generation counter; migrations, restarts and durability.

use secmat_store::{Store, UserRecord};

use super::{full_record, minimal_record};
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
    first.put_user(&user("kept", &[])).await.unwrap();
    let generation = first.users_generation().await.unwrap();
    // Opening again (with the first store still open, as a second node would) finds the schema
    // current, changes nothing and sees the same data.
    let second = h.open().await;
    let third = h.open().await;
    for s in [&first, &second, &third] {
        assert!(s.get_credential("kept").await.unwrap().is_some());
        assert_eq!(s.users_generation().await.unwrap(), generation);
    }
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
    store
        .put_user(&user("durable", &["AccessTokenRead"]))
        .await
        .unwrap();
    // Dropped without a graceful close.
    drop(store);
    let store = h.open().await;
    assert_eq!(store.get_credential("durable").await.unwrap(), Some(r));
    assert!(store.get_user("durable").await.unwrap().is_some());
}
