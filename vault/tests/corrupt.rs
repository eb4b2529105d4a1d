//! A kit of damaged vault files, each with its expected outcome (age's testkit is the model).
//!
//! Offsets are those of FORMAT.md: header 0..115 (magic 0..8, version 8..10, vault id 10..26,
//! KDF id 26, memory 27..31, iterations 31..35, parallelism 35..39, salt 39..55, key nonce
//! 55..67, wrapped key 67..115), then frames `len u32 | !len u32 | nonce [12] | ciphertext‖tag`.
//! The kit base is create + put k1 + put k2: frames F0 (empty snapshot) 115..164, F1 164..233,
//! F2 233..294. Every case also checks that open left the file byte-for-byte untouched.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{FAST, PASS, contents, vault_path};
use softkey_vault::{Change, Error, Vault};

const F0: std::ops::Range<usize> = 115..164;
const F1: std::ops::Range<usize> = 164..233;
const F2: std::ops::Range<usize> = 233..294;

/// A small valid vault with two records; returns its bytes.
fn small_vault(path: &Path) -> Vec<u8> {
    let mut v = Vault::create(path, PASS, FAST).unwrap();
    v.put(b"k1", b"value one").unwrap();
    v.put(b"k2", b"2").unwrap();
    drop(v);
    fs::read(path).unwrap()
}

/// Writes `bytes` as the vault, opens it with the right passphrase, and checks that the open
/// did not modify the file (recovery never writes until the next write).
fn open_bytes(path: &Path, bytes: &[u8]) -> Result<Vault, Error> {
    fs::write(path, bytes).unwrap();
    let r = Vault::open(path, PASS);
    assert_eq!(fs::read(path).unwrap(), bytes, "open modified the file");
    r
}

fn keys(v: &Vault) -> Vec<Vec<u8>> {
    contents(v).into_iter().map(|(k, _)| k).collect()
}

#[test]
fn the_unmodified_kit_base_opens() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    assert_eq!(good.len(), F2.end);
    let v = open_bytes(&path, &good).unwrap();
    assert_eq!(v.get(b"k1"), Some(&b"value one"[..]));
    assert_eq!(v.generation(), 3);
    let s = v.stats();
    assert_eq!(
        (s.log_records, s.recovered_tail_bytes, s.file_len),
        (3, 0, 294)
    );
}

#[test]
fn bad_magic_is_not_a_vault() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for i in 0..8 {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        assert!(
            matches!(open_bytes(&path, &bad), Err(Error::NotAVault)),
            "byte {i}"
        );
    }
    let r = open_bytes(&path, b"{\"some\": \"json config that is not a vault\"}");
    assert!(matches!(r, Err(Error::NotAVault)));
    assert!(matches!(
        open_bytes(&path, b"SKBACKUP...."),
        Err(Error::NotAVault)
    ));
}

#[test]
fn unsupported_version_is_reported_with_its_number() {
    let (_dir, path) = vault_path();
    let mut bad = small_vault(&path);
    for v in [0u16, 4, 0x0200, u16::MAX] {
        bad[8..10].copy_from_slice(&v.to_le_bytes());
        let r = open_bytes(&path, &bad);
        assert!(
            matches!(r, Err(Error::UnsupportedVersion(n)) if n == v),
            "{v}: {r:?}"
        );
    }
}

#[test]
fn unknown_kdf_id_is_malformed() {
    let (_dir, path) = vault_path();
    let mut bad = small_vault(&path);
    bad[26] = 2;
    assert!(matches!(open_bytes(&path, &bad), Err(Error::Malformed(_))));
}

#[test]
fn kdf_params_out_of_bounds_are_refused_before_the_kdf_runs() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    // Each of these would take seconds to hours, or terabytes, if the KDF ran.
    let cases: [(u32, u32, u32); 6] = [
        (4 * 1024 * 1024 + 1, 64, 16),
        (u32::MAX, 1, 1),
        (8192, 65, 1),
        (8192, u32::MAX, 1),
        (8192, 1, 17),
        (1024, 1, 1), // too weak is refused as well
    ];
    for (m, t, p) in cases {
        let mut bad = good.clone();
        bad[27..31].copy_from_slice(&m.to_le_bytes());
        bad[31..35].copy_from_slice(&t.to_le_bytes());
        bad[35..39].copy_from_slice(&p.to_le_bytes());
        let start = Instant::now();
        let r = open_bytes(&path, &bad);
        assert!(
            matches!(r, Err(Error::KdfParamsOutOfBounds)),
            "{m} {t} {p}: {r:?}"
        );
        assert!(start.elapsed() < Duration::from_millis(500), "{m} {t} {p}");
    }
}

