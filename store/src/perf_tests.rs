//! Timing checks, ignored by default; run with
//! `cargo test -p store --release -- --ignored --nocapture perf`.

use crate::test_util::Rng;
use crate::types::NewBlock;
use crate::Store;
use std::time::{Duration, Instant};

fn block_4k(rng: &mut Rng, n: u64) -> NewBlock {
    let mut content = Vec::with_capacity(4096);
    while content.len() < 4096 {
        content.extend_from_slice(&rng.below(u64::MAX).to_be_bytes());
    }
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&n.to_be_bytes());
    hash[8..16].copy_from_slice(&rng.below(u64::MAX).to_be_bytes());
    NewBlock {
        binding: "urn:stix.mitre.org:xml:1.1.1".into(),
        subtypes: Vec::new(),
        content,
        ns_context: vec![("stix".into(), "http://stix.mitre.org/stix-1".into())],
        upstream_label: None,
        package_id: Some(format!("example:Package-{n}")),
        indicators: 3,
        source: Some("perf".into()),
        hash,
        title: None,
        indicator_values: Vec::new(),
    }
}

/// CPU time this thread has run, from the scheduler's statistics (Linux); zero elsewhere.
/// Reported beside wall time because the machine is shared with other builds.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map(Duration::from_nanos)
        .unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[test]
#[ignore]
fn perf_append_1000_blocks_of_4k() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("feed").unwrap();
    let mut rng = Rng::new(7);

    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for round in 0..50u64 {
        let batch: Vec<_> = (0..1000)
            .map(|i| block_4k(&mut rng, round * 1000 + i))
            .collect();
        let t = Instant::now();
        let c = thread_cpu();
        let out = s.append("feed", batch, None).unwrap();
        cpu.push(thread_cpu() - c);
        times.push(t.elapsed());
        assert_eq!(out.stored, 1000);
    }
    cpu.sort();
    let t = Instant::now();
    s.flush().unwrap();
    let flush = t.elapsed();
    let first = times[0];
    let last = times[times.len() - 1];
    times.sort();
    println!(
        "append 1000x4KB thread cpu: median {:.1} ms, max {:.1} ms",
        ms(cpu[cpu.len() / 2]),
        ms(cpu[cpu.len() - 1])
    );
    println!(
        "append 1000x4KB wall: first {:.1} ms, median {:.1} ms, max {:.1} ms, last (store at 50k) {:.1} ms; flush {:.1} ms",
        ms(first),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        ms(last),
        ms(flush)
    );

    let end = s.snapshot_end();
    let t = Instant::now();
    let n = s.count("feed", None, end).unwrap();
    let count_time = t.elapsed();
    let t = Instant::now();
    let scanned = s.range("feed", None, end).unwrap().take(1000).count();
    let first_page = t.elapsed();
    let t = Instant::now();
    let bytes: usize = s
        .range("feed", None, end)
        .unwrap()
        .map(|b| b.unwrap().content.len())
        .sum();
    let full = t.elapsed();
    println!(
        "count of {n}: {:.3} ms; first 1000 of range: {:.1} ms; full range ({} MB): {:.0} ms; size on disk {} MB",
        ms(count_time),
        ms(first_page),
        bytes / 1_000_000,
        ms(full),
        s.size_on_disk().unwrap() / 1_000_000
    );
    assert_eq!(scanned, 1000);
}

#[test]
#[ignore]
fn perf_raw_sled_batch() {
    for variant in ["none", "same-tree", "own-tree"] {
        raw_batches(variant);
    }
}

fn raw_batches(variant: &str) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new().path(dir.path()).open().unwrap();
    let tree = db.open_tree("t").unwrap();
    let index = db.open_tree("h").unwrap();
    let mut rng = Rng::new(7);
    let mut cpu = Vec::new();
    for round in 0..50u64 {
        let vals: Vec<Vec<u8>> = (0..1000).map(|i| block_4k(&mut rng, i).content).collect();
        let c = thread_cpu();
        let mut b = sled::Batch::default();
        let mut hb = sled::Batch::default();
        for (i, v) in vals.into_iter().enumerate() {
            b.insert(&(round * 1000 + i as u64).to_be_bytes()[..], v);
            let mut h = [0u8; 37];
            h[0] = b'H';
            h[5..13].copy_from_slice(&rng.below(u64::MAX).to_be_bytes());
            match variant {
                "same-tree" => b.insert(&h[..], &[1u8; 8]),
                "own-tree" => hb.insert(&h[..], &[1u8; 8]),
                _ => {}
            }
        }
        tree.apply_batch(b).unwrap();
        index.apply_batch(hb).unwrap();
        cpu.push(ms(thread_cpu() - c));
    }
    let per10: Vec<String> = cpu
        .chunks(10)
        .map(|c| {
            let mut c = c.to_vec();
            c.sort_by(f64::total_cmp);
            format!("{:.1}", c[5])
        })
        .collect();
    println!("raw batch, hash index {variant}: median cpu ms per 10 rounds {per10:?}");
}

/// A process memory figure from /proc/self/status, in MB (Linux); 0 elsewhere.
fn status_mb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb / 1024)
}

