//! Extensions (CTAP 2.1 §12) end to end through `process_cbor`:
//! hmac-secret (one and two salts, UV and non-UV CredRandom, both PIN/UV
//! protocols), hmac-secret-mc, credBlob and largeBlobKey.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::{PinClient, PlatformSecret};

const RP: &str = "ext.example";
const PIN: &str = "1234";

fn ext(pairs: Vec<(&str, Value)>) -> Option<Value> {
    Some(Value::text_map(pairs))
}

/// The hmac-secret input for `salts` under a fresh key agreement.
fn hmac_input(h: &mut Harness, c: &PinClient, salts: &[u8]) -> (PlatformSecret, Value) {
    let ka = c.key_agreement(&mut h.auth, &mut h.env).unwrap();
    let salt_enc = ka.encrypt(&mut h.env, salts);
    let input = Value::int_map(vec![
        (1, ka.cose_key.clone()),
        (3, Value::bytes(&ka.authenticate(&salt_enc))),
        (2, Value::Bytes(salt_enc)),
        (4, Value::Unsigned(c.protocol)),
    ]);
    (ka, input)
}

/// One getAssertion with hmac-secret; returns the decrypted output.
fn prf(h: &mut Harness, c: &PinClient, ga: Ga, salts: &[u8]) -> Vec<u8> {
    let (ka, input) = hmac_input(h, c, salts);
    let mut ga = ga;
    ga.extensions = ext(vec![("hmac-secret", input)]);
    let a = h.get_assertion(&ga).unwrap();
    assert_eq!(a.flags & 0x80, 0x80, "ED");
    let Some(Value::Bytes(enc)) = a
        .extensions
        .unwrap()
        .get(&Value::text("hmac-secret"))
        .cloned()
    else {
        panic!("no hmac-secret output");
    };
    ka.decrypt(&enc)
}

#[test]
fn hmac_secret_outputs_are_stable_per_salt_and_per_uv() {
    for rk in [false, true] {
        let mut h = Harness::new();
        let mut mc = Mc::new(RP, b"u", "a");
        if rk {
            mc = mc.rk();
        }
        mc.extensions = ext(vec![("hmac-secret", Value::Bool(true))]);
        let att = h.make_credential(&mc).unwrap();
        assert_eq!(
            att.extensions,
            ext(vec![("hmac-secret", Value::Bool(true))])
        );
        let ga = Ga::new(RP).allow(&[&att.credential_id]);
        let c2 = PinClient::new(2);
        let c1 = PinClient::new(1);
        let one = prf(&mut h, &c2, ga.clone(), &[1; 32]);
        assert_eq!(one.len(), 32);
        // Same salt, same output — also through protocol 1.
        assert_eq!(prf(&mut h, &c2, ga.clone(), &[1; 32]), one);
        assert_eq!(prf(&mut h, &c1, ga.clone(), &[1; 32]), one);
        // Another salt, another output; two salts give both.
        let other = prf(&mut h, &c2, ga.clone(), &[2; 32]);
        assert_ne!(other, one);
        let both = prf(&mut h, &c2, ga.clone(), &[[1u8; 32], [2u8; 32]].concat());
        assert_eq!(both, [one.clone(), other].concat());
        // With UV, CredRandom differs (§12.5).
        c2.set_pin(&mut h.auth, &mut h.env, PIN).unwrap();
        let token = c2
            .get_token(&mut h.auth, &mut h.env, PIN, Some(0x02), Some(RP))
            .unwrap();
        let mut uv = ga.clone();
        uv.pin_uv_auth_param = Some(c2.auth_param(&token, &CDH));
        uv.pin_uv_auth_protocol = Some(2);
        let with_uv = prf(&mut h, &c2, uv, &[1; 32]);
        assert_ne!(with_uv, one);
        // Without UV still the old value.
        assert_eq!(prf(&mut h, &c2, ga.clone(), &[1; 32]), one);
    }
}

