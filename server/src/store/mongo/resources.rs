//! API resources in MongoDB: collection `api_resources`, unique index on `identifier`.

use async_trait::async_trait;
use bson::{DateTime, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, IndexModel};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MongoStore, bson_time, collect, is_duplicate_key, mongo_err};
use crate::domain::ApiResource;
use crate::store::{Conflict, ResourceStore, StoreError, StoreResult};

/// A resource as stored: the record under its id, the identifier on top for the index.
#[derive(Debug, Serialize, Deserialize)]
struct ResourceDoc {
    #[serde(rename = "_id")]
    id: String,
    identifier: String,
    created_at: DateTime,
    record: ApiResource,
}

fn resource_doc(resource: &ApiResource) -> ResourceDoc {
    ResourceDoc {
        id: resource.id.to_string(),
        identifier: resource.identifier.clone(),
        created_at: bson_time(resource.created_at),
        record: resource.clone(),
    }
}

impl MongoStore {
    fn resources(&self) -> Collection<ResourceDoc> {
        self.db.collection("api_resources")
    }

    pub(super) async fn prepare_resources(&self) -> StoreResult<()> {
        let unique = IndexModel::builder()
            .keys(doc! { "identifier": 1 })
            .options(
                IndexOptions::builder()
                    .unique(true)
                    .name("uniq_identifier".to_owned())
                    .build(),
            )
            .build();
        self.resources().create_index(unique).await?;
        Ok(())
    }
}

#[async_trait]
impl ResourceStore for MongoStore {
    async fn insert_resource(&self, resource: &ApiResource) -> StoreResult<()> {
        match self.resources().insert_one(resource_doc(resource)).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(StoreError::Conflict(Conflict::ResourceIdentifier))
            }
            Err(e) => Err(mongo_err(e)),
        }
    }

    async fn get_resource(&self, id: Uuid) -> StoreResult<Option<ApiResource>> {
        Ok(self
            .resources()
            .find_one(doc! { "_id": id.to_string() })
            .await?
            .map(|d| d.record))
    }

    async fn find_resource(&self, identifier: &str) -> StoreResult<Option<ApiResource>> {
        Ok(self
            .resources()
            .find_one(doc! { "identifier": identifier })
            .await?
            .map(|d| d.record))
    }

    async fn list_resources(&self) -> StoreResult<Vec<ApiResource>> {
        let docs = self
            .resources()
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await?;
        let docs = collect(docs).await?;
        Ok(docs.into_iter().map(|d| d.record).collect())
    }

    async fn replace_resource(&self, resource: &ApiResource) -> StoreResult<bool> {
        let Some(existing) = self.get_resource(resource.id).await? else {
            return Ok(false);
        };
        let kept = ApiResource {
            identifier: existing.identifier,
            ..resource.clone()
        };
        let replaced = self
            .resources()
            .replace_one(doc! { "_id": kept.id.to_string() }, resource_doc(&kept))
            .await?;
        Ok(replaced.matched_count == 1)
    }

    async fn delete_resource(&self, id: Uuid) -> StoreResult<bool> {
        let deleted = self
            .resources()
            .delete_one(doc! { "_id": id.to_string() })
            .await?;
        Ok(deleted.deleted_count == 1)
    }
}
