//! A kit of damaged vault files, each with its expected outcome (age's testkit is the model).
//!
//! Offsets are those of FORMAT.md: header 0..99 (magic 0..8, version 8..10, KDF id 10,
//! memory 11..15, iterations 15..19, parallelism 19..23, salt 23..39, key nonce 39..51,
//! wrapped key 51..99), body nonce 99..111, body length 111..115, ciphertext 115.. .

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{FAST, PASS, vault_path};
use softkey_vault::{Error, Vault};

/// A small valid vault with two records; returns its bytes.
fn small_vault(path: &Path) -> Vec<u8> {
    let mut v = Vault::create(path, PASS, FAST).unwrap();
    v.put(b"k1", b"value one").unwrap();
    v.put(b"k2", b"2").unwrap();
    drop(v);
    fs::read(path).unwrap()
}

/// Writes `bytes` as the vault and opens it with the right passphrase.
fn open_bytes(path: &Path, bytes: &[u8]) -> Result<Vault, Error> {
    fs::write(path, bytes).unwrap();
    Vault::open(path, PASS)
}

#[test]
fn the_unmodified_kit_base_opens() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    assert_eq!(good.len(), 115 + 12 + 2 * 8 + 2 + 9 + 2 + 1 + 16);
    let v = open_bytes(&path, &good).unwrap();
    assert_eq!(v.get(b"k1"), Some(&b"value one"[..]));
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
}

#[test]
fn unsupported_version_is_reported_with_its_number() {
    let (_dir, path) = vault_path();
    let mut bad = small_vault(&path);
    bad[8..10].copy_from_slice(&2u16.to_le_bytes());
    assert!(matches!(
        open_bytes(&path, &bad),
        Err(Error::UnsupportedVersion(2))
    ));
    bad[8..10].copy_from_slice(&0x0100u16.to_le_bytes());
    assert!(matches!(
        open_bytes(&path, &bad),
        Err(Error::UnsupportedVersion(256))
    ));
}

#[test]
fn unknown_kdf_id_is_malformed() {
    let (_dir, path) = vault_path();
    let mut bad = small_vault(&path);
    bad[10] = 2;
    assert!(matches!(open_bytes(&path, &bad), Err(Error::Malformed(_))));
}

#[test]
fn kdf_params_out_of_bounds_are_refused_before_the_kdf_runs() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    // Each of these would take seconds to hours, or terabytes, if the KDF ran.
    let cases: [(u32, u32, u32); 5] = [
        (4 * 1024 * 1024 + 1, 64, 16),
        (u32::MAX, 1, 1),
        (8192, 65, 1),
        (8192, u32::MAX, 1),
        (8192, 1, 17),
    ];
    for (m, t, p) in cases {
        let mut bad = good.clone();
        bad[11..15].copy_from_slice(&m.to_le_bytes());
        bad[15..19].copy_from_slice(&t.to_le_bytes());
        bad[19..23].copy_from_slice(&p.to_le_bytes());
        let start = Instant::now();
        let r = open_bytes(&path, &bad);
        let took = start.elapsed();
        assert!(
            matches!(r, Err(Error::KdfParamsOutOfBounds)),
            "{m} {t} {p}: {r:?}"
        );
        assert!(
            took < Duration::from_millis(500),
            "{m} {t} {p}: took {took:?}"
        );
    }
    // Too small is refused as well: a weak file is not silently accepted.
    let mut weak = good.clone();
    weak[11..15].copy_from_slice(&1024u32.to_le_bytes());
    assert!(matches!(
        open_bytes(&path, &weak),
        Err(Error::KdfParamsOutOfBounds)
    ));
}

#[test]
fn every_tampered_header_byte_fails_cleanly() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for i in 0..99 {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        let r = open_bytes(&path, &bad);
        let ok = match i {
            0..8 => matches!(r, Err(Error::NotAVault)),
            8..10 => matches!(r, Err(Error::UnsupportedVersion(_))),
            10 => matches!(r, Err(Error::Malformed(_))),
            // KDF parameters: out of bounds, or in bounds and then a different KEK.
            11..23 => matches!(
                r,
                Err(Error::KdfParamsOutOfBounds | Error::WrongPassphraseOrCorrupt)
            ),
            // Salt, key nonce, wrapped key: authenticated, so one opaque failure.
            _ => matches!(r, Err(Error::WrongPassphraseOrCorrupt)),
        };
        assert!(ok, "header byte {i}: {r:?}");
    }
}

#[test]
fn params_changed_within_bounds_are_caught_by_authentication() {
    let (_dir, path) = vault_path();
    let mut bad = small_vault(&path);
    bad[15..19].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        open_bytes(&path, &bad),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
}

#[test]
fn every_flipped_body_byte_fails_cleanly() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for i in 99..good.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            let r = open_bytes(&path, &bad);
            let ok = match i {
                // The length no longer matches the bytes that follow.
                111..115 => matches!(
                    r,
                    Err(Error::Truncated | Error::TrailingData | Error::Malformed(_))
                ),
                _ => matches!(r, Err(Error::WrongPassphraseOrCorrupt)),
            };
            assert!(ok, "byte {i} mask {mask:#x}: {r:?}");
        }
    }
}

#[test]
fn every_truncation_length_is_truncated() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for len in 0..good.len() {
        let r = open_bytes(&path, &good[..len]);
        assert!(matches!(r, Err(Error::Truncated)), "length {len}: {r:?}");
    }
    open_bytes(&path, &good).unwrap();
}

#[test]
fn trailing_garbage_is_refused() {
    let (_dir, path) = vault_path();
    let good = small_vault(&path);
    for extra in [&[0u8][..], b"garbage", &[0xAA; 4096]] {
        let mut bad = good.clone();
        bad.extend_from_slice(extra);
        assert!(matches!(open_bytes(&path, &bad), Err(Error::TrailingData)));
    }
}

#[test]
fn body_moved_under_another_vaults_header_is_refused() {
    // Same passphrase, different vault: the body's AAD is the whole header, wrapped key included.
    let (_dir, path) = vault_path();
    let (_dir2, path2) = vault_path();
    let a = small_vault(&path);
    let b = small_vault(&path2);
    let mut spliced = b[..99].to_vec();
    spliced.extend_from_slice(&a[99..]);
    assert!(matches!(
        open_bytes(&path, &spliced),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
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
fn a_directory_at_the_path_is_an_io_error() {
    let (_dir, path) = vault_path();
    fs::create_dir(&path).unwrap();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Io(_))));
}
