//! Result sets: a poll whose answer spans several parts keeps its window and the part
//! boundaries already served, so every part is stable while new blocks arrive and later
//! parts never rescan earlier ones.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use taxii::Timestamp;

/// Most result sets kept at once; the oldest goes first.
const MAX_RESULT_SETS: usize = 10_000;

/// One multi-part answer.
#[derive(Debug, Clone)]
pub struct ResultSet {
    pub collection: String,
    pub user: String,
    /// Exclusive begin of the whole window.
    pub after: Option<Timestamp>,
    /// Inclusive end (the snapshot).
    pub until: Timestamp,
    /// Content bindings to serve; empty means all.
    pub bindings: Vec<String>,
    /// Blocks in the whole window.
    pub total: u64,
    /// `ends[k]` is the inclusive end label of part k+1.
    pub ends: Vec<Timestamp>,
    /// True once the last part is known.
    pub complete: bool,
    created: Instant,
}

impl ResultSet {
    /// A new result set for the window.
    pub fn new(
        collection: &str,
        user: &str,
        after: Option<Timestamp>,
        until: Timestamp,
        bindings: Vec<String>,
        total: u64,
    ) -> Self {
        ResultSet {
            collection: collection.to_string(),
            user: user.to_string(),
            after,
            until,
            bindings,
            total,
            ends: Vec::new(),
            complete: false,
            created: Instant::now(),
        }
    }

    /// Exclusive start of part `n` (1-based), if the parts before it are known.
    pub fn start_of(&self, n: u64) -> Option<Option<Timestamp>> {
        if n == 1 {
            return Some(self.after);
        }
        self.ends.get((n - 2) as usize).map(|t| Some(*t))
    }
}

/// Result sets by id, expiring after a TTL.
pub struct ResultSets {
    ttl: Duration,
    sets: Mutex<HashMap<String, ResultSet>>,
}

impl ResultSets {
    pub fn new(ttl: Duration) -> Self {
        ResultSets {
            ttl,
            sets: Mutex::new(HashMap::new()),
        }
    }

    /// Keep a result set under a fresh id and return the id.
    pub fn insert(&self, set: ResultSet) -> String {
        let id = taxii::new_message_id(taxii::Version::V11);
        if let Ok(mut sets) = self.sets.lock() {
            let ttl = self.ttl;
            sets.retain(|_, s| s.created.elapsed() < ttl);
            if sets.len() >= MAX_RESULT_SETS {
                if let Some(oldest) = sets
                    .iter()
                    .min_by_key(|(_, s)| s.created)
                    .map(|(k, _)| k.clone())
                {
                    sets.remove(&oldest);
                }
            }
            sets.insert(id.clone(), set);
        }
        id
    }

    /// A copy of a live result set.
    pub fn get(&self, id: &str) -> Option<ResultSet> {
        let sets = self.sets.lock().ok()?;
        sets.get(id)
            .filter(|s| s.created.elapsed() < self.ttl)
            .cloned()
    }

    /// Record what was learnt while serving a part.
    pub fn update(&self, id: &str, f: impl FnOnce(&mut ResultSet)) {
        if let Ok(mut sets) = self.sets.lock() {
            if let Some(s) = sets.get_mut(id) {
                f(s);
            }
        }
    }
}
