//! Listing and counting: order, keyset and offset pages, search, and long walks — for
//! credentials and channels alike.

use secmat_store::{ListQuery, Store};

use super::{channel, channel_names, minimal_record, names};

/// Names that exercise byte order, case and non-ASCII folding.
const AWKWARD_ORDER: [&str; 16] = [
    "b", "B", "a", "A", "_x", "ä", "Ä", "a-b", "Zeta", "zeta", "0", "ab", "AB", "aB", "é", "~",
];

/// What `list_credentials` must return, computed in Rust (byte order, ASCII-only folding).
fn model(all: &[String], q: &ListQuery) -> Vec<String> {
    all.iter()
        .filter(|n| q.after.as_ref().is_none_or(|a| n.as_str() > a.as_str()))
        .filter(|n| {
            q.name_contains
                .as_ref()
                .is_none_or(|t| n.to_ascii_lowercase().contains(&t.to_ascii_lowercase()))
        })
        .skip(q.offset as usize)
        .take(q.limit as usize)
        .cloned()
        .collect()
}

pub async fn listing_matches_a_model_of_every_query(store: &dyn Store) {
    for name in AWKWARD_ORDER {
        store
            .create_credential(&minimal_record(name))
            .await
            .unwrap();
    }
    check_every_query(
        async |q: &ListQuery| names(&store.list_credentials(q).await.unwrap()),
        async |text: Option<&str>| store.count_credentials(text).await.unwrap(),
    )
    .await;
}

pub async fn channel_listing_matches_a_model_of_every_query(store: &dyn Store) {
    for name in AWKWARD_ORDER {
        store.create_channel(&channel(name, "cred")).await.unwrap();
    }
    // Credentials with other names must not leak into channel listings (and vice versa).
    store
        .create_credential(&minimal_record("a-credential"))
        .await
        .unwrap();
    check_every_query(
        async |q: &ListQuery| channel_names(&store.list_channels(q).await.unwrap()),
        async |text: Option<&str>| store.count_channels(text).await.unwrap(),
    )
    .await;
    assert_eq!(store.count_credentials(None).await.unwrap(), 1);
}

/// Lists and counts [`AWKWARD_ORDER`] (already stored) with every combination of `after`,
/// `name_contains`, `offset` and `limit`, against [`model`].
async fn check_every_query(
    list: impl AsyncFn(&ListQuery) -> Vec<String>,
    count: impl AsyncFn(Option<&str>) -> u64,
) {
    let mut all: Vec<String> = AWKWARD_ORDER.iter().map(|s| (*s).to_owned()).collect();
    all.sort(); // Rust's String order is byte order
    let everything = list(&ListQuery {
        limit: 1000,
        ..ListQuery::default()
    })
    .await;
    assert_eq!(everything, all);

    let mut afters: Vec<Option<String>> = all.iter().cloned().map(Some).collect();
    afters.extend([
        None,
        Some(String::new()),
        Some("Y".to_owned()),
        Some("a0".to_owned()),
        Some("\u{10FFFF}".to_owned()),
    ]);
    let contains = [
        None,
        Some("a"),
        Some("A"),
        Some("Ab"),
        Some("z"),
        Some("_"),
        Some("ä"),
        Some("Ä"),
        Some("nothing"),
    ];
    for after in &afters {
        for text in contains {
            for offset in [0, 1, 3, 100] {
                for limit in [0, 1, 4, 100] {
                    let q = ListQuery {
                        after: after.clone(),
                        offset,
                        limit,
                        name_contains: text.map(str::to_owned),
                    };
                    let got = list(&q).await;
                    assert_eq!(got, model(&all, &q), "{q:?}");
                }
            }
        }
    }
    for text in contains {
        let expected = model(
            &all,
            &ListQuery {
                limit: u32::MAX,
                name_contains: text.map(str::to_owned),
                ..ListQuery::default()
            },
        );
        assert_eq!(count(text).await, expected.len() as u64, "{text:?}");
    }
    // A huge offset is an empty page, not an error.
    let q = ListQuery {
        offset: u64::MAX,
        limit: 10,
        ..ListQuery::default()
    };
    assert!(list(&q).await.is_empty());
}

pub async fn pagination_walks_1000_credentials_exactly_once(store: &dyn Store) {
    let mut all = Vec::new();
    for i in 0..1000u32 {
        // Scrambled creation order, mixed case.
        let k = (i * 7919) % 1000;
        let name = if k % 3 == 0 {
            format!("Cred-{k:04}")
        } else {
            format!("cred-{k:04}")
        };
        store
            .create_credential(&minimal_record(&name))
            .await
            .unwrap();
        all.push(name);
    }
    all.sort();
    assert_eq!(store.count_credentials(None).await.unwrap(), 1000);

    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_credentials(&ListQuery {
                after: after.clone(),
                limit: 37,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.spec.name.clone());
        walked.extend(names(&page));
    }
    assert_eq!(walked, all, "keyset walk");

    let mut walked = Vec::new();
    for offset in (0..1000).step_by(100) {
        let page = store
            .list_credentials(&ListQuery {
                offset,
                limit: 100,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        walked.extend(names(&page));
    }
    assert_eq!(walked, all, "offset walk");

    let upper: Vec<String> = all.iter().filter(|n| n.contains("-00")).cloned().collect();
    assert_eq!(
        store.count_credentials(Some("-00")).await.unwrap(),
        upper.len() as u64
    );
}

pub async fn pagination_walks_300_channels_exactly_once(store: &dyn Store) {
    let mut all = Vec::new();
    for i in 0..300u32 {
        let k = (i * 7919) % 300;
        let name = if k % 3 == 0 {
            format!("Chan-{k:03}")
        } else {
            format!("chan-{k:03}")
        };
        store.create_channel(&channel(&name, "cred")).await.unwrap();
        all.push(name);
    }
    all.sort();
    assert_eq!(store.count_channels(None).await.unwrap(), 300);

    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_channels(&ListQuery {
                after: after.clone(),
                limit: 37,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.spec.name.clone());
        walked.extend(channel_names(&page));
    }
    assert_eq!(walked, all, "keyset walk");

    let mut walked = Vec::new();
    for offset in (0..300).step_by(50) {
        let page = store
            .list_channels(&ListQuery {
                offset,
                limit: 50,
                ..ListQuery::default()
            })
            .await
            .unwrap();
        walked.extend(channel_names(&page));
    }
    assert_eq!(walked, all, "offset walk");

    // Case-insensitive: both `Chan-0…` and `chan-0…`.
    let chan: Vec<&String> = all
        .iter()
        .filter(|n| n.to_ascii_lowercase().contains("chan-0"))
        .collect();
    assert_eq!(
        store.count_channels(Some("CHAN-0")).await.unwrap(),
        chan.len() as u64
    );
}
