//! Status_Message: status types and their details.

use crate::msg::Header;

/// Every TAXII 1.1 status type, spelled as on the wire by [`StatusType::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusType {
    Success,
    Failure,
    BadMessage,
    Denied,
    NotFound,
    Unauthorized,
    UnsupportedMessage,
    UnsupportedContent,
    UnsupportedProtocol,
    UnsupportedQuery,
    InvalidResponsePart,
    DestinationCollectionError,
    Pending,
    Retry,
    NetworkError,
    AsynchronousPollError,
    PollingUnsupported,
}

impl StatusType {
    /// Wire name (e.g. `UNSUPPORTED_MESSAGE`).
    pub fn as_str(self) -> &'static str {
        match self {
            StatusType::Success => "SUCCESS",
            StatusType::Failure => "FAILURE",
            StatusType::BadMessage => "BAD_MESSAGE",
            StatusType::Denied => "DENIED",
            StatusType::NotFound => "NOT_FOUND",
            StatusType::Unauthorized => "UNAUTHORIZED",
            StatusType::UnsupportedMessage => "UNSUPPORTED_MESSAGE",
            StatusType::UnsupportedContent => "UNSUPPORTED_CONTENT",
            StatusType::UnsupportedProtocol => "UNSUPPORTED_PROTOCOL",
            StatusType::UnsupportedQuery => "UNSUPPORTED_QUERY",
            StatusType::InvalidResponsePart => "INVALID_RESPONSE_PART",
            StatusType::DestinationCollectionError => "DESTINATION_COLLECTION_ERROR",
            StatusType::Pending => "PENDING",
            StatusType::Retry => "RETRY",
            StatusType::NetworkError => "NETWORK_ERROR",
            StatusType::AsynchronousPollError => "ASYNCHRONOUS_POLL_ERROR",
            StatusType::PollingUnsupported => "POLLING_UNSUPPORTED",
        }
    }

    /// Parse a wire name. The reader keeps an unknown name as [`StatusType::Failure`] with
    /// the original name in [`StatusMessage::raw_status_type`].
    pub fn parse(s: &str) -> Option<StatusType> {
        const ALL: [StatusType; 17] = [
            StatusType::Success,
            StatusType::Failure,
            StatusType::BadMessage,
            StatusType::Denied,
            StatusType::NotFound,
            StatusType::Unauthorized,
            StatusType::UnsupportedMessage,
            StatusType::UnsupportedContent,
            StatusType::UnsupportedProtocol,
            StatusType::UnsupportedQuery,
            StatusType::InvalidResponsePart,
            StatusType::DestinationCollectionError,
            StatusType::Pending,
            StatusType::Retry,
            StatusType::NetworkError,
            StatusType::AsynchronousPollError,
            StatusType::PollingUnsupported,
        ];
        ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// One status detail. 1.1 writes each as `Status_Detail/Detail[@name]`; 1.0 has a plain
/// `Status_Detail` string, written from the first detail's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusDetail {
    /// e.g. `MAX_PART_NUMBER`, `ITEM`, `ACCEPTABLE_DESTINATION`, `SUPPORTED_CONTENT`.
    pub name: String,
    pub value: String,
}

impl StatusDetail {
    pub fn new(name: &str, value: impl Into<String>) -> Self {
        StatusDetail {
            name: name.to_string(),
            value: value.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusMessage {
    pub header: Header,
    pub status_type: StatusType,
    /// The status type as found on the wire when it was not one we know.
    pub raw_status_type: Option<String>,
    pub details: Vec<StatusDetail>,
    pub message: Option<String>,
}

impl StatusMessage {
    /// A status answering `in_response_to` (use `"0"` when the request could not be read).
    pub fn new(in_response_to: &str, status_type: StatusType) -> Self {
        StatusMessage {
            header: Header::response(crate::new_message_id(crate::Version::V11), in_response_to),
            status_type,
            raw_status_type: None,
            details: Vec::new(),
            message: None,
        }
    }

    /// Add a detail.
    pub fn detail(mut self, name: &str, value: impl Into<String>) -> Self {
        self.details.push(StatusDetail::new(name, value));
        self
    }

    /// Set the human-readable message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }
}
