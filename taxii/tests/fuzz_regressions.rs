//! Inputs the `taxii_read` fuzz target once failed on (`fuzz/`), replayed with the same
//! check: the reader answers without panicking, and a message it accepts is written and
//! read back equal. Add a file to `tests/fuzz-regressions/` for every new finding.

use std::path::Path;

use taxii::read::{read_message, Limits};
use taxii::write::write_message;
use taxii::{Envelope, Message, Version, SUPPORTED_BINDINGS};

/// What the writer changes by design: a content block carries one subtype (the schema
/// allows no more), so only the first of several is written; a TAXII 1.0 feed needs a
/// content binding, so an empty list (all bindings) is written as every supported one.
fn as_written(mut env: Envelope) -> Envelope {
    if let (Version::V10, Message::CollectionInformationResponse(m)) =
        (env.version, &mut env.message)
    {
        for c in &mut m.collections {
            if c.content_bindings.is_empty() {
                c.content_bindings = SUPPORTED_BINDINGS.iter().map(|b| b.to_string()).collect();
            }
        }
    }
    let blocks = match &mut env.message {
        Message::InboxMessage(m) => &mut m.blocks,
        Message::PollResponse(m) => &mut m.blocks,
        _ => return env,
    };
    for block in blocks {
        block.subtypes.truncate(1);
    }
    env
}

/// The fuzz target's limits.
const LIMITS: Limits = Limits {
    max_depth: 64,
    max_text: 4096,
};

#[test]
fn every_fuzz_finding_is_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
        let Ok(env) = read_message(&body, &LIMITS) else {
            continue;
        };
        let written = write_message(&env);
        let back = read_message(&written, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: written form unreadable: {e}", path.display()));
        assert_eq!(back, as_written(env), "{}", path.display());
    }
    assert!(seen > 0, "no inputs in {}", dir.display());
}
