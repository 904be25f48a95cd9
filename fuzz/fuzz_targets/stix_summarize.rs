//! Any content block summarized: never a panic, with and without an enclosing namespace
//! context; an accepted package's observables all carry a value.
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|content: &[u8]| {
    let context = [
        ("stix".to_string(), "http://stix.mitre.org/stix-1".to_string()),
        (String::new(), "http://stix.mitre.org/stix-1".to_string()),
    ];
    for ns in [&[][..], &context[..]] {
        if let Ok(summary) = stix::summarize(content, ns) {
            for o in &summary.observables {
                assert!(!o.value.is_empty(), "empty {:?} observable", o.kind);
            }
        }
    }
});
