//! authenticatorMakeCredential scenarios (CTAP 2.1 §6.1.2), each citing the
//! step it checks.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::LoggedPresence;
use softkey_authenticator::{
    CREDENTIAL_ID_LEN, DEFAULT_AAGUID, MAX_MSG_SIZE, Operation, PresenceError, Store,
    list_credentials,
};

const RP: &str = "example.com";

#[test]
fn non_discoverable_credential_round_trip() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"user-1", "alice")).unwrap();
    // Step 19 authData: rpIdHash, UP | AT, no UV; AAGUID; our ID length.
    assert_eq!(att.auth_data[..32], rp_id_hash(RP));
    assert_eq!(att.flags, 0x41);
    assert_eq!(att.aaguid, DEFAULT_AAGUID);
    assert_eq!(att.credential_id.len(), CREDENTIAL_ID_LEN);
    // Nothing listed: non-discoverable credentials are not stored.
    assert!(list_credentials(&h.env.store).unwrap().is_empty());
    // getAssertion with the ID in the allowList signs with the same key.
    let a = h
        .get_assertion(&Ga::new(RP).allow(&[&att.credential_id]))
        .unwrap();
    assert_eq!(a.credential_id, att.credential_id);
    a.verify(&att.public_key, &CDH);
    assert_eq!(a.flags, 0x01);
    assert!(a.sign_count > att.sign_count);
    assert_eq!(
        a.user, None,
        "no user entity for a non-discoverable credential"
    );
}

#[test]
fn discoverable_credential_round_trip_and_listing() {
    let mut h = Harness::new();
    let att = h
        .make_credential(&Mc::new(RP, b"user-1", "alice").rk())
        .unwrap();
    let list = list_credentials(&h.env.store).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].rp_id, RP);
    assert_eq!(list[0].user_id, b"user-1");
    assert_eq!(list[0].user_name.as_deref(), Some("alice"));
    assert_eq!(list[0].user_display_name.as_deref(), Some("alice display"));
    assert_eq!(list[0].credential_id, att.credential_id);
    assert_eq!(
        list[0].created,
        softkey_authenticator::Env::unix_time(&h.env)
    );
    // Username-less getAssertion finds it.
    let a = h.get_assertion(&Ga::new(RP)).unwrap();
    assert_eq!(a.credential_id, att.credential_id);
    a.verify(&att.public_key, &CDH);
    assert_eq!(a.number_of_credentials, None, "only one credential");
    assert_eq!(a.user_field("id"), Some(Value::bytes(b"user-1")));
    assert_eq!(
        a.user_field("name"),
        None,
        "no UV, no name (§6.2.2 step 12.3)"
    );
}

#[test]
fn presence_names_rp_and_user_and_denial_stores_nothing() {
    let mut h = Harness::new();
    h.env.presence.push(Err(PresenceError::Denied));
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "alice").rk()).err(),
        Some(0x27)
    );
    assert_eq!(
        h.env.presence.log(),
        [LoggedPresence {
            operation: Operation::Register,
            rp_id: RP.into(),
            user_name: Some("alice".into()),
            user_display_name: Some("alice display".into()),
        }]
    );
    assert!(list_credentials(&h.env.store).unwrap().is_empty());
    // Step 14: timeout and cancel have their own statuses.
    h.env.presence.push(Err(PresenceError::Timeout));
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "alice")).err(),
        Some(0x2F)
    );
    h.env.presence.push(Err(PresenceError::Cancelled));
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "alice")).err(),
        Some(0x2D)
    );
}

#[test]
fn exclude_list_hit_collects_presence_then_credential_excluded() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "alice")).unwrap();
    let mut mc = Mc::new(RP, b"u2", "bob");
    mc.exclude = Some(vec![vec![1, 2, 3], att.credential_id.clone()]);
    h.env.presence.clear_log();
    // Step 12: presence first, then CREDENTIAL_EXCLUDED.
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));
    assert_eq!(h.presence_count(), 1);
    // "Regardless of whether user presence is obtained or the authenticator
    // times out": still CREDENTIAL_EXCLUDED; only a cancel ends it as 0x2D.
    h.env.presence.push(Err(PresenceError::Denied));
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));
    h.env.presence.push(Err(PresenceError::Timeout));
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));
    h.env.presence.push(Err(PresenceError::Cancelled));
    assert_eq!(h.make_credential(&mc).err(), Some(0x2D));
    // The same ID excluded for another RP is not ours there.
    let mut other = mc.clone();
    other.rp_id = "other.example".into();
    h.make_credential(&other).unwrap();
    // A deleted discoverable credential no longer excludes.
    let rk = h
        .make_credential(&Mc::new(RP, b"u3", "carol").rk())
        .unwrap();
    let mut mc3 = Mc::new(RP, b"u4", "dave");
    mc3.exclude = Some(vec![rk.credential_id.clone()]);
    assert_eq!(h.make_credential(&mc3).err(), Some(0x19));
    let key = h
        .env
        .store
        .inner
        .keys()
        .find(|k| k.starts_with(b"cred/"))
        .unwrap()
        .to_vec();
    h.env.store.delete(&key).unwrap();
    h.make_credential(&mc3).unwrap();
}

