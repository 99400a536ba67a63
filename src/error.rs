//! The crate's error type.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    /// A request to the Kubernetes API failed.
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),

    /// An object could not be serialized for a write.
    #[error("could not serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// Leader election is on and this replica may not act now.
    #[error(transparent)]
    NotLeader(#[from] crate::leader::NotLeader),

    /// An order claim changed hands more often than it could be read; tried again later.
    #[error("the claim on order {0} kept changing hands; trying again")]
    ClaimContended(u64),

    /// The ProxyOrder lacks a name, namespace or UID (never the case for stored objects).
    #[error("ProxyOrder is missing metadata.{0}")]
    MissingMetadata(&'static str),
}

impl Error {
    /// A fixed, low-cardinality label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Serialize { .. } => "serialize",
            Error::MissingMetadata(_) => "metadata",
            Error::NotLeader(_) => "not_leader",
            Error::ClaimContended(_) => "claim",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
