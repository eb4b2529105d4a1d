//! Backup import of credentials made elsewhere (another passkey provider's
//! CXF export: arbitrary IDs, PKCS#8 keys, its own PRF secrets), credential
//! management over imported credentials, and import validation: a bad
//! backup is refused with the store left byte for byte as it was.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use ed25519_dalek::Verifier as _;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::{PERM_CM, cm_request};
use softkey_authenticator::{
    BackupAlgorithm, BackupContents, BackupCredential, BackupError, HmacCredentials, ImportReport,
    export_backup, import_backup,
};
use zeroize::Zeroizing;

const ES_RP: &str = "foreign.example";
const ED_RP: &str = "ed.example";
const ES_ID: [u8; 16] = [0xF1; 16];
const ED_ID: [u8; 16] = [0xE2; 16];

fn import(h: &mut Harness, contents: &BackupContents) -> Result<ImportReport, BackupError> {
    let report = import_backup(&mut h.env.store, contents);
    h.restart();
    report
}

fn credential(rp: &str, id: &[u8], algorithm: BackupAlgorithm, der: &[u8]) -> BackupCredential {
    BackupCredential {
        credential_id: id.to_vec(),
        rp_id: rp.into(),
        rp_name: Some("Foreign".into()),
        user_id: b"fu".to_vec(),
        user_name: Some("frank".into()),
        user_display_name: Some("Frank".into()),
        created: 1_700_000_000,
        algorithm,
        private_key_pkcs8: Zeroizing::new(der.to_vec()),
        cred_protect: 1,
        cred_blob: None,
        large_blob_key: None,
        hmac: None,
        third_party_payment: false,
    }
}

/// A P-256 and an Ed25519 credential from "another provider", with their
/// public keys.
fn foreign() -> (
    BackupContents,
    p256::ecdsa::VerifyingKey,
    ed25519_dalek::VerifyingKey,
) {
    let p256_key = p256::SecretKey::from_slice(&[0x11; 32]).unwrap();
    let p256_der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&p256_key).unwrap();
    let es_public = *p256::ecdsa::SigningKey::from(&p256_key).verifying_key();
    let ed_key = ed25519_dalek::SigningKey::from_bytes(&[0x22; 32]);
    let ed_der = ed_key.to_pkcs8_der().unwrap();
    let mut es = credential(ES_RP, &ES_ID, BackupAlgorithm::Es256, p256_der.as_bytes());
    es.cred_blob = Some(b"blob".to_vec());
    es.large_blob_key = Some(Zeroizing::new([0x33; 32]));
    es.hmac = Some(HmacCredentials {
        with_uv: Zeroizing::new([0x44; 32]),
        without_uv: Zeroizing::new([0x55; 32]),
    });
    let ed = credential(ED_RP, &ED_ID, BackupAlgorithm::EdDsa, ed_der.as_bytes());
    let contents = BackupContents {
        credentials: vec![es, ed],
        sign_count: 1000,
        wrap_keys: vec![],
        large_blob_array: None,
    };
    (contents, es_public, ed_key.verifying_key())
}