#[test]
fn up_false_and_uv_true_are_invalid_options() {
    let mut h = Harness::new();
    // Step 5: "up" false → INVALID_OPTION; "uv" true without built-in UV.
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "a").option("up", false))
            .err(),
        Some(0x2C)
    );
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "a").option("uv", true))
            .err(),
        Some(0x2C)
    );
    assert_eq!(h.presence_count(), 0);
    // Unknown options are ignored; up=true and uv=false are fine.
    let mc = Mc::new(RP, b"u", "a")
        .option("up", true)
        .option("uv", false)
        .option("zzz", true);
    h.make_credential(&mc).unwrap();
}

#[test]
fn only_rs256_is_unsupported_algorithm() {
    let mut h = Harness::new();
    let rs256 = Value::text_map(vec![
        ("alg", Value::int(-257)),
        ("type", Value::text("public-key")),
    ]);
    let mut mc = Mc::new(RP, b"u", "a");
    mc.algs = vec![rs256.clone()];
    // Step 3.
    assert_eq!(h.make_credential(&mc).err(), Some(0x26));
    // ES256 with an unknown type is not ES256 for public keys.
    let odd = Value::text_map(vec![
        ("alg", Value::int(-7)),
        ("type", Value::text("future")),
    ]);
    mc.algs = vec![odd.clone()];
    assert_eq!(h.make_credential(&mc).err(), Some(0x26));
    // ES256 after others is chosen.
    mc.algs = vec![odd, rs256, es256()];
    h.make_credential(&mc).unwrap();
    // A malformed entry is an error, not skipped.
    mc.algs = vec![
        Value::text_map(vec![("type", Value::text("public-key"))]),
        es256(),
    ];
    assert_eq!(h.make_credential(&mc).err(), Some(0x14));
    mc.algs = vec![Value::text_map(vec![
        ("alg", Value::text("ES256")),
        ("type", Value::text("public-key")),
    ])];
    assert_eq!(h.make_credential(&mc).err(), Some(0x11));
    assert_eq!(h.presence_count(), 1);
}

#[test]
fn platform_probes_prompt_select_and_persist_nothing() {
    for rp in [".dummy", "make.me.blink"] {
        let mut h = Harness::new();
        let att = h
            .make_credential(&Mc::new(rp, b"probe", "probe").rk())
            .unwrap();
        assert_eq!(att.sign_count, 0);
        assert_eq!(h.env.presence.log()[0].operation, Operation::Select);
        assert_eq!(h.env.store.writes(), 0, "{rp}: no write at all");
        assert!(h.env.store.inner.is_empty());
        // The probe's credential ID is useless afterwards.
        assert_eq!(
            h.get_assertion(&Ga::new(rp).allow(&[&att.credential_id]))
                .err(),
            Some(0x2E)
        );
        assert_eq!(h.get_assertion(&Ga::new(rp)).err(), Some(0x2E));
    }
}

#[test]
fn same_rp_and_user_id_replaces_the_old_credential() {
    let mut h = Harness::new();
    let old = h
        .make_credential(&Mc::new(RP, b"same", "alice").rk())
        .unwrap();
    let other = h
        .make_credential(&Mc::new(RP, b"other", "bob").rk())
        .unwrap();
    let new = h
        .make_credential(&Mc::new(RP, b"same", "alice2").rk())
        .unwrap();
    let ids: Vec<Vec<u8>> = list_credentials(&h.env.store)
        .unwrap()
        .into_iter()
        .map(|c| c.credential_id)
        .collect();
    assert_eq!(
        ids,
        vec![new.credential_id.clone(), other.credential_id.clone()]
    );
    // The replaced credential is gone for allowList use too (§6.2.2 step 7).
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&old.credential_id]))
            .err(),
        Some(0x2E)
    );
    // The same user id at another RP is a different account.
    h.make_credential(&Mc::new("other.example", b"same", "alice").rk())
        .unwrap();
    assert_eq!(list_credentials(&h.env.store).unwrap().len(), 3);
}

