//! OAuth clients and consents in MongoDB: collections `oauth_clients` and `consents` (keyed
//! `user id/client id`, indexed by client for deletion).

use async_trait::async_trait;
use bson::{DateTime, doc};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{MongoStore, bson_time, collect, is_duplicate_key, mongo_err};
use crate::domain::ClientRecord;
use crate::store::{ClientStore, Conflict, StoreError, StoreResult};

/// A client as stored: the record under its id.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ClientDoc {
    #[serde(rename = "_id")]
    client_id: String,
    created_at: DateTime,
    record: ClientRecord,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ConsentDoc {
    /// `user id/client id`
    #[serde(rename = "_id")]
    id: String,
    user_id: String,
    client_id: String,
    scopes: Vec<String>,
    granted_at: DateTime,
}
fn client_doc(client: &ClientRecord) -> ClientDoc {
    ClientDoc {
        client_id: client.client_id.clone(),
        created_at: bson_time(client.created_at),
        record: client.clone(),
    }
}
#[async_trait]
impl ClientStore for MongoStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        match self.clients.insert_one(client_doc(client)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(Conflict::Username)),
            Err(e) => Err(mongo_err(e)),
        }
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        Ok(self
            .clients
            .find_one(doc! { "_id": client_id })
            .await?
            .map(|d| d.record))
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let docs = self
            .clients
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?;
        let docs = collect(docs).await?;
        Ok(docs.into_iter().map(|d| d.record).collect())
    }

    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let replaced = self
            .clients
            .replace_one(doc! { "_id": &client.client_id }, client_doc(client))
            .await?;
        Ok(replaced.matched_count == 1)
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let deleted = self.clients.delete_one(doc! { "_id": client_id }).await?;
        self.consents
            .delete_many(doc! { "client_id": client_id })
            .await?;
        Ok(deleted.deleted_count == 1)
    }

    async fn get_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        Ok(self
            .consents
            .find_one(doc! { "_id": format!("{user_id}/{client_id}") })
            .await?
            .map(|d| d.scopes))
    }

    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let id = format!("{user_id}/{client_id}");
        let doc = ConsentDoc {
            id: id.clone(),
            user_id: user_id.to_string(),
            client_id: client_id.to_owned(),
            scopes: scopes.to_vec(),
            granted_at: bson_time(now),
        };
        self.consents
            .replace_one(doc! { "_id": id }, doc)
            .upsert(true)
            .await?;
        Ok(())
    }
}
