//! Any OTX DirectConnect page: reading it never panics, and every pulse it holds becomes a
//! STIX package that our own reader summarizes to exactly the indicators emitted.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use stix::otx::{pulse_to_stix, Page};
use stix::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<Page>(data) else {
        return;
    };
    // A fixed "now", so expiry decisions do not depend on the clock.
    let now = Timestamp::from_micros(1_767_225_600_000_000);
    for pulse in &page.results {
        let out = pulse_to_stix(pulse, now);
        let summary = stix::summarize(&out.xml, &[]).unwrap_or_else(|e| {
            panic!(
                "package of pulse {:?} is unreadable: {e}\n{}",
                pulse.id,
                String::from_utf8_lossy(&out.xml)
            )
        });
        assert_eq!(summary.observables, out.emitted, "pulse {:?}", pulse.id);
    }
});
