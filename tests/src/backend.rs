//! Which storage deployment a test runs on, and the real servers behind it.

use std::time::Duration;

use sigil_server::config::StorageConfig;
use sigil_server::store::{MongoSettings, RedisSettings};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Embedded,
    MongoRedis,
}

impl TestBackend {
    /// `SIGIL_TEST_BACKEND`: `embedded` (default) or `mongo-redis`.
    pub fn from_env() -> Self {
        match std::env::var("SIGIL_TEST_BACKEND").as_deref() {
            Ok("mongo-redis") => Self::MongoRedis,
            Ok("embedded") | Err(_) => Self::Embedded,
            Ok(other) => panic!("SIGIL_TEST_BACKEND={other}: use embedded or mongo-redis"),
        }
    }
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests through scripts/test.sh, which starts Redis and a MongoDB-wire server")
    })
}

/// The shared MongoDB and Redis the test script started (or the developer pointed at).
pub fn service_urls() -> (String, String) {
    (
        required("SIGIL_TEST_MONGODB_URI"),
        required("SIGIL_TEST_REDIS_URL"),
    )
}

/// A MongoDB database and Redis key prefix of the test's own on the given servers.
pub fn isolated_storage(mongo_uri: &str, redis_url: &str) -> StorageConfig {
    let tag = Uuid::new_v4().simple().to_string();
    StorageConfig::External {
        mongo: MongoSettings {
            uri: mongo_uri.to_owned(),
            database: format!("sigil_test_{}", &tag[..16]),
            pool_size: 8,
            audit_retention: Duration::from_secs(90 * 86_400),
        },
        redis: RedisSettings {
            url: redis_url.to_owned(),
            key_prefix: format!("t{}", &tag[..16]),
            pool_size: 16,
        },
        connect_timeout: Duration::from_secs(30),
        cache_ttl: Duration::from_millis(500),
    }
}

/// The environment that makes `sigil` processes replicas of one deployment: a fresh
/// database and key prefix on the test's MongoDB and Redis, and one encryption key.
pub fn replica_env() -> Vec<(&'static str, String)> {
    let (mongo_uri, redis_url) = service_urls();
    let StorageConfig::External { mongo, redis, .. } = isolated_storage(&mongo_uri, &redis_url)
    else {
        unreachable!("isolated_storage is external")
    };
    vec![
        ("SIGIL_MONGODB_URI", mongo.uri),
        ("SIGIL_MONGODB_DB", mongo.database),
        ("SIGIL_REDIS_URL", redis.url),
        ("SIGIL_REDIS_KEY_PREFIX", redis.key_prefix),
        (
            "SIGIL_ENCRYPTION_KEY",
            sigil_server::crypto::Cipher::generate_key().to_string(),
        ),
    ]
}

/// Path of a program the test script located (`SIGIL_TEST_SECANTUSD`, ...).
pub fn program(var: &str) -> String {
    required(var)
}