#[test]
fn foreign_credentials_register_and_assert() {
    let (contents, es_public, ed_public) = foreign();
    // A device that never made a credential: no wrap key of its own.
    let mut h = Harness::with_seed(5);
    let report = import(&mut h, &contents).unwrap();
    assert_eq!(report.added.len(), 2);
    assert_eq!(report.added[0].credential_id, ES_ID);
    assert!(report.sign_count >= 1000 + 2);

    // ES256 by allowList, with credBlob and largeBlobKey.
    let mut ga = Ga::new(ES_RP).allow(&[&ES_ID]);
    ga.extensions = Some(Value::text_map(vec![
        ("credBlob", Value::Bool(true)),
        ("largeBlobKey", Value::Bool(true)),
    ]));
    let got = h.get_assertion(&ga).unwrap();
    got.verify(&es_public, &CDH);
    assert!(got.sign_count > 1000);
    assert_eq!(got.user_field("id"), Some(Value::bytes(b"fu")));
    assert_eq!(got.large_blob_key, Some(vec![0x33; 32]));
    let blob = got
        .extensions
        .unwrap()
        .get(&Value::text("credBlob"))
        .cloned();
    assert_eq!(blob, Some(Value::bytes(b"blob")));
    // Username-less.
    let got = h.get_assertion(&Ga::new(ES_RP)).unwrap();
    assert_eq!(got.credential_id, ES_ID);
    got.verify(&es_public, &CDH);

    // Ed25519, both ways: a raw signature over authData || clientDataHash.
    for ga in [Ga::new(ED_RP).allow(&[&ED_ID]), Ga::new(ED_RP)] {
        let got = h.get_assertion(&ga).unwrap();
        assert_eq!(got.credential_id, ED_ID);
        let signature = ed25519_dalek::Signature::from_slice(&got.signature).unwrap();
        let message = [got.auth_data.as_slice(), &CDH].concat();
        ed_public.verify(&message, &signature).unwrap();
    }

    // hmac-secret uses the imported CredRandom (without UV here).
    let salt = [7u8; 32];
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&[0x55; 32]).unwrap();
    mac.update(&salt);
    let expected = mac.finalize().into_bytes().to_vec();
    assert_eq!(
        h.hmac_secret(&Ga::new(ES_RP).allow(&[&ES_ID]), &salt),
        expected
    );
    // Without imported CredRandoms, the device derives stable ones.
    let first = h.hmac_secret(&Ga::new(ED_RP), &salt);
    assert_eq!(h.hmac_secret(&Ga::new(ED_RP), &salt), first);

    // The excludeList sees an imported ID.
    let mut mc = Mc::new(ES_RP, b"other", "o");
    mc.exclude = Some(vec![ES_ID.to_vec()]);
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));

    // Exporting gives back exactly what came in.
    let again = export_backup(&h.env.store).unwrap();
    assert_eq!(again.credentials.len(), 2);
    for (x, y) in contents.credentials.iter().zip(&again.credentials) {
        assert_eq!(x.credential_id, y.credential_id);
        assert_eq!(x.algorithm, y.algorithm);
        assert_eq!(*x.private_key_pkcs8, *y.private_key_pkcs8);
        assert_eq!(x.cred_blob, y.cred_blob);
        assert_eq!(x.large_blob_key, y.large_blob_key);
    }
    assert_eq!(again.credentials[0].hmac, contents.credentials[0].hmac);
    assert!(
        again.wrap_keys.is_empty(),
        "the device still has no key of its own"
    );
}

#[test]
fn an_imported_empty_user_handle_is_no_user_member() {
    // makeCredential refuses an empty user.id, but a backup may carry one
    // (another provider, an older softkey): the passkey still signs, and
    // getAssertion leaves out the user member rather than send a
    // PublicKeyCredentialUserEntity with an empty id (§6.2.2 step 12.3;
    // WebAuthn §5.4.3: a user handle is 1 to 64 bytes).
    let (mut contents, es_public, _) = foreign();
    contents.credentials[0].user_id.clear();
    let mut h = Harness::with_seed(6);
    import(&mut h, &contents).unwrap();
    for ga in [Ga::new(ES_RP), Ga::new(ES_RP).allow(&[&ES_ID])] {
        let got = h.get_assertion(&ga).unwrap();
        got.verify(&es_public, &CDH);
        assert_eq!(got.user, None);
    }
}