#[test]
fn store_write_failure_acknowledges_nothing() {
    // An rk makeCredential may write: device secrets (first use), a counter
    // reservation, the record. Fail each in turn: an error, nothing listed.
    for failing in ["secrets", "counter", "record"] {
        let mut h = Harness::new();
        if failing != "secrets" {
            // Creates the secrets and reserves counter values 1..=256.
            h.make_credential(&Mc::new("setup.example", b"s", "s"))
                .unwrap();
        }
        if failing == "counter" {
            // After a restart the next value needs a fresh reservation.
            h.restart();
        }
        let writes = h.env.store.writes();
        h.env.store.fail_next_write();
        assert_eq!(
            h.make_credential(&Mc::new(RP, b"u", "a").rk()).err(),
            Some(0x7F),
            "{failing}"
        );
        assert_eq!(h.env.store.writes(), writes, "{failing}: no partial write");
        assert!(
            list_credentials(&h.env.store).unwrap().is_empty(),
            "{failing}"
        );
        assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
        // The next attempt works.
        h.make_credential(&Mc::new(RP, b"u", "a").rk()).unwrap();
        assert_eq!(list_credentials(&h.env.store).unwrap().len(), 1);
    }
}

#[test]
fn a_full_store_answers_key_store_full_and_keeps_what_it_had() {
    // CTAP 2.1 §6.1.2 step 17: no space for a discoverable credential is
    // CTAP2_ERR_KEY_STORE_FULL (0x28), which clients explain to the user,
    // not the 0x7F of other failures.
    let mut h = Harness::new();
    h.make_credential(&Mc::new(RP, b"u", "a").rk()).unwrap();
    h.env.store.fill_up();
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"v", "b").rk()).err(),
        Some(0x28)
    );
    assert_eq!(list_credentials(&h.env.store).unwrap().len(), 1);
    // Reading needs no room: the stored passkey still signs in.
    h.get_assertion(&Ga::new(RP)).unwrap();
}

#[test]
fn pin_uv_auth_param_rows() {
    let mut h = Harness::new();
    // Step 1: zero-length pinUvAuthParam → presence (Select), then PIN_NOT_SET.
    let mut mc = Mc::new(RP, b"u", "a");
    mc.pin_uv_auth_param = Some(vec![]);
    mc.pin_uv_auth_protocol = Some(1);
    assert_eq!(h.make_credential(&mc).err(), Some(0x35));
    assert_eq!(h.env.presence.log()[0].operation, Operation::Select);
    h.env.presence.push(Err(PresenceError::Denied));
    assert_eq!(h.make_credential(&mc).err(), Some(0x27));
    h.env.presence.push(Err(PresenceError::Timeout));
    assert_eq!(h.make_credential(&mc).err(), Some(0x2F));
    // Step 2: without protocol → MISSING_PARAMETER; unknown → INVALID_PARAMETER.
    let presence_before = h.presence_count();
    mc.pin_uv_auth_param = Some(vec![0; 16]);
    mc.pin_uv_auth_protocol = None;
    assert_eq!(h.make_credential(&mc).err(), Some(0x14));
    mc.pin_uv_auth_protocol = Some(3);
    assert_eq!(h.make_credential(&mc).err(), Some(0x02));
    // Step 11: a real-looking param with a known protocol: no PIN is set.
    mc.pin_uv_auth_protocol = Some(2);
    assert_eq!(h.make_credential(&mc).err(), Some(0x35));
    assert_eq!(
        h.presence_count(),
        presence_before,
        "no prompt for steps 2 and 11"
    );
    assert!(h.env.store.inner.is_empty());
}

