//! Blobs: content-addressed rows, deduplicated with `ON CONFLICT DO NOTHING`.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use deadpool_postgres::GenericClient;

use super::{Postgres, col, db_error, exec, query_opt};
use crate::blob::{BlobId, BlobStore};
use crate::error::Result;

/// Deletes every blob that no message or queue entry references.
pub(super) const COLLECT_SQL: &str = "DELETE FROM blobs b
     WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.blob = b.id)
       AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob = b.id)";

/// Stores `data` under its hash inside `tx` (which must hold the shared blob lock if the blob
/// is to be referenced).
pub(super) async fn insert_blob<C: GenericClient>(tx: &C, data: &[u8]) -> Result<BlobId> {
    let id = BlobId::of(data);
    let size = data.len() as i64;
    exec(
        tx,
        "INSERT INTO blobs (id, data, size) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &[&&id.0[..], &data, &size],
    )
    .await?;
    Ok(id)
}

#[async_trait]
impl BlobStore for Postgres {
    async fn put_blob(&self, data: Bytes) -> Result<BlobId> {
        let client = self.client().await?;
        insert_blob(&client, &data).await
    }

    async fn get_blob(&self, id: &BlobId) -> Result<Option<Bytes>> {
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT data FROM blobs WHERE id = $1",
            &[&&id.0[..]],
        )
        .await?;
        row.map(|r| col::<Vec<u8>>(&r, 0).map(Bytes::from))
            .transpose()
    }

    async fn get_blob_range(&self, id: &BlobId, range: Range<u64>) -> Result<Option<Bytes>> {
        // substring() counts from 1 and takes 32-bit arguments; bytea values are < 1 GiB.
        let start = i32::try_from(range.start).unwrap_or(i32::MAX - 1);
        let len = i32::try_from(range.end.saturating_sub(range.start)).unwrap_or(i32::MAX);
        let client = self.client().await?;
        let row = query_opt(
            &client,
            "SELECT substring(data from $2 for $3) FROM blobs WHERE id = $1",
            &[&&id.0[..], &(start + 1), &len],
        )
        .await?;
        row.map(|r| col::<Vec<u8>>(&r, 0).map(Bytes::from))
            .transpose()
    }

    async fn collect_garbage(&self) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        self.lock_blobs_exclusive(&tx).await?;
        let n = exec(&tx, COLLECT_SQL, &[]).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(n)
    }
}
