//! A crash test: a child process appends with a checkpoint in each batch and is killed
//! mid-stream; the reopened store must hold each batch with its checkpoint or neither.

use crate::test_util::blocks;
use crate::types::MetaPut;
use crate::Store;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DIR_VAR: &str = "STORE_CRASH_TEST_DIR";

/// Append batches until killed (or 20 s pass); each batch records the new total as the
/// checkpoint. Runs only inside the child started by the test below.
#[test]
#[ignore]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let s = Store::open(Path::new(&dir)).unwrap();
    s.ensure_collection("feed").unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    let mut unflushed = 0;
    while started.elapsed() < Duration::from_secs(20) {
        let total = n + 25;
        let meta = MetaPut {
            ns: "checkpoint".into(),
            key: "upstream".into(),
            value: total.to_string().into_bytes(),
        };
        s.append("feed", blocks(n, total), Some(meta)).unwrap();
        n = total;
        unflushed += 1;
        if unflushed == 4 {
            s.flush().unwrap();
            unflushed = 0;
        }
        if n == 500 {
            // Tell the parent that some batches are durable.
            std::fs::write(Path::new(&dir).join("READY"), b"").unwrap();
        }
    }
}

#[test]
fn killed_writer_leaves_blocks_and_checkpoint_together() {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    for round in 0..3u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_tests::crash_child_writer",
                "--ignored",
                "--quiet",
            ])
            .env(DIR_VAR, &store_dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let ready = store_dir.join("READY");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(20 + 37 * round));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(ready.exists(), "child never got going");
        std::fs::remove_file(&ready).unwrap();

        let s = Store::open(&store_dir).unwrap();
        let total = s.total("feed").unwrap();
        let checkpoint = s.meta_get("checkpoint", "upstream").unwrap().unwrap();
        assert_eq!(String::from_utf8(checkpoint).unwrap(), total.to_string());
        let report = s.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        let contents: Vec<Vec<u8>> = s
            .range("feed", None, s.snapshot_end())
            .unwrap()
            .map(|b| b.unwrap().content)
            .collect();
        let want: Vec<Vec<u8>> = blocks(0, total).into_iter().map(|b| b.content).collect();
        assert!(contents == want, "every block's content reads back");
        // Clear the store for the next round; the child starts again from block 0.
        drop(s);
        std::fs::remove_dir_all(&store_dir).unwrap();
    }
}
