//! secmat-store's integration tests, in one binary.
//!
//! Every behaviour in [`conformance`] is written once and run against both backends by
//! [`both_backends!`]: `sqlite::<name>` on a file in a temporary directory, `pg::<name>` in a
//! fresh schema of the database `SECMAT_TEST_POSTGRES_URL` names (skipped when it is unset).

// Test code: a failed unwrap is a failed test, which is what we want (clippy's
// allow-unwrap-in-tests covers #[test] functions only, not their helpers).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod conformance;
mod harness;
mod sqlite_only;

/// Emits, for every listed behaviour, `sqlite::<name>` and `pg::<name>` tests.
///
/// `store:` behaviours take one open `&dyn Store`; `harness:` behaviours take the
/// [`harness::Harness`] and open stores themselves (to test reopening and concurrent starts).
macro_rules! both_backends {
    (store: [$($s:ident),* $(,)?], harness: [$($h:ident),* $(,)?] $(,)?) => {
        mod sqlite {
            use crate::harness::Harness;
            $(
                #[tokio::test]
                async fn $s() {
                    let h = Harness::sqlite();
                    let store = h.open().await;
                    crate::conformance::$s(&*store).await;
                    drop(store);
                    h.finish().await;
                }
            )*
            $(
                #[tokio::test]
                async fn $h() {
                    let h = Harness::sqlite();
                    crate::conformance::$h(&h).await;
                    h.finish().await;
                }
            )*
        }

        mod pg {
            use crate::harness::Harness;
            $(
                #[tokio::test]
                async fn $s() {
                    let Some(h) = Harness::pg().await else { return };
                    let store = h.open().await;
                    crate::conformance::$s(&*store).await;
                    drop(store);
                    h.finish().await;
                }
            )*
            $(
                #[tokio::test]
                async fn $h() {
                    let Some(h) = Harness::pg().await else { return };
                    crate::conformance::$h(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}

both_backends! {
    store: [
        backend_answers_ping,
        every_field_round_trips,
        awkward_names_round_trip,
        sealed_secret_bytes_round_trip_exactly,
        duplicate_name_is_a_conflict,
        names_are_case_sensitive,
        update_with_the_next_version_replaces_the_record,
        update_of_a_missing_name_is_not_found,
        update_with_a_wrong_version_or_id_is_stale,
        delete_says_whether_there_was_something,
        listing_matches_a_model_of_every_query,
        pagination_walks_1000_credentials_exactly_once,
        users_round_trip_and_bump_the_generation,
        credential_writes_leave_the_users_generation_alone,
        channels_round_trip,
        channel_names_are_unique_and_case_sensitive,
        channel_update_with_the_next_version_replaces_it,
        channel_update_of_a_missing_name_is_not_found,
        channel_update_with_a_wrong_version_is_stale,
        channel_delete_says_whether_there_was_something,
        channel_listing_matches_a_model_of_every_query,
        pagination_walks_300_channels_exactly_once,
        credentials_generation_moves_on_every_credential_write,
        channels_generation_moves_on_every_channel_write,
        concurrent_writes_bump_their_generations_without_errors,
    ],
    harness: [
        migrations_are_idempotent,
        upgrading_from_schema_version_1_keeps_everything,
        simultaneous_first_starts_migrate_once,
        writes_are_visible_after_reopening,
    ],
}
