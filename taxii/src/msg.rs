//! TAXII messages as plain values.
//!
//! One type covers both versions where the two differ only in names (a 1.0
//! `Feed_Information_Request` is a [`Message::CollectionInformationRequest`] read with
//! [`Version::V10`]); the writer picks element names from the version.

use crate::status::StatusMessage;
use crate::ts::Timestamp;

/// TAXII message binding version, decided by the root element's namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `http://taxii.mitre.org/messages/taxii_xml_binding-1`
    V10,
    /// `http://taxii.mitre.org/messages/taxii_xml_binding-1.1`
    V11,
}

/// A message with the version it was read in or is to be written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub version: Version,
    pub message: Message,
}

/// Every TAXII message we read or write.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    DiscoveryRequest(Header),
    DiscoveryResponse(DiscoveryResponse),
    /// 1.1 `Collection_Information_Request`, 1.0 `Feed_Information_Request`.
    CollectionInformationRequest(Header),
    /// 1.1 `Collection_Information_Response`, 1.0 `Feed_Information_Response`.
    CollectionInformationResponse(CollectionInformationResponse),
    PollRequest(PollRequest),
    PollResponse(PollResponse),
    /// 1.1 only.
    PollFulfillment(PollFulfillment),
    InboxMessage(InboxMessage),
    StatusMessage(StatusMessage),
    /// `Subscription_Management_Request` (a "manage feed subscription" request in 1.0).
    SubscriptionManagementRequest(SubscriptionManagementRequest),
    /// `Subscription_Management_Response` (a "manage feed subscription" response in 1.0).
    SubscriptionManagementResponse(SubscriptionManagementResponse),
}

impl Message {
    /// The message id every message carries.
    pub fn message_id(&self) -> &str {
        &self.header().message_id
    }

    /// The common header (message id, in_response_to, extended headers).
    pub fn header(&self) -> &Header {
        match self {
            Message::DiscoveryRequest(h) | Message::CollectionInformationRequest(h) => h,
            Message::DiscoveryResponse(m) => &m.header,
            Message::CollectionInformationResponse(m) => &m.header,
            Message::PollRequest(m) => &m.header,
            Message::PollResponse(m) => &m.header,
            Message::PollFulfillment(m) => &m.header,
            Message::InboxMessage(m) => &m.header,
            Message::StatusMessage(m) => &m.header,
            Message::SubscriptionManagementRequest(m) => &m.header,
            Message::SubscriptionManagementResponse(m) => &m.header,
        }
    }

    /// The element name of this message in the given version, for logs and errors.
    pub fn name(&self, version: Version) -> &'static str {
        let v10 = version == Version::V10;
        match self {
            Message::DiscoveryRequest(_) => "Discovery_Request",
            Message::DiscoveryResponse(_) => "Discovery_Response",
            Message::CollectionInformationRequest(_) if v10 => "Feed_Information_Request",
            Message::CollectionInformationRequest(_) => "Collection_Information_Request",
            Message::CollectionInformationResponse(_) if v10 => "Feed_Information_Response",
            Message::CollectionInformationResponse(_) => "Collection_Information_Response",
            Message::PollRequest(_) => "Poll_Request",
            Message::PollResponse(_) => "Poll_Response",
            Message::PollFulfillment(_) => "Poll_Fulfillment",
            Message::InboxMessage(_) => "Inbox_Message",
            Message::StatusMessage(_) => "Status_Message",
            // Both versions use the same element names (libtaxii calls the 1.0 classes
            // Manage_Feed_Subscription_*, but the 1.0 schema does not).
            Message::SubscriptionManagementRequest(_) => "Subscription_Management_Request",
            Message::SubscriptionManagementResponse(_) => "Subscription_Management_Response",
        }
    }
}

/// Attributes and children every message has.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub message_id: String,
    /// Empty on requests.
    pub in_response_to: Option<String>,
    /// `Extended_Headers/Extended_Header` (name, text value), kept but not interpreted.
    pub extended_headers: Vec<(String, String)>,
}

impl Header {
    /// A header for a new request.
    pub fn request(message_id: impl Into<String>) -> Self {
        Header {
            message_id: message_id.into(),
            ..Default::default()
        }
    }

    /// A header for a response to `in_response_to`.
    pub fn response(message_id: impl Into<String>, in_response_to: impl Into<String>) -> Self {
        Header {
            message_id: message_id.into(),
            in_response_to: Some(in_response_to.into()),
            extended_headers: Vec::new(),
        }
    }
}

/// TAXII service types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    Discovery,
    /// 1.1 `COLLECTION_MANAGEMENT`, 1.0 `FEED_MANAGEMENT`.
    CollectionManagement,
    Inbox,
    Poll,
}

/// A protocol + message binding address of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceAddress {
    /// e.g. `urn:taxii.mitre.org:protocol:https:1.0`.
    pub protocol_binding: String,
    /// Absolute URL.
    pub address: String,
    /// e.g. `urn:taxii.mitre.org:message:xml:1.1`.
    pub message_bindings: Vec<String>,
}

