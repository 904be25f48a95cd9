//! Helpers shared by the unit tests.

use crate::store::Store;
use crate::types::NewBlock;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// A clock the test moves by hand.
#[derive(Clone)]
pub(crate) struct TestClock(pub(crate) Arc<AtomicI64>);

impl TestClock {
    pub(crate) fn at(micros: i64) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(micros)))
    }

    pub(crate) fn set(&self, micros: i64) {
        self.0.store(micros, Ordering::SeqCst);
    }
}

/// Open a store whose clock is `clock`.
pub(crate) fn open_clocked(dir: &Path, clock: &TestClock) -> Store {
    let c = clock.0.clone();
    Store::open_with_clock(dir, Arc::new(move || c.load(Ordering::SeqCst))).unwrap()
}

/// A block whose content and hash derive from `n`.
pub(crate) fn block(n: u64) -> NewBlock {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_be_bytes());
    NewBlock {
        binding: "urn:stix.mitre.org:xml:1.1.1".into(),
        subtypes: Vec::new(),
        content: format!("<stix:STIX_Package id=\"example:Package-{n}\"/>").into_bytes(),
        ns_context: vec![("stix".into(), "http://stix.mitre.org/stix-1".into())],
        upstream_label: None,
        package_id: Some(format!("example:Package-{n}")),
        indicators: 1,
        source: Some("test".into()),
        hash,
        title: Some(format!("block {n}")),
        indicator_values: vec![("domain".into(), format!("host{n}.example"))],
    }
}

/// Blocks numbered `from..to`.
pub(crate) fn blocks(from: u64, to: u64) -> Vec<NewBlock> {
    (from..to).map(block).collect()
}

/// A small deterministic generator (xorshift64*), so tests need no extra dependency.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}
