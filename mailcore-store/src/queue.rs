//! The outbound queue: messages waiting for remote delivery, with per-recipient state and
//! leases so that several server processes can share one queue.

use async_trait::async_trait;
use mailcore::address::{EmailAddress, ReversePath};
use serde::{Deserialize, Serialize};

use crate::blob::BlobId;
use crate::error::Result;

/// A queue entry's id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueueId(pub i64);

/// Where delivery to one recipient stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RecipientStatus {
    /// Not delivered yet (maybe after temporary failures).
    Pending,
    /// Delivered; the remote reply.
    Delivered(String),
    /// Failed permanently; the reply or reason.
    Failed(String),
}

/// One recipient of a queue entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueRecipient {
    /// The address.
    pub address: EmailAddress,
    /// Its state.
    pub status: RecipientStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last temporary failure, if any.
    pub last_error: Option<String>,
}

/// A message to queue.
#[derive(Clone, Debug)]
pub struct NewQueueEntry {
    /// Envelope sender.
    pub sender: ReversePath,
    /// Recipients.
    pub recipients: Vec<EmailAddress>,
    /// The message.
    pub raw: bytes::Bytes,
    /// When to try first, seconds since the epoch.
    pub next_attempt: i64,
}

/// A queued message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// Id.
    pub id: QueueId,
    /// Envelope sender.
    pub sender: ReversePath,
    /// Recipients with their state.
    pub recipients: Vec<QueueRecipient>,
    /// The message.
    pub blob: BlobId,
    /// Size in bytes.
    pub size: u64,
    /// When it was queued.
    pub created: i64,
    /// When it is due next.
    pub next_attempt: i64,
}

/// The outbound queue.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Queues a message durably.
    async fn enqueue(&self, entry: NewQueueEntry) -> Result<QueueId>;

    /// Leases up to `max` entries due at `now` that nobody holds (or whose lease expired),
    /// for `lease_secs` seconds, to `owner`. Two concurrent callers never get the same entry.
    async fn lease_due(
        &self,
        now: i64,
        owner: &str,
        lease_secs: i64,
        max: usize,
    ) -> Result<Vec<QueueEntry>>;

    /// Saves recipient states and the next attempt time, and releases the lease. Fails with
    /// `Conflict` if the lease is not `owner`'s (someone else leased the entry after this
    /// lease expired); `NotFound` if the entry is gone.
    async fn update_entry(
        &self,
        id: QueueId,
        owner: &str,
        recipients: &[QueueRecipient],
        next_attempt: i64,
    ) -> Result<()>;

    /// Removes an entry (all recipients done). Fails with `Conflict` if `owner` does not
    /// hold the lease.
    async fn remove_entry(&self, id: QueueId, owner: &str) -> Result<()>;

    /// One entry.
    async fn queue_entry(&self, id: QueueId) -> Result<Option<QueueEntry>>;

    /// Every entry, by id.
    async fn list_queue(&self) -> Result<Vec<QueueEntry>>;
}
