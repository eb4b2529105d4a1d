//! Behaviour of the public `Vault` API on real files: round trips, durability, locking, modes.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{FAST, PASS, contents, vault_path};
use softkey_vault::{Change, Error, KdfParams, Vault};

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
fn every_write_appends_one_frame_with_a_fresh_nonce() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    let mut nonces = std::collections::HashSet::new();
    let mut prev = fs::read(&path).unwrap();
    for _ in 0..20 {
        v.put(b"same", b"same").unwrap();
        let bytes = fs::read(&path).unwrap();
        // FORMAT.md: an append never rewrites what is there; the new frame is len | !len | nonce | ..
        assert_eq!(&bytes[..prev.len()], &prev[..], "earlier bytes rewritten");
        let frame = &bytes[prev.len()..];
        assert_eq!(
            u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize,
            frame.len() - 20
        );
        assert!(nonces.insert(frame[8..20].to_vec()), "nonce reused");
        prev = bytes;
    }
    assert_eq!(v.stats().log_records, 21);
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

#[test]
fn apply_is_ordered_atomic_and_one_generation() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"old", b"x").unwrap();
    let g = v.generation();
    v.apply(&[]).unwrap();
    assert_eq!(v.generation(), g, "an empty batch writes nothing");
    v.apply(&[
        Change::Put(b"a", b"1"),
        Change::Put(b"b", b"2"),
        Change::Delete(b"a"),
        Change::Delete(b"never-existed"),
        Change::Delete(b"old"),
        Change::Put(b"c", b"3"),
        Change::Put(b"c", b"33"),
    ])
    .unwrap();
    assert_eq!(v.generation(), g + 1, "one frame, one fsync");
    let want = vec![
        (b"b".to_vec(), b"2".to_vec()),
        (b"c".to_vec(), b"33".to_vec()),
    ];
    assert_eq!(contents(&v), want);
    drop(v);
    assert_eq!(contents(&Vault::open(&path, PASS).unwrap()), want);
    let dbg = format!("{:?}", Change::Put(b"secret-key", b"secret-value"));
    assert!(!dbg.contains("secret"), "{dbg}");
}

#[test]
fn compact_shrinks_the_log_and_keeps_contents_id_and_generation_order() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    for i in 0u32..50 {
        v.put(format!("k{}", i % 5).as_bytes(), &[i as u8; 100])
            .unwrap();
    }
    let id = v.vault_id();
    let before = contents(&v);
    let (len, g) = (v.stats().file_len, v.generation());
    v.compact().unwrap();
    assert!(
        v.stats().file_len < len / 5,
        "{} vs {len}",
        v.stats().file_len
    );
    assert_eq!(v.stats().file_len, fs::metadata(&path).unwrap().len());
    assert_eq!(v.stats().log_records, 1);
    assert!(v.generation() > g, "the generation never goes back");
    v.put(b"after", b"compaction").unwrap();
    let g = v.generation();
    drop(v);
    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.vault_id(), id);
    assert_eq!(v.generation(), g);
    assert_eq!(v.len(), before.len() + 1);
    assert!(!path.with_extension("vault.tmp").exists());
}

#[test]
fn compaction_runs_automatically_past_the_threshold() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    let value = vec![7u8; 64 * 1024];
    let mut max_len = 0;
    for i in 0..90u8 {
        v.put(b"big", &[&value[..], &[i]].concat()).unwrap();
        max_len = max_len.max(fs::metadata(&path).unwrap().len());
    }
    let s = v.stats();
    // Threshold: 2 x 64 KiB + 4 MiB of log; 90 x 64 KiB would be 5.6 MiB without compaction.
    assert!(
        max_len <= 4 * 1024 * 1024 + 3 * 64 * 1024 + 1024,
        "{max_len}"
    );
    assert!(s.log_records < 80, "{s:?}");
    assert_eq!(s.live_records, 1);
    assert_eq!(s.live_bytes, 3 + 64 * 1024 + 1);
    drop(v);
    assert_eq!(
        Vault::open(&path, PASS)
            .unwrap()
            .get(b"big")
            .unwrap()
            .last(),
        Some(&89)
    );
}