#[test]
fn enterprise_attestation_and_long_user_id_are_refused() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.extra = vec![(10, Value::Unsigned(1))];
    // Step 9: not enterprise-attestation capable.
    assert_eq!(h.make_credential(&mc).err(), Some(0x02));
    // WebAuthn: user handle at most 64 bytes.
    h.make_credential(&Mc::new(RP, &[7; 64], "a")).unwrap();
    assert_eq!(
        h.make_credential(&Mc::new(RP, &[7; 65], "a")).err(),
        Some(0x03)
    );
    // An empty user handle is no handle (WebAuthn §5.4.3: 1 to 64 bytes):
    // refused before any prompt, discoverable or not, and nothing stored.
    let before = h.presence_count();
    for mc in [Mc::new(RP, b"", "a"), Mc::new(RP, b"", "a").rk()] {
        assert_eq!(h.make_credential(&mc).err(), Some(0x03));
    }
    assert_eq!(h.presence_count(), before);
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
}

#[test]
fn unknown_extensions_and_keys_are_ignored() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.extensions = Some(Value::text_map(vec![
        ("credProtect", Value::Unsigned(2)),
        ("hmac-secret", Value::Bool(true)),
        ("x-unknown", Value::Map(vec![])),
    ]));
    mc.extra = vec![(0x20, Value::text("future parameter"))];
    let att = h.make_credential(&mc).unwrap();
    // Known ones answer (ED set), the unknown one is silently ignored.
    assert_eq!(att.flags & 0x80, 0x80);
    assert_eq!(
        att.extensions,
        Some(Value::text_map(vec![
            ("credProtect", Value::Unsigned(2)),
            ("hmac-secret", Value::Bool(true)),
        ]))
    );
    // But extensions must be a map.
    mc.extensions = Some(Value::Array(vec![]));
    assert_eq!(h.make_credential(&mc).err(), Some(0x11));
}

/// The largest responses of every algorithm still fit the CTAPHID message
/// (getInfo maxMsgSize, 7,609 bytes): a discoverable credential with the
/// longest user fields and every extension output at once (credProtect,
/// credBlob, largeBlobKey, hmac-secret and hmac-secret-mc with two salts), self
/// attestation (the credential's own signature, so ML-DSA-87's 4,627 bytes
/// beside its 2,592-byte public key), then getAssertion with the user. Prints
/// the sizes.
#[test]
fn every_algorithm_fits_the_largest_message() {
    use softkey_authenticator::testing::PinClient;
    let mut h = Harness::all_algorithms();
    let pin = PinClient::new(2);
    for alg in softkey_authenticator::SUPPORTED_ALGORITHMS {
        let rp = format!("{}.example", alg.name().to_lowercase());
        let long = "n".repeat(64);
        let mut mc = Mc::new(&rp, &[7; 64], &long).rk();
        mc.display_name = Some("d".repeat(64));
        mc.algs = vec![Value::text_map(vec![
            ("alg", Value::int(alg.cose())),
            ("type", Value::text("public-key")),
        ])];
        let ka = pin.key_agreement(&mut h.auth, &mut h.env).unwrap();
        let salts = ka.encrypt(&mut h.env, &[9; 64]);
        let hmac_secret_mc = Value::int_map(vec![
            (1, ka.cose_key.clone()),
            (3, Value::bytes(&ka.authenticate(&salts))),
            (2, Value::Bytes(salts)),
            (4, Value::Unsigned(pin.protocol)),
        ]);
        mc.extensions = Some(Value::text_map(vec![
            ("credProtect", Value::Unsigned(1)),
            ("credBlob", Value::bytes(&[1; 32])),
            ("largeBlobKey", Value::Bool(true)),
            ("hmac-secret", Value::Bool(true)),
            ("hmac-secret-mc", hmac_secret_mc),
        ]));
        let made = h.raw(&[&[MAKE_CREDENTIAL][..], &cbor::encode(&mc.to_value())].concat());
        assert_eq!(made[0], 0, "{alg:?}");
        assert!(made.len() <= MAX_MSG_SIZE, "{alg:?}: {} bytes", made.len());
        let asserted = h.raw(
            &[
                &[GET_ASSERTION][..],
                &cbor::encode(&Ga::new(&rp).to_value()),
            ]
            .concat(),
        );
        assert_eq!(asserted[0], 0, "{alg:?}");
        assert!(
            asserted.len() <= MAX_MSG_SIZE,
            "{alg:?}: {} bytes",
            asserted.len()
        );
        println!(
            "{:<10} makeCredential {:>5} B, getAssertion {:>5} B",
            alg.name(),
            made.len(),
            asserted.len()
        );
    }
}
