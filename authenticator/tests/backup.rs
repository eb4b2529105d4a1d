//! Backup export and import between softkey devices, through the
//! public API the CLI uses, then checked like a platform would: the
//! restored device signs for the original credentials (allowList and
//! username-less), with counters above everything the old device signed,
//! and keeps hmac-secret outputs, non-discoverable IDs and large blobs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{blob_array, blob_set_request};
use softkey_authenticator::{
    BackupAlgorithm, BackupContents, BackupError, ImportReport, export_backup, import_backup,
    list_credentials,
};

/// Imports into `h`'s store, then starts a new authenticator on it: import
/// is for a store no running authenticator serves.
fn import(h: &mut Harness, contents: &BackupContents) -> Result<ImportReport, BackupError> {
    let report = import_backup(&mut h.env.store, contents);
    h.restart();
    report
}

fn ids(list: &[softkey_authenticator::CredentialSummary]) -> Vec<Vec<u8>> {
    let mut ids: Vec<Vec<u8>> = list.iter().map(|s| s.credential_id.clone()).collect();
    ids.sort();
    ids
}

#[test]
fn round_trip_into_a_fresh_device_signs_with_the_original_keys() {
    let mut a = Harness::with_seed(1);
    let alice = a
        .make_credential(&Mc::new("a.example", b"ua", "alice").rk())
        .unwrap();
    a.env.advance(Duration::from_secs(10));
    let bob = a
        .make_credential(&Mc::new("a.example", b"ub", "bob").rk())
        .unwrap();
    let carol = a
        .make_credential(&Mc::new("b.example", b"uc", "carol").rk())
        .unwrap();
    let plain = a
        .make_credential(&Mc::new("a.example", b"un", "nr"))
        .unwrap();
    let mut last = 0;
    for _ in 0..3 {
        let ga = Ga::new("a.example").allow(&[&plain.credential_id]);
        last = a.get_assertion(&ga).unwrap().sign_count;
    }

    let backup = export_backup(&a.env.store).unwrap();
    // Every value A ever signed with is ≤ the exported ceiling.
    assert!(backup.sign_count >= last);
    assert_eq!(backup.wrap_keys.len(), 1);
    assert_eq!(backup.large_blob_array, None);
    // Discoverable credentials only, oldest first.
    let exported: Vec<&[u8]> = backup
        .credentials
        .iter()
        .map(|c| c.credential_id.as_slice())
        .collect();
    assert_eq!(
        exported,
        [
            &alice.credential_id[..],
            &bob.credential_id,
            &carol.credential_id
        ]
    );
    let c0 = &backup.credentials[0];
    assert_eq!(
        (
            c0.rp_id.as_str(),
            c0.rp_name.as_deref(),
            c0.user_id.as_slice()
        ),
        ("a.example", Some("RP"), &b"ua"[..])
    );
    assert_eq!(c0.user_name.as_deref(), Some("alice"));
    assert_eq!(c0.user_display_name.as_deref(), Some("alice display"));
    assert_eq!(c0.algorithm, BackupAlgorithm::Es256);
    assert_eq!(c0.cred_protect, 1);
    assert!(c0.hmac.is_some());
    assert!(backup.credentials[1].created >= c0.created + 10);

    let mut b = Harness::with_seed(2);
    let report = import(&mut b, &backup).unwrap();
    assert_eq!(
        ids(&report.added),
        ids(&list_credentials(&a.env.store).unwrap())
    );
    assert!(report.kept_existing.is_empty());
    assert!(report.sign_count >= backup.sign_count);
    assert!(!report.large_blobs_restored);
    assert_eq!(
        ids(&list_credentials(&b.env.store).unwrap()),
        ids(&report.added)
    );

    // allowList, discoverable and not: the original public keys verify,
    // counters above the backup's ceiling.
    for (att, rp) in [
        (&alice, "a.example"),
        (&bob, "a.example"),
        (&carol, "b.example"),
        (&plain, "a.example"),
    ] {
        let got = b
            .get_assertion(&Ga::new(rp).allow(&[&att.credential_id]))
            .unwrap();
        assert_eq!(got.credential_id, att.credential_id);
        got.verify(&att.public_key, &CDH);
        assert!(got.sign_count > backup.sign_count);
    }
    // Username-less: newest first, then getNextAssertion.
    let first = b.get_assertion(&Ga::new("a.example")).unwrap();
    assert_eq!(first.number_of_credentials, Some(2));
    assert_eq!(first.credential_id, bob.credential_id);
    assert_eq!(first.user_field("id"), Some(Value::bytes(b"ub")));
    first.verify(&bob.public_key, &CDH);
    let next = b.get_next_assertion().unwrap();
    assert_eq!(next.credential_id, alice.credential_id);
    next.verify(&alice.public_key, &CDH);
    assert!(next.sign_count > first.sign_count);

    // The restored device exports the same credentials and wrap key again.
    let again = export_backup(&b.env.store).unwrap();
    assert_eq!(again.credentials.len(), 3);
    for (x, y) in backup.credentials.iter().zip(&again.credentials) {
        assert_eq!(x.credential_id, y.credential_id);
        assert_eq!(*x.private_key_pkcs8, *y.private_key_pkcs8);
        assert_eq!(x.hmac, y.hmac);
        assert_eq!((x.created, x.cred_protect), (y.created, y.cred_protect));
    }
    assert_eq!(again.wrap_keys, backup.wrap_keys);
    assert!(again.sign_count > backup.sign_count);
}

