//! Measures `Vault::open` minus the KDF with 100,000 records of ~100 B key + ~200 B value
//! (the aim: < 100 ms in release), for a compacted snapshot and for an uncompacted log of one
//! frame per record, plus the cost of one durable `put` on the directory's file system.
//!
//! `cargo run --release -p softkey-vault --example open_100k [DIR]` (default: /dev/shm if it
//! exists, so building the 100,000-frame log does not take 100,000 real fsyncs).

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a measurement tool: a panic is a failed run"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use softkey_vault::{Change, KdfParams, Vault};

const RECORDS: u32 = 100_000;
const PASS: &[u8] = b"benchmark passphrase";
/// The KDF is excluded from the figure; keep it small so the runs are quick.
const PARAMS: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};

fn record(i: u32) -> (Vec<u8>, Vec<u8>) {
    // ~100 B key (an RP-id-like prefix and a credential-id-like tail), ~200 B value.
    let mut key = format!("cred/rp-{:04}.example.com/", i % 1000).into_bytes();
    let mut x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    key.extend((key.len()..100).map(|_| next()));
    let value = (0..200).map(|_| next()).collect();
    (key, value)
}

/// Best and median of `runs` opens, minus the KDF time each open reports.
fn measure(path: &Path, runs: usize) -> (Duration, Duration, u64) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let v = Vault::open(path, PASS).unwrap();
            assert_eq!(v.len(), RECORDS as usize);
            let s = v.stats();
            s.open_time - s.kdf_time
        })
        .collect();
    times.sort();
    let frames = Vault::open(path, PASS).unwrap().stats().log_records;
    (times[0], times[runs / 2], frames)
}

fn main() {
    let base = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shm = Path::new("/dev/shm");
            if shm.is_dir() {
                shm.to_path_buf()
            } else {
                std::env::temp_dir()
            }
        });
    let dir = tempfile::tempdir_in(&base).unwrap();

    // One put at a time: the worst a vault grown by single appends gets (compactions run past
    // 2x the snapshot size in bytes, or past N/4 + 4096 frames).
    let log = dir.path().join("log.vault");
    let mut v = Vault::create(&log, PASS, PARAMS).unwrap();
    let started = Instant::now();
    for i in 0..RECORDS {
        let (k, val) = record(i);
        v.put(&k, &val).unwrap();
    }
    let build = started.elapsed();
    let live = v.stats().live_bytes;
    let len = v.stats().file_len;
    drop(v);
    let (best, median, frames) = measure(&log, 7);
    println!(
        "log:      {RECORDS} records, {frames} frames, {:.1} MB file ({:.1} MB live): open minus KDF best {best:?}, median {median:?} (built in {build:?})",
        len as f64 / 1e6,
        live as f64 / 1e6
    );

    // The same records after compaction: ~1 MiB snapshot frames.
    let mut v = Vault::open(&log, PASS).unwrap();
    v.compact().unwrap();
    let len = v.stats().file_len;
    drop(v);
    let (best, median, frames) = measure(&log, 7);
    println!(
        "snapshot: {RECORDS} records, {frames} frames, {:.1} MB file: open minus KDF best {best:?}, median {median:?}",
        len as f64 / 1e6
    );

    // A durable put into the 100k vault on this file system (append + fdatasync).
    let mut v = Vault::open(&log, PASS).unwrap();
    let started = Instant::now();
    for i in 0..100u32 {
        v.apply(&[Change::Put(b"counter", &i.to_le_bytes())])
            .unwrap();
    }
    println!(
        "put:      {:?} per durable put on {}",
        started.elapsed() / 100,
        base.display()
    );
}