#[test]
fn every_tampered_header_byte_fails_cleanly() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for i in 0..115 {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        let r = open_bytes(&path, &bad);
        let ok = match i {
            0..8 => matches!(r, Err(Error::NotAVault)),
            // Version 3 reads a slot table where format 2 has its KDF fields.
            8 => matches!(r, Err(Error::UnsupportedVersion(_) | Error::Malformed(_))),
            9 => matches!(r, Err(Error::UnsupportedVersion(_))),
            26 => matches!(r, Err(Error::Malformed(_))),
            // KDF parameters: out of bounds, or in bounds and then a different KEK.
            27..39 => matches!(
                r,
                Err(Error::KdfParamsOutOfBounds | Error::WrongPassphraseOrCorrupt)
            ),
            // Vault id, salt, key nonce, wrapped key: authenticated by the key wrap.
            _ => matches!(r, Err(Error::WrongPassphraseOrCorrupt)),
        };
        assert!(ok, "header byte {i}: {r:?}");
    }
}

#[test]
fn every_flipped_frame_byte_fails_cleanly() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for i in F0.start..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let r = open_bytes(&path, &bad);
            let ok = if (F0.start..F0.start + 8).contains(&i) {
                // The first frame's length or its complement no longer match.
                matches!(r, Err(Error::Corrupt(_)))
            } else if (F1.start..F1.start + 8).contains(&i) || (F2.start..F2.start + 8).contains(&i)
            {
                // Not a frame we wrote: never mistaken for a torn final frame.
                matches!(r, Err(Error::TrailingData))
            } else {
                // Nonce, ciphertext or tag: authentication fails after the key unwrapped.
                matches!(r, Err(Error::Corrupt(_)))
            };
            assert!(ok, "byte {i} mask {mask:#x}: {r:?}");
        }
    }
}

#[test]
fn every_truncation_gives_truncated_or_an_earlier_state() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for len in 0..=good.len() {
        let r = open_bytes(&path, &good[..len]);
        match len {
            // Inside the header or the snapshot: never written that way by us.
            0..164 => assert!(matches!(r, Err(Error::Truncated)), "length {len}: {r:?}"),
            // A torn append: the previous state, tail counted, file untouched.
            164..233 => {
                let v = r.unwrap();
                assert!(v.is_empty(), "{len}");
                assert_eq!(v.stats().recovered_tail_bytes, (len - 164) as u64);
            }
            233..294 => assert_eq!(keys(&r.unwrap()), [b"k1".to_vec()], "{len}"),
            _ => assert_eq!(r.unwrap().len(), 2),
        }
    }
}

#[test]
fn trailing_bytes_are_refused_unless_a_crash_could_have_left_them() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    let with = |extra: &[u8]| {
        let mut b = good.clone();
        b.extend_from_slice(extra);
        b
    };
    // Not a frame: an impossible length field.
    for extra in [&b"garbage"[..], &[0xAA; 4096], &[0xFF, 0xFF, 0xFF, 0x7F, 1]] {
        assert!(matches!(
            open_bytes(&path, &with(extra)),
            Err(Error::TrailingData)
        ));
    }
    // A complete frame that does not authenticate.
    let mut fake = 29u32.to_le_bytes().to_vec();
    fake.extend_from_slice(&(!29u32).to_le_bytes());
    fake.extend_from_slice(&[0x5A; 12 + 29]);
    assert!(matches!(
        open_bytes(&path, &with(&[29, 0, 0, 0, 0, 0, 0, 0])),
        Err(Error::TrailingData)
    ));
    assert!(matches!(
        open_bytes(&path, &with(&fake)),
        Err(Error::Corrupt(_))
    ));
    // What a crash leaves: zeros the file system never filled, a prefix of a frame.
    for extra in [&[0u8; 1][..], &[0; 4096], &[7], &fake[..fake.len() - 1]] {
        let v = open_bytes(&path, &with(extra)).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v.stats().recovered_tail_bytes, extra.len() as u64);
    }
}

#[test]
fn a_final_frame_whose_tag_never_reached_the_disk_is_a_torn_write() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 16..].fill(0);
    let v = open_bytes(&path, &bad).unwrap();
    assert_eq!(keys(&v), [b"k1".to_vec()]);
    assert_eq!(v.stats().recovered_tail_bytes, 61);
    drop(v);
    // Zeroed tag on a frame in the middle is damage, not a crash.
    let mut bad = good;
    bad[F1.end - 16..F1.end].fill(0);
    assert!(matches!(open_bytes(&path, &bad), Err(Error::Corrupt(_))));
}

#[test]
fn reordered_dropped_duplicated_and_foreign_frames_are_corrupt() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    let cat = |parts: &[std::ops::Range<usize>]| {
        let mut b = good[..115].to_vec();
        for p in parts {
            b.extend_from_slice(&good[p.clone()]);
        }
        b
    };
    for (name, file) in [
        ("swapped", cat(&[F0, F2, F1])),
        ("middle dropped", cat(&[F0, F2])),
        ("duplicated", cat(&[F0, F1, F1, F2])),
        ("snapshot dropped", cat(&[F1, F2])),
        ("snapshot repeated", cat(&[F0, F0, F1])),
    ] {
        let r = open_bytes(&path, &file);
        assert!(matches!(r, Err(Error::Corrupt(_))), "{name}: {r:?}");
    }
    // Frames moved under another vault's header (same passphrase): a different vault id and
    // data key.
    let (_dir2, path2) = vault_path();
    let other = small_vault(&path2);
    let mut spliced = other[..115].to_vec();
    spliced.extend_from_slice(&good[115..]);
    assert!(matches!(
        open_bytes(&path, &spliced),
        Err(Error::Corrupt(_))
    ));
}

