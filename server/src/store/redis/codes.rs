//! Short-lived single-use codes in Redis: the value with its expiry, on a key that expires.

use async_trait::async_trait;
use redis::AsyncCommands;
use time::OffsetDateTime;

use super::{RedisStore, millis, redis_err, scripts};
use crate::store::{CodeStore, StoreResult};

/// Stored codes carry their expiry so reads agree with the server's clock, as in every backend.
fn code_value(value: &str, expires_at: OffsetDateTime) -> String {
    format!("{}:{value}", millis(expires_at))
}

fn live_code(stored: Option<String>, now: OffsetDateTime) -> Option<String> {
    let stored = stored?;
    let (expires, value) = stored.split_once(':')?;
    (expires.parse::<i64>().ok()? > millis(now)).then(|| value.to_owned())
}

#[async_trait]
impl CodeStore for RedisStore {
    async fn put_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut conn = self.conn().await?;
        redis::cmd("SET")
            .arg(self.code_key(key))
            .arg(code_value(value, expires_at))
            .arg("PXAT")
            .arg(millis(expires_at).max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_err)
    }

    async fn peek_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let mut conn = self.conn().await?;
        let stored: Option<String> = conn.get(self.code_key(key)).await?;
        Ok(live_code(stored, now))
    }

    async fn take_code(&self, key: &str, now: OffsetDateTime) -> StoreResult<Option<String>> {
        let mut conn = self.conn().await?;
        let stored: Option<String> = redis::cmd("GETDEL")
            .arg(self.code_key(key))
            .query_async(&mut conn)
            .await?;
        Ok(live_code(stored, now))
    }

    async fn put_new_code(
        &self,
        key: &str,
        value: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let stored: i64 = scripts::PUT_NEW_CODE
            .key(self.code_key(key))
            .arg(code_value(value, expires_at))
            .arg(millis(expires_at))
            .arg(millis(now))
            .invoke_async(&mut conn)
            .await?;
        Ok(stored == 1)
    }
}
