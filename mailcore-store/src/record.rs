//! Typed administrative records (settings, departments, member profiles, app passwords,
//! administrators, tokens, invitations, recycle-bin entries) kept as versioned JSON documents.
//!
//! The hot mail path (address resolution, mailboxes, messages) lives in relational tables;
//! everything the administrator layer ([`crate::admin`]) adds on top is a document here, keyed
//! by `(kind, key)` and tagged with its organisation. Every write is a compare-and-swap on the
//! record's version, so several server processes on one PostgreSQL never lose each other's
//! updates: a writer that read version *n* succeeds only if the record is still at *n*.

use async_trait::async_trait;

use crate::directory::OrgId;
use crate::error::Result;

/// A stored record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// The record's kind (its "table"), e.g. `"department"`.
    pub kind: String,
    /// Key, unique within the kind.
    pub key: String,
    /// Owning organisation, for per-organisation listing.
    pub org: Option<OrgId>,
    /// Version, starting at 1 and increased by every write.
    pub version: i64,
    /// The document.
    pub value: serde_json::Value,
}

/// What a write expects to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The record must not exist (create); else `AlreadyExists`.
    Absent,
    /// The record must be at this version (update); else `Conflict`.
    Version(i64),
    /// Whatever is there is replaced.
    Any,
}

/// Document persistence with optimistic concurrency.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// One record.
    async fn get_record(&self, kind: &str, key: &str) -> Result<Option<Record>>;

    /// Writes a record if `expect` holds; returns the new version.
    async fn put_record(
        &self,
        kind: &str,
        key: &str,
        org: Option<OrgId>,
        value: &serde_json::Value,
        expect: Expect,
    ) -> Result<i64>;

    /// Deletes a record; returns whether it existed.
    async fn delete_record(&self, kind: &str, key: &str) -> Result<bool>;

    /// Records of a kind, of one organisation or all, ordered by key.
    async fn list_records(&self, kind: &str, org: Option<OrgId>) -> Result<Vec<Record>>;
}