#[test]
fn hmac_secret_input_errors() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    let ga = Ga::new(RP).allow(&[&att.credential_id]);
    let c = PinClient::new(2);
    // A saltAuth that does not verify.
    let (_, mut input) = hmac_input(&mut h, &c, &[1; 32]);
    if let Value::Map(pairs) = &mut input {
        for (k, v) in pairs.iter_mut() {
            if *k == Value::Unsigned(3) {
                *v = Value::bytes(&[0; 32]);
            }
        }
    }
    let mut bad = ga.clone();
    bad.extensions = ext(vec![("hmac-secret", input)]);
    assert_eq!(h.get_assertion(&bad).err(), Some(0x33));
    // 48 bytes of salt.
    let (_, input) = hmac_input(&mut h, &c, &[1; 48]);
    bad.extensions = ext(vec![("hmac-secret", input)]);
    assert_eq!(h.get_assertion(&bad).err(), Some(0x03));
    // An unsupported protocol.
    let (_, input) = hmac_input(&mut h, &c, &[1; 32]);
    let Value::Map(mut pairs) = input else {
        panic!()
    };
    pairs.retain(|(k, _)| *k != Value::Unsigned(4));
    pairs.push((Value::Unsigned(4), Value::Unsigned(7)));
    bad.extensions = ext(vec![("hmac-secret", Value::Map(pairs))]);
    assert_eq!(h.get_assertion(&bad).err(), Some(0x02));
    // Missing saltAuth.
    bad.extensions = ext(vec![(
        "hmac-secret",
        Value::int_map(vec![(1, Value::Map(vec![])), (2, Value::bytes(&[0; 32]))]),
    )]);
    assert_eq!(h.get_assertion(&bad).err(), Some(0x14));
    // hmac-secret on a silent request.
    let (_, input) = hmac_input(&mut h, &c, &[1; 32]);
    let mut silent = ga.option("up", false);
    silent.extensions = ext(vec![("hmac-secret", input)]);
    assert_eq!(h.get_assertion(&silent).err(), Some(0x2B));
    assert_eq!(h.presence_count(), 1, "only the makeCredential asked");
}

#[test]
fn hmac_secret_mc_matches_the_later_assertion() {
    let mut h = Harness::new();
    let c = PinClient::new(2);
    let (ka, input) = hmac_input(&mut h, &c, &[9; 32]);
    let mut mc = Mc::new(RP, b"u", "a").rk();
    mc.extensions = ext(vec![
        ("hmac-secret", Value::Bool(true)),
        ("hmac-secret-mc", input),
    ]);
    let att = h.make_credential(&mc).unwrap();
    let out = att.extensions.unwrap();
    assert_eq!(
        out.get(&Value::text("hmac-secret")),
        Some(&Value::Bool(true))
    );
    let Some(Value::Bytes(enc)) = out.get(&Value::text("hmac-secret-mc")).cloned() else {
        panic!("no hmac-secret-mc output");
    };
    let at_creation = ka.decrypt(&enc);
    let later = prf(
        &mut h,
        &c,
        Ga::new(RP).allow(&[&att.credential_id]),
        &[9; 32],
    );
    assert_eq!(at_creation, later);
}

#[test]
fn cred_blob_round_trip_and_limits() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a").rk();
    mc.extensions = ext(vec![("credBlob", Value::bytes(&[7; 32]))]);
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(att.extensions, ext(vec![("credBlob", Value::Bool(true))]));
    let mut ga = Ga::new(RP);
    ga.extensions = ext(vec![("credBlob", Value::Bool(true))]);
    let a = h.get_assertion(&ga).unwrap();
    assert_eq!(
        a.extensions,
        ext(vec![("credBlob", Value::bytes(&[7; 32]))])
    );
    // Not asked for: not returned.
    assert_eq!(h.get_assertion(&Ga::new(RP)).unwrap().extensions, None);
    // Too long, or not discoverable: not stored.
    mc.extensions = ext(vec![("credBlob", Value::bytes(&[7; 33]))]);
    mc.user_id = b"v".to_vec();
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(att.extensions, ext(vec![("credBlob", Value::Bool(false))]));
    let mut nr = Mc::new(RP, b"w", "c");
    nr.extensions = ext(vec![("credBlob", Value::bytes(b"x"))]);
    let att = h.make_credential(&nr).unwrap();
    assert_eq!(att.extensions, ext(vec![("credBlob", Value::Bool(false))]));
    let mut ga = Ga::new(RP).allow(&[&att.credential_id]);
    ga.extensions = ext(vec![("credBlob", Value::Bool(true))]);
    let a = h.get_assertion(&ga).unwrap();
    assert_eq!(a.extensions, ext(vec![("credBlob", Value::bytes(b""))]));
}

#[test]
fn silent_requests_get_no_cred_blob_and_no_large_blob_key() {
    // An up=false getAssertion needs no prompt: any local process can send
    // one. It still signs (Chrome probes excludeLists this way), but it
    // reads no secret of the credential: no credBlob, no largeBlobKey (which
    // decrypts the credential's large blob, and largeBlobs get needs no
    // auth). softkey's rule, like hmac-secret's refusal with up=false.
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a").rk();
    mc.extensions = ext(vec![
        ("credBlob", Value::bytes(&[7; 32])),
        ("largeBlobKey", Value::Bool(true)),
    ]);
    let att = h.make_credential(&mc).unwrap();
    let wanted = ext(vec![
        ("credBlob", Value::Bool(true)),
        ("largeBlobKey", Value::Bool(true)),
    ]);
    for ga in [Ga::new(RP), Ga::new(RP).allow(&[&att.credential_id])] {
        let mut silent = ga.clone().option("up", false);
        silent.extensions = wanted.clone();
        let a = h.get_assertion(&silent).unwrap();
        a.verify(&att.public_key, &CDH);
        assert_eq!(a.flags & 0x01, 0, "no UP flag");
        assert_eq!(a.extensions, None, "no credBlob");
        assert_eq!(a.large_blob_key, None);
        // With presence, both come back.
        let mut present = ga;
        present.extensions = wanted.clone();
        let a = h.get_assertion(&present).unwrap();
        assert_eq!(
            a.extensions,
            ext(vec![("credBlob", Value::bytes(&[7; 32]))])
        );
        assert_eq!(a.large_blob_key, att.large_blob_key);
    }
}

