//! The credentials and channels generations: each moves on every write of its own kind (in the
//! write's transaction), and on nothing else.

use secmat_store::{Store, StoreError, UserRecord};

use super::{channel, full_record, minimal_record};

/// The three generations at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Generations {
    credentials: i64,
    channels: i64,
    users: i64,
}

async fn generations(store: &dyn Store) -> Generations {
    Generations {
        credentials: store.credentials_generation().await.unwrap(),
        channels: store.channels_generation().await.unwrap(),
        users: store.users_generation().await.unwrap(),
    }
}

/// Remembers every value one generation took, to check that each change is to a new value.
struct Seen(Vec<i64>);

impl Seen {
    fn new(first: i64) -> Self {
        Self(vec![first])
    }

    fn last(&self) -> i64 {
        self.0[self.0.len() - 1]
    }

    /// `now` must be a value never seen before.
    fn changed(&mut self, now: i64, what: &str) {
        assert!(
            !self.0.contains(&now),
            "{what}: generation {now} seen before: {:?}",
            self.0
        );
        self.0.push(now);
    }
}

fn user(name: &str) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        roles: vec!["CredentialsEdit".to_owned()],
    }
}

pub async fn credentials_generation_moves_on_every_credential_write(store: &dyn Store) {
    let start = generations(store).await;
    let mut seen = Seen::new(start.credentials);
    let moved = async |seen: &mut Seen, what: &str| {
        let now = generations(store).await;
        seen.changed(now.credentials, what);
        assert_eq!(
            now.channels, start.channels,
            "{what} moved the channels generation"
        );
        assert_eq!(now.users, start.users, "{what} moved the users generation");
    };

    let mut r = full_record("c");
    store.create_credential(&r).await.unwrap();
    moved(&mut seen, "create").await;
    r.version = 2;
    store.update_credential(&r).await.unwrap();
    moved(&mut seen, "update").await;
    r.version = 3;
    r.deployed_by = "someone else".to_owned();
    store.update_credential(&r).await.unwrap();
    moved(&mut seen, "second update").await;
    store.create_credential(&minimal_record("d")).await.unwrap();
    moved(&mut seen, "second create").await;
    assert!(store.delete_credential("c").await.unwrap());
    moved(&mut seen, "delete").await;

    // Writes that change nothing leave it alone.
    let unchanged = seen.last();
    assert!(matches!(
        store.create_credential(&minimal_record("d")).await,
        Err(StoreError::Conflict(_))
    ));
    let mut stale = minimal_record("d");
    stale.version = 5;
    assert!(matches!(
        store.update_credential(&stale).await,
        Err(StoreError::Stale(_))
    ));
    assert!(matches!(
        store.update_credential(&r).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.delete_credential("c").await.unwrap());
    assert_eq!(store.credentials_generation().await.unwrap(), unchanged);

    // Channel and user writes leave it alone.
    let mut c = channel("ch", "d");
    store.create_channel(&c).await.unwrap();
    c.version = 2;
    store.update_channel(&c).await.unwrap();
    assert!(store.delete_channel("ch").await.unwrap());
    store.put_user(&user("u")).await.unwrap();
    assert!(store.delete_user("u").await.unwrap());
    assert_eq!(store.credentials_generation().await.unwrap(), unchanged);
}

pub async fn channels_generation_moves_on_every_channel_write(store: &dyn Store) {
    let start = generations(store).await;
    let mut seen = Seen::new(start.channels);
    let moved = async |seen: &mut Seen, what: &str| {
        let now = generations(store).await;
        seen.changed(now.channels, what);
        assert_eq!(
            now.credentials, start.credentials,
            "{what} moved the credentials generation"
        );
        assert_eq!(now.users, start.users, "{what} moved the users generation");
    };

    let mut c = channel("ch", "${header.X-Credential}");
    store.create_channel(&c).await.unwrap();
    moved(&mut seen, "create").await;
    c.version = 2;
    c.spec.timeout_ms = 5;
    store.update_channel(&c).await.unwrap();
    moved(&mut seen, "update").await;
    c.version = 3;
    store.update_channel(&c).await.unwrap();
    moved(&mut seen, "second update").await;
    store.create_channel(&channel("other", "x")).await.unwrap();
    moved(&mut seen, "second create").await;
    assert!(store.delete_channel("ch").await.unwrap());
    moved(&mut seen, "delete").await;

    // Writes that change nothing leave it alone.
    let unchanged = seen.last();
    assert!(matches!(
        store.create_channel(&channel("other", "y")).await,
        Err(StoreError::Conflict(_))
    ));
    let mut stale = channel("other", "y");
    stale.version = 7;
    assert!(matches!(
        store.update_channel(&stale).await,
        Err(StoreError::Stale(_))
    ));
    c.version = 4;
    assert!(matches!(
        store.update_channel(&c).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(!store.delete_channel("ch").await.unwrap());
    assert_eq!(store.channels_generation().await.unwrap(), unchanged);

    // Credential and user writes leave it alone.
    let mut r = minimal_record("cred");
    store.create_credential(&r).await.unwrap();
    r.version = 2;
    store.update_credential(&r).await.unwrap();
    assert!(store.delete_credential("cred").await.unwrap());
    store.put_user(&user("u")).await.unwrap();
    assert!(store.delete_user("u").await.unwrap());
    assert_eq!(store.channels_generation().await.unwrap(), unchanged);
}

/// Concurrent creates, updates and deletes of the same few names, on as many connections as the
/// pool has: every call ends in its documented result (never a database error such as a
/// deadlock), and afterwards each generation has moved at least once per successful write of
/// its kind.
pub async fn concurrent_writes_bump_their_generations_without_errors(store: &dyn Store) {
    let before = generations(store).await;
    let worker = async |w: u32| -> (u64, u64) {
        let (mut credential_writes, mut channel_writes) = (0, 0);
        for i in 0..24u32 {
            let name = format!("hot-{}", i % 3);
            let ok = match (w + i) % 6 {
                0 => ok_or_expected(store.create_credential(&minimal_record(&name)).await),
                1 => match store.get_credential(&name).await.unwrap() {
                    Some(mut r) => {
                        r.version += 1;
                        ok_or_expected(store.update_credential(&r).await)
                    }
                    None => false,
                },
                2 => store.delete_credential(&name).await.unwrap(),
                3 => ok_or_expected(store.create_channel(&channel(&name, "c")).await),
                4 => match store.get_channel(&name).await.unwrap() {
                    Some(mut c) => {
                        c.version += 1;
                        ok_or_expected(store.update_channel(&c).await)
                    }
                    None => false,
                },
                _ => store.delete_channel(&name).await.unwrap(),
            };
            if ok && (w + i) % 6 < 3 {
                credential_writes += 1;
            } else if ok {
                channel_writes += 1;
            }
        }
        (credential_writes, channel_writes)
    };
    let results = tokio::join!(
        worker(0),
        worker(1),
        worker(2),
        worker(3),
        worker(4),
        worker(5),
        worker(6),
        worker(7)
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ];
    let credential_writes: u64 = results.iter().map(|r| r.0).sum();
    let channel_writes: u64 = results.iter().map(|r| r.1).sum();
    assert!(credential_writes > 0 && channel_writes > 0);
    let after = generations(store).await;
    // Bumped once per write, never lost.
    assert_eq!(
        after.credentials - before.credentials,
        i64::try_from(credential_writes).unwrap()
    );
    assert_eq!(
        after.channels - before.channels,
        i64::try_from(channel_writes).unwrap()
    );
    assert_eq!(after.users, before.users);
}

/// `true` for success, `false` for the outcomes a lost race may have; panics on anything else.
fn ok_or_expected(result: Result<(), StoreError>) -> bool {
    match result {
        Ok(()) => true,
        Err(StoreError::Conflict(_) | StoreError::NotFound(_) | StoreError::Stale(_)) => false,
        Err(e) => panic!("unexpected error under concurrency: {e}"),
    }
}