#[test]
fn non_discoverable_ids_open_after_import_and_new_ones_are_the_devices_own() {
    let mut a = Harness::with_seed(1);
    let old = a.make_credential(&Mc::new("x.example", b"u", "n")).unwrap();
    let backup = export_backup(&a.env.store).unwrap();
    assert!(backup.credentials.is_empty());
    assert_eq!(backup.wrap_keys.len(), 1);

    let mut b = Harness::with_seed(2);
    let ga_old = Ga::new("x.example").allow(&[&old.credential_id]);
    assert_eq!(b.get_assertion(&ga_old).err(), Some(0x2E), "unknown before");
    let report = import(&mut b, &backup).unwrap();
    assert!(report.added.is_empty() && report.kept_existing.is_empty());
    let got = b.get_assertion(&ga_old).unwrap();
    got.verify(&old.public_key, &CDH);
    assert!(got.sign_count > backup.sign_count);
    // excludeList sees the imported ID too.
    let mut excluded = Mc::new("x.example", b"v", "m");
    excluded.exclude = Some(vec![old.credential_id.clone()]);
    assert_eq!(b.make_credential(&excluded).err(), Some(0x19));

    // A credential made on B now is B's own; both keep working.
    let fresh = b.make_credential(&Mc::new("x.example", b"v", "m")).unwrap();
    assert!(fresh.sign_count > got.sign_count);
    let ga_fresh = Ga::new("x.example").allow(&[&fresh.credential_id]);
    b.get_assertion(&ga_fresh)
        .unwrap()
        .verify(&fresh.public_key, &CDH);
    b.get_assertion(&ga_old)
        .unwrap()
        .verify(&old.public_key, &CDH);
    // ...but A does not know B's new ID.
    assert_eq!(
        a.get_assertion(&ga_fresh).err(),
        Some(0x2E),
        "B's own key is not A's"
    );
    // B's next backup carries both keys, its own first.
    let again = export_backup(&b.env.store).unwrap();
    assert_eq!(again.wrap_keys.len(), 2);
    assert_eq!(again.wrap_keys[1], backup.wrap_keys[0]);
    assert_ne!(again.wrap_keys[0], backup.wrap_keys[0]);
}

#[test]
fn duplicates_keep_the_existing_credential_and_write_nothing() {
    let mut a = Harness::with_seed(1);
    for user in [&b"u1"[..], b"u2"] {
        a.make_credential(&Mc::new("d.example", user, "x").rk())
            .unwrap();
    }
    let backup = export_backup(&a.env.store).unwrap();

    // Into the device it came from: everything is already there.
    let (before, writes) = (a.store_snapshot(), a.env.store.writes());
    let report = import(&mut a, &backup).unwrap();
    assert!(report.added.is_empty());
    assert_eq!(
        ids(&report.kept_existing),
        ids(&list_credentials(&a.env.store).unwrap())
    );
    assert_eq!(report.sign_count, backup.sign_count);
    assert_eq!(a.store_snapshot(), before);
    assert_eq!(a.env.store.writes(), writes);

    // Twice into another device: the second import adds nothing.
    let mut b = Harness::with_seed(2);
    assert_eq!(import(&mut b, &backup).unwrap().added.len(), 2);
    let (before, writes) = (b.store_snapshot(), b.env.store.writes());
    let report = import(&mut b, &backup).unwrap();
    assert!(report.added.is_empty());
    assert_eq!(report.kept_existing.len(), 2);
    assert_eq!(b.store_snapshot(), before);
    assert_eq!(b.env.store.writes(), writes);

    // Another ID for the same RP and user is kept beside it: no overwrite.
    let mut other = backup.clone();
    other.credentials[0].credential_id = vec![0x5A; 16];
    let report = import(&mut b, &other).unwrap();
    assert_eq!(ids(&report.added), vec![vec![0x5A; 16]]);
    assert_eq!(report.kept_existing.len(), 1);
    let first = b.get_assertion(&Ga::new("d.example")).unwrap();
    assert_eq!(first.number_of_credentials, Some(3));
}

