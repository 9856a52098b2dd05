//! The store's error type.

/// What went wrong in a store operation, in the caller's terms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The named thing exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The request is not valid (bad name, bad range, …).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A condition failed (e.g. a queue lease is no longer held).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data is damaged; `store check` reports and repairs what it can.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The backend failed (database or file system).
    #[error("storage backend: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether this is [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound(_))
    }

    /// Whether retrying later may succeed (backend trouble), as opposed to a refusal.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Backend(_))
    }
}

/// Result alias of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