/// `Service_Instance` of a Discovery_Response.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceInstance {
    pub service_type: ServiceType,
    /// e.g. `urn:taxii.mitre.org:services:1.1`.
    pub service_version: String,
    pub available: Option<bool>,
    pub endpoint: ServiceAddress,
    /// `Supported_Query/@format_id` values.
    pub supported_queries: Vec<String>,
    /// `Content_Binding/@binding_id` (inbox services only).
    pub content_bindings: Vec<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryResponse {
    pub header: Header,
    pub services: Vec<ServiceInstance>,
}

/// DATA_FEED (ordered, timestamp labels) or DATA_SET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionType {
    DataFeed,
    DataSet,
}

/// `Collection` of a Collection_Information_Response (1.0 `Feed`).
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInfo {
    pub name: String,
    pub collection_type: CollectionType,
    pub available: Option<bool>,
    pub description: String,
    /// Number of content blocks, when told (1.1 only).
    pub volume: Option<u64>,
    /// Empty means "all bindings".
    pub content_bindings: Vec<String>,
    pub polling_services: Vec<ServiceAddress>,
    pub subscription_services: Vec<ServiceAddress>,
    pub receiving_inbox_services: Vec<ServiceAddress>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectionInformationResponse {
    pub header: Header,
    pub collections: Vec<CollectionInfo>,
}

/// FULL or COUNT_ONLY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResponseType {
    #[default]
    Full,
    CountOnly,
}

/// `Poll_Parameters` of a Poll_Request or of a subscription.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PollParameters {
    pub allow_asynch: bool,
    pub response_type: ResponseType,
    /// Requested content bindings; empty means "all".
    pub content_bindings: Vec<String>,
    /// `Query/@format_id` when a query was sent (we answer UNSUPPORTED_QUERY).
    pub query_format: Option<String>,
    /// `Delivery_Parameters` present (we do not push).
    pub delivery_requested: bool,
}

/// How the poll is parameterised: by subscription or inline parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum PollBy {
    Subscription(String),
    Parameters(PollParameters),
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollRequest {
    pub header: Header,
    /// 1.1 `@collection_name`, 1.0 `@feed_name`.
    pub collection_name: String,
    pub exclusive_begin: Option<Timestamp>,
    pub inclusive_end: Option<Timestamp>,
    /// 1.1 requires exactly one of the two; 1.0 has only an optional Subscription_ID and
    /// `Content_Binding` children (read into `Parameters`).
    pub by: PollBy,
}

/// `Record_Count` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordCount {
    pub count: u64,
    pub partial: bool,
}

/// One content block. `content` is the exact bytes found between `<Content>` and
/// `</Content>`, never re-serialised.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContentBlock {
    pub binding: String,
    /// `Content_Binding/Subtype/@subtype_id` values.
    pub subtypes: Vec<String>,
    pub content: Vec<u8>,
    /// Namespace declarations in scope at `<Content>` that were declared on its
    /// ancestors, as `(prefix, uri)` with `""` for the default namespace. Written back on
    /// the `Content` element so the content stays well-formed wherever it is served.
    pub ns_context: Vec<(String, String)>,
    pub timestamp_label: Option<Timestamp>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollResponse {
    pub header: Header,
    pub collection_name: String,
    pub more: bool,
    pub result_id: Option<String>,
    pub result_part_number: Option<u64>,
    /// 1.1 `Exclusive_Begin_Timestamp`; 1.0 `Inclusive_Begin_Timestamp`.
    pub begin: Option<Timestamp>,
    pub inclusive_end: Option<Timestamp>,
    pub subscription_id: Option<String>,
    pub message: Option<String>,
    pub record_count: Option<RecordCount>,
    pub blocks: Vec<ContentBlock>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PollFulfillment {
    pub header: Header,
    pub collection_name: String,
    pub result_id: String,
    pub result_part_number: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InboxMessage {
    pub header: Header,
    pub destination_collections: Vec<String>,
    pub message: Option<String>,
    /// `Source_Subscription` present: a push from a subscription we do not track.
    pub source_subscription: Option<String>,
    pub record_count: Option<RecordCount>,
    pub blocks: Vec<ContentBlock>,
}

/// Subscription management actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionAction {
    Subscribe,
    Unsubscribe,
    Status,
    /// 1.1 only.
    Pause,
    /// 1.1 only.
    Resume,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionManagementRequest {
    pub header: Header,
    pub action: SubscriptionAction,
    pub collection_name: String,
    pub subscription_id: Option<String>,
    pub parameters: Option<PollParameters>,
}

/// Subscription state as reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionStatus {
    Active,
    Paused,
    Unsubscribed,
}

/// One `Subscription` of a Subscription_Management_Response.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionInfo {
    pub status: SubscriptionStatus,
    pub subscription_id: String,
    pub parameters: Option<PollParameters>,
    /// Poll services where the subscription can be polled.
    pub poll_instances: Vec<ServiceAddress>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionManagementResponse {
    pub header: Header,
    pub collection_name: String,
    pub message: Option<String>,
    pub subscriptions: Vec<SubscriptionInfo>,
}
