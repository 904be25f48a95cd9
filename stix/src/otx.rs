//! AlienVault OTX: the DirectConnect JSON model and the mapping of one pulse to one STIX 1.2
//! package in the shape OTX's own TAXII service serves.
//!
//! The REST data carries what TAXII drops (expiration, `is_active`), so the mapping skips
//! expired and inactive indicators before they can reach an appliance.

mod lenient;
mod map;
mod model;

#[cfg(test)]
mod tests;

pub use map::{map_indicator, pulse_to_stix, pulse_url, stable_uuid, PulseStix, OTX_PREFIX};
pub use model::{OtxIndicator, Page, Pulse};