#[test]
fn a_frame_spliced_in_from_an_older_copy_is_corrupt() {
    let (_dir, path) = vault_path();
    let old = small_vault(&path);
    // Roll back to F0 F1 by truncation (undetectable on its own), then write a different F2.
    let mut v = open_bytes(&path, &old[..F2.start]).unwrap();
    v.put(b"k3", b"other branch").unwrap();
    assert_eq!(v.generation(), 3, "same sequence number as the old F2");
    drop(v);
    let mut branch = fs::read(&path).unwrap();
    assert_eq!(
        branch.len(),
        F2.start + 72,
        "the torn-free file was appended in place"
    );
    branch.extend_from_slice(&old[F2]);
    assert!(matches!(open_bytes(&path, &branch), Err(Error::Corrupt(_))));
}

#[test]
fn an_uncommitted_final_batch_is_discarded() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"kept", b"1").unwrap();
    let before = fs::metadata(&path).unwrap().len() as usize;
    // Two 600 KiB values: one batch of two frames (1 MiB per frame), committed by the second.
    let big = vec![0x42u8; 600 * 1024];
    v.apply(&[Change::Put(b"a", &big), Change::Put(b"b", &big)])
        .unwrap();
    assert_eq!(v.stats().log_records, 4);
    drop(v);
    let full = fs::read(&path).unwrap();
    let first_len = u32::from_le_bytes(full[before..before + 4].try_into().unwrap()) as usize;
    let first_end = before + 20 + first_len;
    assert!(first_end < full.len());
    // The batch's first frame is complete and authentic, but nothing commits it.
    let v = open_bytes(&path, &full[..first_end]).unwrap();
    assert_eq!(keys(&v), [b"kept".to_vec()]);
    assert_eq!(v.stats().recovered_tail_bytes, (first_end - before) as u64);
    drop(v);
    let v = open_bytes(&path, &full).unwrap();
    assert_eq!(v.len(), 3);
}

#[test]
fn an_older_copy_opens_with_its_older_generation() {
    // A software key cannot prevent rollback of its file; it can expose the generation so that
    // a caller holding a second copy of the counter detects it.
    let (_dir, path) = vault_path();
    let old = small_vault(&path);
    let mut v = Vault::open(&path, PASS).unwrap();
    v.put(b"k3", b"later").unwrap();
    let newer = v.generation();
    drop(v);
    let v = open_bytes(&path, &old).unwrap();
    assert!(v.generation() < newer);
    assert_eq!(v.get(b"k3"), None);
}

#[test]
fn a_file_over_the_size_limit_is_refused_without_reading_it() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(4 * 1024 * 1024 * 1024 + 1).unwrap(); // sparse: no disk used
    drop(f);
    let start = Instant::now();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Malformed(_))));
    assert!(start.elapsed() < Duration::from_millis(500));
    fs::write(&path, &good).unwrap();
}

#[test]
fn a_directory_at_the_path_is_an_io_error() {
    let (_dir, path) = vault_path();
    fs::create_dir(&path).unwrap();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Io(_))));
}

#[test]
fn large_files_decrypted_by_two_threads_follow_the_same_rules() {
    // Over 1 MiB: frames are authenticated by two threads; the first problem in file order
    // must still decide.
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    let value = vec![0x33u8; 4000];
    let batch: Vec<Vec<u8>> = (0..400u32)
        .map(|i| format!("key/{i:04}").into_bytes())
        .collect();
    for keys in batch.chunks(20) {
        let changes: Vec<Change<'_>> = keys.iter().map(|k| Change::Put(k, &value)).collect();
        v.apply(&changes).unwrap();
    }
    drop(v);
    let good = fs::read(&path).unwrap();
    assert!(good.len() > 1024 * 1024);
    assert_eq!(open_bytes(&path, &good).unwrap().len(), 400);
    for at in [good.len() / 4, good.len() / 2 + 100, good.len() - 100] {
        let mut bad = good.clone();
        bad[at] ^= 1;
        assert!(
            matches!(open_bytes(&path, &bad), Err(Error::Corrupt(_))),
            "{at}"
        );
    }
    let torn = open_bytes(&path, &good[..good.len() - 100]).unwrap();
    assert_eq!(torn.len(), 380, "the last batch of 20 is dropped");
    drop(torn);
    let mut zero_tag = good.clone();
    let n = zero_tag.len();
    zero_tag[n - 16..].fill(0);
    assert_eq!(open_bytes(&path, &zero_tag).unwrap().len(), 380);
}
