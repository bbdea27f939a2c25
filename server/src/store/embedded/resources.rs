//! API resources in the embedded store: a table by id and a unique index by identifier.

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable};
use uuid::Uuid;

use super::{EmbeddedStore, RESOURCE_IDENTIFIERS, RESOURCES, db_err, decode, encode};
use crate::domain::ApiResource;
use crate::store::{Conflict, ResourceStore, StoreError, StoreResult};

#[async_trait]
impl ResourceStore for EmbeddedStore {
    async fn insert_resource(&self, resource: &ApiResource) -> StoreResult<()> {
        let resource = resource.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut by_identifier = txn.open_table(RESOURCE_IDENTIFIERS).map_err(db_err)?;
                if by_identifier
                    .get(resource.identifier.as_str())
                    .map_err(db_err)?
                    .is_some()
                {
                    return Err(StoreError::Conflict(Conflict::ResourceIdentifier));
                }
                let id = resource.id.to_string();
                by_identifier
                    .insert(resource.identifier.as_str(), id.as_str())
                    .map_err(db_err)?;
                let mut resources = txn.open_table(RESOURCES).map_err(db_err)?;
                resources
                    .insert(id.as_str(), encode(&resource)?.as_slice())
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn get_resource(&self, id: Uuid) -> StoreResult<Option<ApiResource>> {
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let resources = txn.open_table(RESOURCES).map_err(db_err)?;
            let row = resources.get(id.to_string().as_str()).map_err(db_err)?;
            row.map(|b| decode(b.value())).transpose()
        })
        .await
    }

    async fn find_resource(&self, identifier: &str) -> StoreResult<Option<ApiResource>> {
        let identifier = identifier.to_owned();
        self.run(move |db| {
            let txn = db.begin_read().map_err(db_err)?;
            let by_identifier = txn.open_table(RESOURCE_IDENTIFIERS).map_err(db_err)?;
            let Some(id) = by_identifier.get(identifier.as_str()).map_err(db_err)? else {
                return Ok(None);
            };
            let resources = txn.open_table(RESOURCES).map_err(db_err)?;
            let row = resources.get(id.value()).map_err(db_err)?;
            row.map(|b| decode(b.value())).transpose()
        })
        .await
    }

    async fn list_resources(&self) -> StoreResult<Vec<ApiResource>> {
        self.run(|db| {
            let txn = db.begin_read().map_err(db_err)?;
            let resources = txn.open_table(RESOURCES).map_err(db_err)?;
            let mut out: Vec<ApiResource> = Vec::new();
            for row in resources.iter().map_err(db_err)? {
                let (_, bytes) = row.map_err(db_err)?;
                out.push(decode(bytes.value())?);
            }
            out.sort_by_key(|r| (r.created_at, r.id));
            Ok(out)
        })
        .await
    }

    async fn replace_resource(&self, resource: &ApiResource) -> StoreResult<bool> {
        let resource = resource.clone();
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let replaced = {
                let mut resources = txn.open_table(RESOURCES).map_err(db_err)?;
                let id = resource.id.to_string();
                let existing: Option<ApiResource> =
                    match resources.get(id.as_str()).map_err(db_err)? {
                        Some(bytes) => Some(decode(bytes.value())?),
                        None => None,
                    };
                match existing {
                    Some(old) => {
                        let kept = ApiResource {
                            identifier: old.identifier,
                            ..resource
                        };
                        resources
                            .insert(id.as_str(), encode(&kept)?.as_slice())
                            .map_err(db_err)?;
                        true
                    }
                    None => false,
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(replaced)
        })
        .await
    }

    async fn delete_resource(&self, id: Uuid) -> StoreResult<bool> {
        self.run(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let deleted = {
                let mut resources = txn.open_table(RESOURCES).map_err(db_err)?;
                let removed: Option<ApiResource> =
                    match resources.remove(id.to_string().as_str()).map_err(db_err)? {
                        Some(bytes) => Some(decode(bytes.value())?),
                        None => None,
                    };
                if let Some(resource) = &removed {
                    txn.open_table(RESOURCE_IDENTIFIERS)
                        .map_err(db_err)?
                        .remove(resource.identifier.as_str())
                        .map_err(db_err)?;
                }
                removed.is_some()
            };
            txn.commit().map_err(db_err)?;
            Ok(deleted)
        })
        .await
    }
}
