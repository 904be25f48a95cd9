//! The store's error type.

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The sled database reported an error (I/O inside sled, corruption sled detected, ...).
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// The store directory is not a store of the format this build reads.
    #[error("store format: {0}")]
    Format(String),
    /// The named collection does not exist.
    #[error("no such collection: {0:?}")]
    NoCollection(String),
    /// A stored record could not be decoded, or the store's own bookkeeping disagrees.
    #[error("corrupt store record: {0}")]
    Corrupt(String),
    /// Another process (a running server) holds the store's database; sled allows one.
    #[error("{0} is in use by another taxii-mirror process (a running server?); stop it first")]
    InUse(String),
    /// A file operation on the store directory failed.
    #[error("store directory i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A collection name the store does not accept (empty, or containing NUL).
    #[error("invalid collection name: {0:?}")]
    InvalidName(String),
    /// The store's file system has too little free space for a write: nothing was written.
    #[error(
        "disk full: {free} bytes free in {dir}, a write of {incoming} bytes must leave {reserve} free"
    )]
    DiskFull {
        dir: String,
        free: u64,
        incoming: u64,
        reserve: u64,
    },
    /// A field too large for the record format (over 4 GiB).
    #[error("value too large to store: {0}")]
    TooLarge(String),
}