#[test]
fn change_passphrase_rotates_the_data_key() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    v.apply(&[Change::Put(b"x", b"y"), Change::Delete(b"k")])
        .unwrap();
    let old = fs::read(&path).unwrap();
    let (id, g) = (v.vault_id(), v.generation());
    let new_params = KdfParams {
        iterations: 2,
        ..FAST
    };
    v.change_passphrase(b"new pass", new_params).unwrap();
    assert_eq!(v.kdf_params(), new_params);
    let new = fs::read(&path).unwrap();
    assert_eq!(&new[10..26], &old[10..26], "same vault id");
    assert_ne!(&new[39..55], &old[39..55], "new salt");
    // The handle keeps appending to the new file, under the new key.
    v.put(b"z", b"after").unwrap();
    drop(v);
    assert!(matches!(
        Vault::open(&path, PASS),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    let v = Vault::open(&path, b"new pass").unwrap();
    assert_eq!((v.vault_id(), v.kdf_params()), (id, new_params));
    assert!(v.generation() > g, "the generation keeps growing");
    assert_eq!(v.len(), 2);
    assert_eq!(v.get(b"z"), Some(&b"after"[..]));
    drop(v);
    // A stolen old copy and the old passphrase unwrap the *old* data key,
    // which opens none of what was written since: the old header in front
    // of the new records is refused.
    let after = fs::read(&path).unwrap();
    let spliced = [&old[..115], &after[115..]].concat();
    fs::write(&path, &spliced).unwrap();
    assert!(Vault::open(&path, PASS).is_err());
    fs::write(&path, &after).unwrap();
    let mut v = Vault::open(&path, b"new pass").unwrap();
    assert!(matches!(
        v.change_passphrase(
            b"x",
            KdfParams {
                memory_kib: 1,
                ..FAST
            }
        ),
        Err(Error::KdfParamsOutOfBounds)
    ));
}

#[test]
fn stats_describe_the_handle() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"abc", b"12345").unwrap();
    v.put(b"d", b"").unwrap();
    let s = v.stats();
    assert_eq!(
        (s.live_records, s.live_bytes, s.log_records, s.generation),
        (2, 9, 3, 3)
    );
    assert_eq!(s.file_len, fs::metadata(&path).unwrap().len());
    assert_eq!((s.recovered_tail_bytes, s.opened_format_version), (0, 2));
    assert!(s.kdf_time > std::time::Duration::ZERO && s.open_time >= s.kdf_time);
    drop(v);
    let s = Vault::open(&path, PASS).unwrap().stats();
    assert_eq!((s.live_records, s.live_bytes, s.log_records), (2, 9, 3));
    assert!(s.open_time >= s.kdf_time);
}

#[test]
fn a_torn_tail_is_cut_by_the_next_write_not_by_open() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"a", b"1").unwrap();
    drop(v);
    let good = fs::read(&path).unwrap();
    let mut torn = good.clone();
    torn.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
    fs::write(&path, &torn).unwrap();
    let mut v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.stats().recovered_tail_bytes, 7);
    assert_eq!(fs::read(&path).unwrap(), torn, "open leaves the file alone");
    v.put(b"b", b"2").unwrap();
    let now = fs::read(&path).unwrap();
    assert_eq!(&now[..good.len()], &good[..]);
    assert_eq!(now.len(), v.stats().file_len as usize);
    drop(v);
    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!((v.len(), v.stats().recovered_tail_bytes), (2, 0));
}