#[test]
fn hmac_secret_outputs_survive_the_restore() {
    let mut a = Harness::with_seed(1);
    let mut outputs = Vec::new();
    let mut requests = Vec::new();
    for rk in [false, true] {
        let mut mc = Mc::new("prf.example", if rk { b"r" } else { b"n" }, "p");
        if rk {
            mc = mc.rk();
        }
        mc.extensions = Some(Value::text_map(vec![("hmac-secret", Value::Bool(true))]));
        let att = a.make_credential(&mc).unwrap();
        let ga = Ga::new("prf.example").allow(&[&att.credential_id]);
        let salts = [[1u8; 32], [2u8; 32]].concat();
        outputs.push(a.hmac_secret(&ga, &salts));
        requests.push((ga, salts));
    }
    let backup = export_backup(&a.env.store).unwrap();
    let mut b = Harness::with_seed(2);
    import(&mut b, &backup).unwrap();
    for ((ga, salts), expected) in requests.iter().zip(&outputs) {
        assert_eq!(expected.len(), 64);
        assert_eq!(&b.hmac_secret(ga, salts), expected);
    }
    // Username-less too.
    let (_, salts) = &requests[1];
    assert_eq!(&b.hmac_secret(&Ga::new("prf.example"), salts), &outputs[1]);
}

#[test]
fn large_blob_array_is_restored_only_onto_a_device_without_one() {
    let write = |h: &mut Harness, text: &[u8]| {
        let array = blob_array(&cbor::encode(&Value::Array(vec![Value::bytes(text)])));
        let req = blob_set_request(None, 0, &array, Some(array.len() as u64));
        send(h, LARGE_BLOBS, &req).unwrap();
        array
    };
    let read = |h: &mut Harness| {
        let req = Value::int_map(vec![(1, Value::Unsigned(1024)), (3, Value::Unsigned(0))]);
        match send(h, LARGE_BLOBS, &req)
            .unwrap()
            .unwrap()
            .get(&Value::Unsigned(1))
        {
            Some(Value::Bytes(b)) => b.clone(),
            other => panic!("{other:?}"),
        }
    };
    let mut a = Harness::with_seed(1);
    let initial = read(&mut a);
    // The initial array is not exported.
    assert_eq!(export_backup(&a.env.store).unwrap().large_blob_array, None);
    let array = write(&mut a, b"hello");
    let backup = export_backup(&a.env.store).unwrap();
    assert_eq!(backup.large_blob_array.as_deref(), Some(&array[..]));

    let mut b = Harness::with_seed(2);
    assert_eq!(read(&mut b), initial);
    assert!(import(&mut b, &backup).unwrap().large_blobs_restored);
    assert_eq!(read(&mut b), array);

    let mut c = Harness::with_seed(3);
    let own = write(&mut c, b"mine");
    assert!(!import(&mut c, &backup).unwrap().large_blobs_restored);
    assert_eq!(read(&mut c), own);
}

#[test]
fn the_counter_never_goes_down() {
    let mut a = Harness::with_seed(1);
    a.make_credential(&Mc::new("c.example", b"u", "x").rk())
        .unwrap();
    let mut backup = export_backup(&a.env.store).unwrap();
    backup.sign_count = 5;
    // B's own ceiling (one reservation) is above the backup's.
    let mut b = Harness::with_seed(2);
    let made = b.make_credential(&Mc::new("o.example", b"u", "x")).unwrap();
    let ceiling = export_backup(&b.env.store).unwrap().sign_count;
    assert!(ceiling > 5 && ceiling >= made.sign_count);
    let report = import(&mut b, &backup).unwrap();
    // The added credential's creation order is counted above it.
    assert_eq!(report.sign_count, ceiling + 1);
    let got = b.get_assertion(&Ga::new("c.example")).unwrap();
    assert!(got.sign_count > report.sign_count);

    // A backup whose counter is spent cannot add credentials.
    let mut spent = export_backup(&a.env.store).unwrap();
    spent.sign_count = u32::MAX;
    let mut c = Harness::with_seed(3);
    let before = c.store_snapshot();
    assert_eq!(import(&mut c, &spent), Err(BackupError::CounterExhausted));
    assert_eq!(c.store_snapshot(), before);
}

#[test]
fn reset_forgets_imported_wrap_keys_and_credentials() {
    let mut a = Harness::with_seed(1);
    let plain = a.make_credential(&Mc::new("r.example", b"u", "n")).unwrap();
    let rk = a
        .make_credential(&Mc::new("r.example", b"v", "d").rk())
        .unwrap();
    let backup = export_backup(&a.env.store).unwrap();
    let mut b = Harness::with_seed(2);
    import(&mut b, &backup).unwrap();
    let ga = Ga::new("r.example").allow(&[&plain.credential_id]);
    b.get_assertion(&ga).unwrap();
    assert_eq!(b.call0(0x07), Ok(Value::Null), "authenticatorReset");
    assert_eq!(b.get_assertion(&ga).err(), Some(0x2E));
    let ga_rk = Ga::new("r.example").allow(&[&rk.credential_id]);
    assert_eq!(b.get_assertion(&ga_rk).err(), Some(0x2E));
    let after = export_backup(&b.env.store).unwrap();
    assert!(after.credentials.is_empty() && after.wrap_keys.is_empty());
}
