//! Any text read as a timestamp: never a panic; an accepted one prints in the canonical
//! form, which reads back as the same instant and prints the same again.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
use taxii::Timestamp;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [Timestamp::parse(text), Timestamp::parse_assume_utc(text)] {
        let Ok(ts) = parsed else { continue };
        let printed = ts.to_string();
        assert_eq!(printed.len(), 27, "{text:?} printed as {printed:?}");
        let back = Timestamp::parse(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}: {e}"));
        assert_eq!(back, ts, "{text:?} printed as {printed:?}");
        assert_eq!(back.to_string(), printed);
    }
});
