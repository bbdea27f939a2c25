//! OAuth clients and consents in the embedded store. Consents are keyed `user id/client id`,
//! so deleting a client finds its consents by suffix.

use async_trait::async_trait;
use redb::ReadableTable;
use time::OffsetDateTime;
use uuid::Uuid;

use super::tables::{CLIENTS, CONSENTS};
use super::{EmbeddedStore, get_json, put_json, scan_json};
use crate::domain::ClientRecord;
use crate::store::{ClientStore, Conflict, StoreError, StoreResult};

fn consent_key(user_id: Uuid, client_id: &str) -> String {
    format!("{user_id}/{client_id}")
}

#[async_trait]
impl ClientStore for EmbeddedStore {
    async fn insert_client(&self, client: &ClientRecord) -> StoreResult<()> {
        let client = client.clone();
        self.write(move |txn| {
            let mut clients = txn.open_table(CLIENTS)?;
            if clients.get(client.client_id.as_str())?.is_some() {
                return Err(StoreError::Conflict(Conflict::Username));
            }
            put_json(&mut clients, &client.client_id, &client)
        })
        .await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let client_id = client_id.to_owned();
        self.read(move |txn| get_json(&txn.open_table(CLIENTS)?, &client_id))
            .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<ClientRecord>> {
        self.scan(|txn| {
            let mut out: Vec<ClientRecord> = scan_json(&txn.open_table(CLIENTS)?)?
                .into_iter()
                .map(|(_, client)| client)
                .collect();
            out.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
            Ok(out)
        })
        .await
    }

    async fn replace_client(&self, client: &ClientRecord) -> StoreResult<bool> {
        let client = client.clone();
        self.write(move |txn| {
            let mut clients = txn.open_table(CLIENTS)?;
            let exists = clients.get(client.client_id.as_str())?.is_some();
            if exists {
                put_json(&mut clients, &client.client_id, &client)?;
            }
            Ok(exists)
        })
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        self.write(move |txn| {
            let deleted = txn
                .open_table(CLIENTS)?
                .remove(client_id.as_str())?
                .is_some();
            let suffix = format!("/{client_id}");
            txn.open_table(CONSENTS)?
                .retain(|key, _| !key.ends_with(&suffix))?;
            Ok(deleted)
        })
        .await
    }

    async fn get_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
    ) -> StoreResult<Option<Vec<String>>> {
        let key = consent_key(user_id, client_id);
        self.read(move |txn| get_json(&txn.open_table(CONSENTS)?, &key))
            .await
    }

    async fn put_consent(
        &self,
        user_id: Uuid,
        client_id: &str,
        scopes: &[String],
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        let key = consent_key(user_id, client_id);
        let scopes = scopes.to_vec();
        self.write(move |txn| put_json(&mut txn.open_table(CONSENTS)?, &key, &scopes))
            .await
    }
}
