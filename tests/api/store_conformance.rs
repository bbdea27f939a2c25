//! The storage contract (`sigil_server::store::contract`) against every backend:
//! `backends!` runs every case on the embedded store and on MongoDB + Redis.

use sigil_server::config::StorageConfig;
use sigil_server::store::{EmbeddedStore, MongoStore, RedisStore, Stores};

/// Every case runs through the latency decorator, which so forwards every trait method.
fn latency() -> prometheus::HistogramVec {
    prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("conformance_store_seconds", "store latency"),
        &["backend"],
    )
    .unwrap()
}

/// A backend under test and whatever must live as long as it.
struct Backend {
    stores: Stores,
    _guard: Box<dyn std::any::Any + Send>,
}

impl Backend {
    /// MongoDB + Redis from the test script, with a database and key prefix of their own.
    async fn mongo_redis() -> Self {
        let (mongo_uri, redis_url) = sigil_tests::backend::service_urls();
        let StorageConfig::External { mongo, redis, .. } =
            sigil_tests::backend::isolated_storage(&mongo_uri, &redis_url)
        else {
            unreachable!("isolated_storage is external")
        };
        let mongo_store = MongoStore::connect(&mongo).await.unwrap();
        mongo_store.prepare().await.unwrap();
        let redis_store = RedisStore::connect(&redis).unwrap();
        Self {
            stores: Stores::external(mongo_store, redis_store, "test".into()).metered(&latency()),
            _guard: Box::new(()),
        }
    }

    fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("conformance.redb")).unwrap();
        Self {
            stores: Stores::embedded(store).metered(&latency()),
            _guard: Box::new(dir),
        }
    }
}

macro_rules! backends {
    ($($case:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::embedded();
                    sigil_server::store::contract::$case(&backend.stores).await;
                }
            )*
        }
        mod mongo_redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = super::Backend::mongo_redis().await;
                    sigil_server::store::contract::$case(&backend.stores).await;
                }
            )*
        }
    };
}

backends!(
    users_insert_and_find,
    users_unique_case_insensitive,
    users_concurrent_inserts_have_one_winner,
    users_profile_and_password,
    users_lockout,
    sessions_create_get_list,
    sessions_cap_evicts_oldest,
    sessions_rotation_outcomes,
    sessions_rotation_stops_at_the_absolute_end,
    sessions_concurrent_rotation_has_one_winner,
    sessions_concurrent_refreshes_of_one_user_all_succeed,
    sessions_expire,
    sessions_revocation,
    sessions_revoked_with_their_client,
    jti_blocking,
    bearer_state_matches_its_parts,
    keys_insert_and_list,
    keys_generation_race_has_one_winner,
    users_status_unlock_and_devices,
    sessions_touch,
    one_time_tokens,
    one_time_tokens_single_use_under_concurrency,
    audit_events,
    rate_limits,
    rate_limits_count_concurrent_hits,
    users_update_is_atomic,
    users_guarded_update_keeps_an_admin,
    resources_crud,
    codes,
    clients_and_consents,
    users_listing_filters_sort_and_paging,
    counts_and_sweep,
    mail_queue_claims_retries_and_removes,
    mail_queue_concurrent_claims_take_each_mail_once,
);