#[test]
fn large_blob_key_for_discoverable_credentials() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a").rk();
    mc.extensions = ext(vec![("largeBlobKey", Value::Bool(true))]);
    let att = h.make_credential(&mc).unwrap();
    let key = att.large_blob_key.clone().expect("0x05 largeBlobKey");
    assert_eq!(key.len(), 32);
    assert_eq!(att.flags & 0x80, 0, "not an authData extension");
    let mut ga = Ga::new(RP);
    ga.extensions = ext(vec![("largeBlobKey", Value::Bool(true))]);
    assert_eq!(
        h.get_assertion(&ga).unwrap().large_blob_key,
        Some(key.clone())
    );
    assert_eq!(h.get_assertion(&Ga::new(RP)).unwrap().large_blob_key, None);
    // Another credential, another key.
    let mut mc2 = mc.clone();
    mc2.rp_id = "other.example".into();
    assert_ne!(h.make_credential(&mc2).unwrap().large_blob_key, Some(key));
    // Non-discoverable: no key. false: INVALID_OPTION.
    let mut nr = Mc::new(RP, b"w", "c");
    nr.extensions = ext(vec![("largeBlobKey", Value::Bool(true))]);
    assert_eq!(h.make_credential(&nr).unwrap().large_blob_key, None);
    nr.extensions = ext(vec![("largeBlobKey", Value::Bool(false))]);
    assert_eq!(h.make_credential(&nr).err(), Some(0x2C));
    ga.extensions = ext(vec![("largeBlobKey", Value::Bool(false))]);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x2C));
}

#[test]
fn min_pin_length_is_only_for_listed_rps() {
    // Without setMinPINLength RP ids, no RP gets the output.
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.extensions = ext(vec![("minPinLength", Value::Bool(true))]);
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(att.extensions, None);
    // authenticatorConfig setMinPINLength (0x0D / 0x03) lists the RP; with
    // no PIN set, config needs no pinUvAuthParam (§6.11.1 step 3).
    let params = Value::int_map(vec![
        (1, Value::Unsigned(6)),
        (2, Value::Array(vec![Value::text(RP)])),
    ]);
    let config = Value::int_map(vec![(1, Value::Unsigned(3)), (2, params)]);
    assert_eq!(h.call(0x0D, &config), Ok(Value::Null));
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(
        att.extensions,
        ext(vec![("minPinLength", Value::Unsigned(6))])
    );
    mc.rp_id = "other.example".into();
    assert_eq!(h.make_credential(&mc).unwrap().extensions, None);
}

#[test]
fn third_party_payment_is_kept_with_the_credential_and_reported_when_asked() {
    // CTAP 2.2 §12.9: no makeCredential output; getAssertion answers the
    // credential's flag, true or false, only when the input asks.
    let mut h = Harness::new();
    let payment = || ext(vec![("thirdPartyPayment", Value::Bool(true))]);
    let mut mc = Mc::new(RP, b"p", "payer").rk();
    mc.extensions = payment();
    let discoverable = h.make_credential(&mc).unwrap();
    assert_eq!(discoverable.extensions, None);
    let mut nr = Mc::new(RP, b"q", "quiet");
    nr.extensions = payment();
    let sealed = h.make_credential(&nr).unwrap();
    let plain = h.make_credential(&Mc::new(RP, b"r", "plain")).unwrap();
    for (id, expected) in [
        (&discoverable.credential_id, true),
        (&sealed.credential_id, true),
        (&plain.credential_id, false),
    ] {
        let mut ga = Ga::new(RP).allow(&[id]);
        ga.extensions = payment();
        let a = h.get_assertion(&ga).unwrap();
        assert_eq!(
            a.extensions,
            ext(vec![("thirdPartyPayment", Value::Bool(expected))])
        );
        // Not asked for: no output at all.
        let a = h.get_assertion(&Ga::new(RP).allow(&[id])).unwrap();
        assert_eq!(a.extensions, None);
    }
    // A non-boolean input is the wrong type.
    let mut ga = Ga::new(RP);
    ga.extensions = ext(vec![("thirdPartyPayment", Value::int(1))]);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x11));
}
