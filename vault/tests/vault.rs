//! Behaviour of the public `Vault` API on real files: round trips, durability, locking, modes.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{FAST, PASS, contents, vault_path};
use softkey_vault::{Error, KdfParams, Vault};

#[test]
fn create_open_round_trip_with_many_records() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    assert!(v.is_empty());
    assert_eq!(v.path(), path);
    assert_eq!(v.kdf_params(), FAST);
    let mut expected = Vec::new();
    for i in 0u32..200 {
        let key = format!("cred/{i:05}").into_bytes();
        let value: Vec<u8> = (0..(i % 97)).map(|b| (b as u8) ^ (i as u8)).collect();
        v.put(&key, &value).unwrap();
        expected.push((key, value));
    }
    // Empty key and empty value are legal records.
    v.put(b"", b"").unwrap();
    expected.insert(0, (Vec::new(), Vec::new()));
    assert_eq!(v.len(), 201);
    drop(v);

    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.len(), 201);
    assert_eq!(v.kdf_params(), FAST);
    assert_eq!(contents(&v), expected);
    assert_eq!(v.get(b"cred/00150").map(<[u8]>::len), Some(150 % 97));
    assert_eq!(v.get(b"cred/99999"), None);
}

#[test]
fn put_replace_and_delete_are_durable_across_reopen() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"a", b"1").unwrap();
    v.put(b"b", b"2").unwrap();
    drop(v);

    let mut v = Vault::open(&path, PASS).unwrap();
    v.put(b"a", b"one").unwrap();
    assert!(v.delete(b"b").unwrap());
    assert!(!v.delete(b"b").unwrap());
    assert!(!v.delete(b"never").unwrap());
    drop(v);

    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(contents(&v), vec![(b"a".to_vec(), b"one".to_vec())]);
}

#[test]
fn generation_increments_on_every_write() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    assert_eq!(v.generation(), 1);
    v.put(b"k", b"v").unwrap();
    assert_eq!(v.generation(), 2);
    v.put(b"k", b"v").unwrap();
    assert_eq!(v.generation(), 3);
    assert!(v.delete(b"k").unwrap());
    assert_eq!(v.generation(), 4);
    // Deleting nothing writes nothing.
    assert!(!v.delete(b"k").unwrap());
    assert_eq!(v.generation(), 4);
    drop(v);
    let mut v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.generation(), 4);
    v.put(b"x", b"y").unwrap();
    assert_eq!(v.generation(), 5);
}

#[test]
fn every_write_uses_a_fresh_nonce() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..20 {
        v.put(b"same", b"same").unwrap();
        let bytes = fs::read(&path).unwrap();
        // FORMAT.md: the body nonce is bytes 99..111; the header (0..99) never changes.
        assert!(nonces.insert(bytes[99..111].to_vec()), "nonce reused");
    }
}

#[test]
fn scan_prefix_returns_matching_records_in_key_order() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    for k in [
        &b"rp/b/2"[..],
        b"rp/a/1",
        b"rp/b/1",
        b"rp",
        b"rq",
        b"rp/b",
        b"\xffrp",
    ] {
        v.put(k, k).unwrap();
    }
    let keys = |p: &[u8]| {
        v.scan_prefix(p)
            .map(|(k, _)| k.to_vec())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(b"rp/b"),
        vec![b"rp/b".to_vec(), b"rp/b/1".to_vec(), b"rp/b/2".to_vec()]
    );
    assert_eq!(keys(b"rp/").len(), 4);
    assert_eq!(keys(b"").len(), 7);
    assert!(keys(b"zz").is_empty());
    assert!(v.scan_prefix(b"rp/a").all(|(k, val)| k == val));
}

#[test]
fn wrong_passphrase_is_opaque_and_leaves_the_file_untouched() {
    let (dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    drop(v);
    let before = fs::read(&path).unwrap();
    let r = Vault::open(&path, b"correct horse battery stapler");
    assert!(matches!(r, Err(Error::WrongPassphraseOrCorrupt)), "{r:?}");
    assert!(matches!(
        Vault::open(&path, b""),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
    let mut names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["softkey.vault", "softkey.vault.lock"]);
    // The right passphrase still works afterwards.
    assert_eq!(Vault::open(&path, PASS).unwrap().get(b"k"), Some(&b"v"[..]));
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let (_dir, path) = vault_path();
    let first = Vault::create(&path, PASS, FAST).unwrap();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Locked)));
    // Even with the wrong passphrase: the lock is checked before the KDF.
    assert!(matches!(Vault::open(&path, b"nope"), Err(Error::Locked)));
    drop(first);
    let second = Vault::open(&path, PASS).unwrap();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Locked)));
    drop(second);
    Vault::open(&path, PASS).unwrap();
}

#[test]
fn files_are_0600_and_a_new_directory_0700() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/softkey/softkey.vault");
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(
        mode(&dir.path().join("data/softkey/softkey.vault.lock")),
        0o600
    );
    assert_eq!(mode(&dir.path().join("data/softkey")), 0o700);
    assert!(!dir.path().join("data/softkey/softkey.vault.tmp").exists());
}

#[test]
fn create_refuses_an_existing_path() {
    let (_dir, path) = vault_path();
    fs::write(&path, b"precious").unwrap();
    let r = Vault::create(&path, PASS, FAST);
    assert!(
        matches!(&r, Err(Error::AlreadyExists(p)) if *p == path),
        "{r:?}"
    );
    assert_eq!(fs::read(&path).unwrap(), b"precious");

    let (_dir2, path2) = vault_path();
    drop(Vault::create(&path2, PASS, FAST).unwrap());
    let before = fs::read(&path2).unwrap();
    assert!(matches!(
        Vault::create(&path2, b"other", FAST),
        Err(Error::AlreadyExists(_))
    ));
    assert_eq!(fs::read(&path2).unwrap(), before);
}

#[test]
fn create_refuses_out_of_bounds_params_without_writing() {
    let (dir, path) = vault_path();
    let bad = KdfParams {
        memory_kib: 1024,
        ..FAST
    };
    assert!(matches!(
        Vault::create(&path, PASS, bad),
        Err(Error::KdfParamsOutOfBounds)
    ));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn open_missing_is_not_found_and_creates_nothing() {
    let (dir, path) = vault_path();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::NotFound(p)) if p == path));
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn debug_and_errors_hold_no_secrets() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"user-handle", b"private-key-bytes").unwrap();
    let dbg = format!("{v:?}");
    assert!(
        !dbg.contains("user-handle") && !dbg.contains("private-key"),
        "{dbg}"
    );
    drop(v);
    let err = Vault::open(&path, b"guess").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("guess"));
    assert!(
        err.to_string()
            .contains("wrong passphrase, or the file is damaged")
    );
}

#[test]
fn vault_and_error_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vault>();
    assert_send_sync::<Error>();
}
