//! Any text typed into an import list as a value (with or without a type column): never a
//! panic, and an accepted value is already canonical (canonicalising it again changes
//! nothing), so the index keys one spelling per value.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use stix::detect::{canonical, detect, detect_as};

const KIND_NAMES: [&str; 10] = [
    "domain", "url", "ip", "ipv6", "cidr", "md5", "sha1", "sha256", "email", "FileHash-MD5",
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut results = vec![detect(text)];
    results.extend(KIND_NAMES.iter().map(|k| detect_as(k, text)));
    for ind in results.into_iter().flatten() {
        assert_eq!(
            canonical(ind.kind, &ind.value).as_deref(),
            Some(ind.value.as_str()),
            "{text:?} gave {:?} {:?}, which is not canonical",
            ind.kind,
            ind.value
        );
    }
});
