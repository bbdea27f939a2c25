//! API resources in the embedded store: a table by id and a unique index by identifier.

use async_trait::async_trait;
use redb::ReadableTable;
use uuid::Uuid;

use super::tables::{RESOURCE_IDENTIFIERS, RESOURCES};
use super::{EmbeddedStore, decode, get_json, put_json, scan_json};
use crate::domain::ApiResource;
use crate::store::{Conflict, ResourceStore, StoreError, StoreResult};

#[async_trait]
impl ResourceStore for EmbeddedStore {
    async fn insert_resource(&self, resource: &ApiResource) -> StoreResult<()> {
        let resource = resource.clone();
        self.write(move |txn| {
            let mut by_identifier = txn.open_table(RESOURCE_IDENTIFIERS)?;
            if by_identifier.get(resource.identifier.as_str())?.is_some() {
                return Err(StoreError::Conflict(Conflict::ResourceIdentifier));
            }
            let id = resource.id.to_string();
            by_identifier.insert(resource.identifier.as_str(), id.as_str())?;
            put_json(&mut txn.open_table(RESOURCES)?, &id, &resource)
        })
        .await
    }

    async fn get_resource(&self, id: Uuid) -> StoreResult<Option<ApiResource>> {
        self.read(move |txn| get_json(&txn.open_table(RESOURCES)?, &id.to_string()))
            .await
    }

    async fn find_resource(&self, identifier: &str) -> StoreResult<Option<ApiResource>> {
        let identifier = identifier.to_owned();
        self.read(move |txn| {
            let by_identifier = txn.open_table(RESOURCE_IDENTIFIERS)?;
            let Some(id) = by_identifier.get(identifier.as_str())? else {
                return Ok(None);
            };
            get_json(&txn.open_table(RESOURCES)?, id.value())
        })
        .await
    }

    async fn list_resources(&self) -> StoreResult<Vec<ApiResource>> {
        self.scan(|txn| {
            let mut out: Vec<ApiResource> = scan_json(&txn.open_table(RESOURCES)?)?
                .into_iter()
                .map(|(_, resource)| resource)
                .collect();
            out.sort_by_key(|r| (r.created_at, r.id));
            Ok(out)
        })
        .await
    }

    async fn replace_resource(&self, resource: &ApiResource) -> StoreResult<bool> {
        let resource = resource.clone();
        self.write(move |txn| {
            let mut resources = txn.open_table(RESOURCES)?;
            let id = resource.id.to_string();
            let Some(old) = get_json::<ApiResource>(&resources, &id)? else {
                return Ok(false);
            };
            let kept = ApiResource {
                identifier: old.identifier,
                ..resource.clone()
            };
            put_json(&mut resources, &id, &kept)?;
            Ok(true)
        })
        .await
    }

    async fn delete_resource(&self, id: Uuid) -> StoreResult<bool> {
        self.write(move |txn| {
            let removed = match txn.open_table(RESOURCES)?.remove(id.to_string().as_str())? {
                Some(bytes) => Some(decode::<ApiResource>(bytes.value())?),
                None => None,
            };
            if let Some(resource) = &removed {
                txn.open_table(RESOURCE_IDENTIFIERS)?
                    .remove(resource.identifier.as_str())?;
            }
            Ok(removed.is_some())
        })
        .await
    }
}
