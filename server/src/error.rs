//! The service layer's errors, each mapped to exactly one TAXII status.

use taxii::status::StatusMessage;
use taxii::StatusType;

/// Why a TAXII request was not served. Every variant becomes one Status_Message.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("bad message: {0}")]
    BadMessage(String),
    #[error("authentication required or failed")]
    Unauthorized,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("denied: {0}")]
    Denied(String),
    #[error("{0} is not handled by this service")]
    UnsupportedMessage(String),
    #[error("none of the requested content bindings is supported")]
    UnsupportedContent,
    #[error("queries are not supported")]
    UnsupportedQuery,
    #[error("result part {asked} does not exist (last is {max})")]
    InvalidResponsePart { asked: u64, max: u64 },
    #[error("no acceptable destination collection")]
    DestinationCollection { acceptable: Vec<String> },
    #[error("internal failure: {0}")]
    Failure(String),
    /// The store's disk is (nearly) full; nothing was written. Logged as an error, sent as
    /// FAILURE with a message saying so.
    #[error("{0}")]
    DiskFull(String),
}

impl ServiceError {
    /// The TAXII status type of this error.
    pub fn status_type(&self) -> StatusType {
        match self {
            ServiceError::BadMessage(_) => StatusType::BadMessage,
            ServiceError::Unauthorized => StatusType::Unauthorized,
            ServiceError::NotFound(_) => StatusType::NotFound,
            ServiceError::Denied(_) => StatusType::Denied,
            ServiceError::UnsupportedMessage(_) => StatusType::UnsupportedMessage,
            ServiceError::UnsupportedContent => StatusType::UnsupportedContent,
            ServiceError::UnsupportedQuery => StatusType::UnsupportedQuery,
            ServiceError::InvalidResponsePart { .. } => StatusType::InvalidResponsePart,
            ServiceError::DestinationCollection { .. } => StatusType::DestinationCollectionError,
            ServiceError::Failure(_) | ServiceError::DiskFull(_) => StatusType::Failure,
        }
    }

    /// The Status_Message answering `in_response_to`, details in `Status_Detail`.
    pub fn to_status(&self, in_response_to: &str) -> StatusMessage {
        let status = StatusMessage::new(in_response_to, self.status_type());
        match self {
            ServiceError::BadMessage(why) => status.with_message(why.clone()),
            ServiceError::Unauthorized => status.with_message("authentication failed or required"),
            ServiceError::NotFound(item) => status
                .detail("ITEM", item.clone())
                .with_message(format!("{item} was not found")),
            ServiceError::Denied(why) => status.with_message(why.clone()),
            ServiceError::UnsupportedMessage(name) => {
                status.with_message(format!("{name} is not handled by this service"))
            }
            ServiceError::UnsupportedContent => {
                let mut s = status;
                for b in taxii::SUPPORTED_BINDINGS {
                    s = s.detail("SUPPORTED_CONTENT", *b);
                }
                s.with_message("none of the requested content bindings is supported")
            }
            ServiceError::UnsupportedQuery => status.with_message("queries are not supported"),
            ServiceError::InvalidResponsePart { max, .. } => status
                .detail("MAX_PART_NUMBER", max.to_string())
                .with_message(self.to_string()),
            ServiceError::DestinationCollection { acceptable } => {
                let mut s = status;
                for c in acceptable {
                    s = s.detail("ACCEPTABLE_DESTINATION", c.clone());
                }
                s.with_message("no acceptable destination collection was named")
            }
            // Internal causes are logged, not sent.
            ServiceError::Failure(_) => {
                status.with_message("the server could not complete the request")
            }
            ServiceError::DiskFull(_) => status.with_message(
                "the server's disk is full: nothing of this message was stored; send it again later",
            ),
        }
    }
}

impl From<store::StoreError> for ServiceError {
    fn from(e: store::StoreError) -> Self {
        match e {
            store::StoreError::DiskFull { .. } => ServiceError::DiskFull(format!("store: {e}")),
            e => ServiceError::Failure(format!("store: {e}")),
        }
    }
}