/// Memory of a full read of a large collection: the resident set before and after reading
/// every block of `PERF_BLOCKS` (default 100,000) blocks of 4 KB with OTX-like metadata.
/// `cargo test -p store --release -- --ignored --nocapture perf_full_range_memory`
/// With `PERF_STORE_DIR`, the store is kept there and a second run only reads it, so the
/// figures are those of a process that did nothing else.
#[test]
#[ignore]
fn perf_full_range_memory() {
    let n: u64 = std::env::var("PERF_BLOCKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("PERF_STORE_DIR").map_or(tmp.path().to_path_buf(), Into::into);
    let fill = !dir.join("FORMAT").exists();
    // Namespaces in scope per block (content from an Inbox or Poll envelope carries one or
    // two; 8 is a pessimistic case).
    let ns: usize = std::env::var("PERF_NS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    if fill {
        let s = Store::open(&dir).unwrap();
        s.ensure_collection("feed").unwrap();
        let mut rng = Rng::new(11);
        for round in 0..n.div_ceil(1000) {
            let batch: Vec<_> = (0..1000.min(n - round * 1000))
                .map(|i| {
                    let mut b = block_4k(&mut rng, round * 1000 + i);
                    b.ns_context = (0..ns)
                        .map(|k| (format!("ns{k}"), format!("http://example.com/ns/{k}#")))
                        .collect();
                    b
                })
                .collect();
            s.append("feed", batch, None).unwrap();
        }
        s.flush().unwrap();
    }
    // Reset the peak so it covers the read alone (Linux: "5" clears VmHWM).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let s = Store::open(&dir).unwrap();
    let before = status_mb("VmRSS:");
    let t = Instant::now();
    let mut bytes = 0u64;
    for b in s.range("feed", None, s.snapshot_end()).unwrap() {
        bytes += b.unwrap().content.len() as u64;
    }
    let took = t.elapsed();
    println!(
        "{}full range of {n} blocks ({} MB) in {:.0} ms: RSS {before} MB before, {} MB after, peak {} MB; store {} MB on disk",
        if fill { "after filling: " } else { "" },
        bytes / 1_000_000,
        ms(took),
        status_mb("VmRSS:"),
        status_mb("VmHWM:"),
        s.size_on_disk().unwrap() / 1_000_000
    );
}

/// Resident memory of opening the sled database of a kept store (`PERF_STORE_DIR`) alone,
/// with the cache capacity in `PERF_CACHE_MB`.
#[test]
#[ignore]
fn perf_sled_open_memory() {
    let Some(dir) = std::env::var_os("PERF_STORE_DIR") else {
        return;
    };
    let cache: u64 = std::env::var("PERF_CACHE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let before = status_mb("VmRSS:");
    let db = sled::Config::new()
        .path(std::path::Path::new(&dir).join("db-v1"))
        .cache_capacity(cache << 20)
        .open()
        .unwrap();
    let opened = status_mb("VmRSS:");
    let tree = db.open_tree("store").unwrap();
    let n = tree.iter().keys().count();
    println!(
        "sled cache {cache} MB: RSS {before} MB, {opened} MB after open, {} MB after a key scan of {n} keys",
        status_mb("VmRSS:")
    );
}

/// An OTX-shaped block: about 4 KB of content, a pulse name, and `values` indicators of
/// the kinds a pulse carries (domains, IPv4 addresses, URLs, file hashes).
fn pulse_block(rng: &mut Rng, n: u64, values: usize) -> NewBlock {
    let mut b = block_4k(rng, n);
    b.title = Some(format!("Campaign against sector {} #{n}", n % 7));
    b.source = Some("otx".into());
    b.indicators = values as u32;
    b.indicator_values = (0..values as u64)
        .map(|k| {
            let r = rng.below(u64::MAX);
            match k % 5 {
                0 => (
                    "ipv4".into(),
                    format!("198.51.{}.{}", r % 256, (r >> 8) % 256),
                ),
                1 => ("domain".into(), format!("c2-{n}-{k}.cdn.example")),
                2 => (
                    "url".into(),
                    format!("https://dl-{n}.example.test/gate/{r:016x}.php?id={k}"),
                ),
                3 => ("md5".into(), format!("{r:016x}{:016x}", r.rotate_left(17))),
                _ => (
                    "sha256".into(),
                    format!("{r:016x}{:016x}{:016x}{n:016x}", r ^ 0x55, r.rotate_left(9)),
                ),
            }
        })
        .collect();
    b
}

/// CPU of appending a mirror back-fill's parts: `PERF_PARTS` (default 17) parts of 600
/// OTX-shaped blocks of 4 KB with 12 indicators each, one append per part, as the mirror
/// does. Reports this thread's CPU per part (the append's own work, not sled's background
/// flusher) and wall time. For figures that do not depend on the machine's load, run the
/// test binary under `valgrind --tool=callgrind` with `PERF_PARTS=5` and read the
/// instruction counts.
/// `cargo test -p store --release -- --ignored --nocapture perf_append_parts`
#[test]
#[ignore]
fn perf_append_parts() {
    let parts: u64 = std::env::var("PERF_PARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17);
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    s.ensure_collection("otx").unwrap();
    let mut rng = Rng::new(5);
    let mut cpu = Vec::new();
    let mut wall = Duration::ZERO;
    for part in 0..parts {
        let blocks: Vec<_> = (0..600)
            .map(|i| pulse_block(&mut rng, part * 600 + i, 12))
            .collect();
        let t = Instant::now();
        let c = thread_cpu();
        let out = s.append("otx", blocks, None).unwrap();
        cpu.push(thread_cpu() - c);
        wall += t.elapsed();
        assert_eq!(out.stored, 600);
    }
    let total: Duration = cpu.iter().sum();
    let mut sorted = cpu.clone();
    sorted.sort();
    println!(
        "append of {parts} parts of 600 blocks x 12 indicators: thread cpu {:.0} ms in all, median {:.1} ms per part, max {:.1}; wall {:.0} ms",
        ms(total),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() - 1]),
        ms(wall)
    );
    // Every block is found by one of its values, so the index is complete.
    let hits = s
        .blocks_with_indicator("domain", &format!("c2-{}-1.cdn.example", parts * 600 - 1))
        .unwrap();
    assert_eq!(hits.len(), 1);
}
