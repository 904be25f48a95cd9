//! Any body read as a TAXII message: the reader never panics, and a message it accepts is
//! written and read back equal (what the server echoes or stores is what it understood).
#![no_main]
#![forbid(unsafe_code)]

use libfuzzer_sys::fuzz_target;
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

/// Small limits, so the fuzzer reaches them quickly.
const LIMITS: Limits = Limits {
    max_depth: 64,
    max_text: 4096,
};

fuzz_target!(|body: &[u8]| {
    let Ok(env) = read_message(body, &LIMITS) else {
        return;
    };
    let written = write_message(&env);
    let back = match read_message(&written, &Limits::default()) {
        Ok(back) => back,
        Err(e) => panic!(
            "a message we read cannot be read back after writing: {e}\n{}",
            String::from_utf8_lossy(&written)
        ),
    };
    assert_eq!(back, as_written(env), "{}", String::from_utf8_lossy(&written));
});
