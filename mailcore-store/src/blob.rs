//! Content-addressed blobs: message bodies stored once, whatever the number of mailboxes.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::error::{Result, StoreError};

/// The SHA-256 of a blob's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The id of `data`.
    pub fn of(data: &[u8]) -> BlobId {
        BlobId(Sha256::digest(data).into())
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lowercase or uppercase hex.
    pub fn from_hex(s: &str) -> Result<BlobId> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| StoreError::Invalid(format!("blob id {s:?}")))?;
        Ok(BlobId(out))
    }
}

impl serde::Serialize for BlobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for BlobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BlobId::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// Content-addressed, deduplicated blob storage.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `data` durably (idempotent: storing identical bytes again stores nothing new).
    async fn put_blob(&self, data: Bytes) -> Result<BlobId>;

    /// The whole blob, if present.
    async fn get_blob(&self, id: &BlobId) -> Result<Option<Bytes>>;

    /// Part of a blob (the range is clamped to the blob's length), if present.
    async fn get_blob_range(&self, id: &BlobId, range: Range<u64>) -> Result<Option<Bytes>>;

    /// Deletes blobs that no message or queue entry references; returns how many.
    async fn collect_garbage(&self) -> Result<u64>;
}