#[test]
fn credential_management_enumerates_imported_credentials() {
    let mut a = Harness::with_seed(1);
    let own = a
        .make_credential(&Mc::new(ES_RP, b"own", "own").rk())
        .unwrap();
    let mut contents = export_backup(&a.env.store).unwrap();
    let (foreign, es_public, _) = foreign();
    contents.credentials.push(foreign.credentials[0].clone());

    let mut h = Harness::with_seed(2);
    assert_eq!(import(&mut h, &contents).unwrap().added.len(), 2);
    let token = pin_and_token(&mut h, 2, "1234", PERM_CM);
    let params = Value::int_map(vec![(1, Value::bytes(&rp_id_hash(ES_RP)))]);
    let mut responses = vec![
        send(
            &mut h,
            CREDENTIAL_MANAGEMENT,
            &cm_request(Some(&token), 0x04, Some(&params)),
        )
        .unwrap()
        .unwrap(),
    ];
    assert_eq!(
        responses[0].get(&Value::Unsigned(9)),
        Some(&Value::Unsigned(2))
    );
    responses.push(
        send(&mut h, CREDENTIAL_MANAGEMENT, &cm_request(None, 0x05, None))
            .unwrap()
            .unwrap(),
    );
    let mut seen = Vec::new();
    for r in &responses {
        let id = match r
            .get(&Value::Unsigned(7))
            .and_then(|d| d.get(&Value::text("id")))
        {
            Some(Value::Bytes(id)) => id.clone(),
            other => panic!("{other:?}"),
        };
        let cose = r.get(&Value::Unsigned(8)).unwrap();
        let coord = |k| match cose.get(&Value::int(k)) {
            Some(Value::Bytes(b)) => b.clone(),
            other => panic!("{other:?}"),
        };
        let sec1 = [&[0x04][..], &coord(-2), &coord(-3)].concat();
        let public = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let expected = if id == ES_ID {
            es_public
        } else {
            own.public_key
        };
        assert_eq!(public, expected);
        assert_eq!(r.get(&Value::Unsigned(10)), Some(&Value::Unsigned(1)));
        seen.push(id);
    }
    seen.sort();
    let mut want = vec![ES_ID.to_vec(), own.credential_id.clone()];
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn invalid_backups_are_refused_with_nothing_written() {
    let (good, _, _) = foreign();
    let mut h = Harness::with_seed(9);
    h.make_credential(&Mc::new("mine.example", b"u", "x").rk())
        .unwrap();
    let (before, writes) = (h.store_snapshot(), h.env.store.writes());
    type Mutation = fn(&mut BackupContents);
    let bad_credential: [(Mutation, &str); 11] = [
        (
            |c| c.credentials[1].private_key_pkcs8 = Zeroizing::new(vec![0x30, 0x03, 1, 2, 3]),
            "bad PKCS#8",
        ),
        (
            |c| c.credentials[1].algorithm = BackupAlgorithm::Es256,
            "Ed25519 key said to be P-256",
        ),
        (|c| c.credentials[1].cred_protect = 0, "credProtect 0"),
        (|c| c.credentials[1].cred_protect = 4, "credProtect 4"),
        (
            |c| c.credentials[1].cred_blob = Some(vec![0; 33]),
            "credBlob 33 bytes",
        ),
        (|c| c.credentials[1].credential_id.clear(), "empty ID"),
        (
            |c| c.credentials[1].credential_id = vec![1; 1024],
            "1024-byte ID",
        ),
        (|c| c.credentials[1].rp_id.clear(), "empty RP ID"),
        (
            |c| c.credentials[1].user_id = vec![1; 65],
            "65-byte user handle",
        ),
        (
            |c| {
                c.credentials[1].rp_id = c.credentials[0].rp_id.clone();
                c.credentials[1].credential_id = c.credentials[0].credential_id.clone();
            },
            "ID twice for one RP",
        ),
        (
            |c| {
                let ed = c.credentials[1].private_key_pkcs8.clone();
                c.credentials[1].private_key_pkcs8 = Zeroizing::new([ed.as_slice(), &[0]].concat());
            },
            "trailing byte after the key",
        ),
    ];
    for (mutate, what) in bad_credential {
        let mut contents = good.clone();
        mutate(&mut contents);
        let err = import(&mut h, &contents).unwrap_err();
        assert!(
            matches!(err, BackupError::InvalidCredential { index: 1, .. }),
            "{what}: {err:?}"
        );
        assert_eq!(h.store_snapshot(), before, "{what}");
    }
    let mut contents = good.clone();
    contents.large_blob_array = Some(vec![0x80, 1, 2, 3]);
    assert_eq!(
        import(&mut h, &contents),
        Err(BackupError::InvalidLargeBlobArray)
    );
    assert_eq!(h.store_snapshot(), before);
    assert_eq!(h.env.store.writes(), writes);

    // A store failure on the one batch write leaves nothing behind either.
    h.env.store.fail_next_write();
    assert!(matches!(import(&mut h, &good), Err(BackupError::Store(_))));
    assert_eq!(h.store_snapshot(), before);
    // The same backup then imports in one write.
    assert_eq!(import(&mut h, &good).unwrap().added.len(), 2);
    assert_eq!(h.env.store.writes(), writes + 1);
}

/// An import into the store of a running authenticator (the test lab adds
/// credentials so): after `store_changed`, the imported credentials sign and
/// the counter continues above the ceiling the import wrote, never below a
/// value the authenticator already handed out.
#[test]
fn an_import_under_a_running_authenticator_after_store_changed() {
    let (contents, es_public, _) = foreign();
    let mut h = Harness::with_seed(6);
    // The authenticator has read the store and reserved counter values.
    let before = h
        .make_credential(&Mc::new("own.example", b"u", "own"))
        .unwrap();
    let report = import_backup(&mut h.env.store, &contents).unwrap();
    h.auth.store_changed();
    let got = h.get_assertion(&Ga::new(ES_RP).allow(&[&ES_ID])).unwrap();
    got.verify(&es_public, &CDH);
    assert!(got.sign_count > report.sign_count.max(before.sign_count));
    // The authenticator's own credential still works.
    let own = h
        .get_assertion(&Ga::new("own.example").allow(&[&before.credential_id]))
        .unwrap();
    assert!(own.sign_count > got.sign_count);
}