#[test]
fn a_v1_vault_opens_and_is_migrated_to_v2() {
    let (dir, path) = vault_path();
    let fixture = include_bytes!("data/v1-fixture.bin");
    fs::write(&path, fixture).unwrap();
    assert!(matches!(
        Vault::open(&path, b"wrong"),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert_eq!(
        fs::read(&path).unwrap(),
        fixture,
        "a failed open never migrates"
    );
    fs::write(&path, &fixture[..fixture.len() - 1]).unwrap();
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Truncated)));
    fs::write(&path, fixture).unwrap();

    let mut v = Vault::open(&path, PASS).unwrap();
    let want = vec![
        (b"".to_vec(), b"".to_vec()),
        (b"cred/1".to_vec(), b"replaced".to_vec()),
        (b"cred/2".to_vec(), vec![0xAB; 300]),
        (b"device/counter".to_vec(), b"\x07\x00\x00\x00".to_vec()),
    ];
    assert_eq!(contents(&v), want);
    assert_eq!(v.stats().opened_format_version, 1);
    assert!(v.generation() > 7, "continues after the v1 generation");
    assert_eq!(v.kdf_params(), FAST);
    let bytes = fs::read(&path).unwrap();
    assert_eq!(&bytes[8..10], &[2, 0], "rewritten as v2");
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    v.put(b"new", b"record").unwrap();
    drop(v);
    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.stats().opened_format_version, 2);
    assert_eq!(v.len(), 5);
    let names = fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(names, 2, "vault and lock file only");
}

#[test]
fn backup_envelope_round_trip_through_the_public_api() {
    let sealed = softkey_vault::backup::seal(b"export", b"backup pass", FAST).unwrap();
    assert_eq!(&sealed[..8], b"SKBACKUP");
    assert_eq!(
        &*softkey_vault::backup::open(&sealed, b"backup pass").unwrap(),
        b"export"
    );
    assert!(matches!(
        softkey_vault::backup::open(&sealed, b"nope"),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert!(matches!(
        softkey_vault::backup::open(b"SKVAULT\0", b"x"),
        Err(Error::NotABackup)
    ));
}

/// A vault grown one small put at a time stays far below the byte threshold, but its frame
/// count still triggers a compaction, so open never has to walk one frame per record.
#[test]
fn many_single_puts_are_compacted_by_frame_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v");
    let mut v = Vault::create(&path, b"pw", FAST).unwrap();
    for i in 0..6000u32 {
        v.put(&i.to_be_bytes(), b"x").unwrap();
    }
    let frames = v.stats().log_records;
    assert!(frames < 3000, "{frames} frames after 6000 puts");
    drop(v);
    let v = Vault::open(&path, b"pw").unwrap();
    assert_eq!(v.len(), 6000);
    assert_eq!(v.get(&5999u32.to_be_bytes()), Some(&b"x"[..]));
}

#[test]
fn lock_checks_everything_but_the_passphrase_and_keeps_the_lock_across_wrong_ones() {
    let (dir, path) = vault_path();
    drop(Vault::create(&path, PASS, FAST).unwrap());
    let mut locked = Vault::lock(&path).unwrap();
    assert_eq!(locked.kdf_params(), FAST);
    // Held from here: another process (or handle) is refused before any KDF.
    assert!(matches!(Vault::lock(&path), Err(Error::Locked)));
    assert!(matches!(Vault::open(&path, PASS), Err(Error::Locked)));
    assert!(matches!(
        locked.unlock(b"not it"),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert!(
        matches!(Vault::lock(&path), Err(Error::Locked)),
        "a wrong passphrase keeps the lock"
    );
    let v = locked.unlock(PASS).unwrap();
    assert!(matches!(locked.unlock(PASS), Err(Error::Locked)));
    drop(v);
    drop(locked);
    Vault::lock(&path).unwrap();

    // A directory, a missing file and a file that is not a vault: all
    // refused without a passphrase.
    assert!(matches!(Vault::lock(dir.path()), Err(Error::NotAFile(_))));
    assert!(matches!(
        Vault::lock(&dir.path().join("missing")),
        Err(Error::NotFound(_))
    ));
    let junk = dir.path().join("junk");
    fs::write(
        &junk,
        b"this is a text file, not a vault at all, long enough",
    )
    .unwrap();
    assert!(matches!(Vault::lock(&junk), Err(Error::NotAVault)));
}
