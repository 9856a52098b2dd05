//! Integrity checking and repair (`mailcore-server store check [--repair]`).

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;

/// One problem found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind: `integrity` (database self-check), `foreign-key`, `missing-blob`,
    /// `damaged-blob` (content does not hash to its id), `uid-next` (UIDNEXT not above every
    /// UID), `counter` (HIGHESTMODSEQ below a message's MODSEQ), `orphan-blob`.
    pub kind: String,
    /// Details.
    pub detail: String,
    /// Whether `--repair` fixed it.
    pub repaired: bool,
}

/// The result of a check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// Messages examined.
    pub messages: u64,
    /// Mailboxes examined.
    pub mailboxes: u64,
    /// Problems found.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether damage remains (problems not repaired).
    pub fn is_damaged(&self) -> bool {
        self.problems.iter().any(|p| !p.repaired)
    }
}

/// Store-wide maintenance.
#[async_trait]
pub trait Maintenance: Send + Sync {
    /// Checks that every message's blob is present and byte-correct (its hash matches), that
    /// mailbox counters (UIDNEXT above every UID, HIGHESTMODSEQ at least every MODSEQ) hold, and
    /// that no blob is orphaned. With `repair`, fixes what can be fixed: removes messages
    /// whose blob is missing or damaged, raises counters, collects orphans.
    async fn check(&self, repair: bool) -> Result<CheckReport>;
}
