//! authenticatorCredentialManagement scenarios (CTAP 2.1 §6.8) driven
//! through `process_cbor` like a platform: PIN, cm token, then the
//! subcommands, for PIN/UV auth protocols 1 and 2.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{
    PERM_ACFG, PERM_CM, PERM_GA, PERM_LBW, PERM_MC, PinClient, Token, cm_request,
};

const PIN: &str = "1234";
const GET_CREDS_METADATA: u8 = 0x01;
const ENUMERATE_RPS_BEGIN: u8 = 0x02;
const ENUMERATE_RPS_NEXT: u8 = 0x03;
const ENUMERATE_CREDENTIALS_BEGIN: u8 = 0x04;
const ENUMERATE_CREDENTIALS_NEXT: u8 = 0x05;
const DELETE_CREDENTIAL: u8 = 0x06;
const UPDATE_USER_INFORMATION: u8 = 0x07;

struct Setup {
    h: Harness,
    token: Token,
    /// (rp, credential ID, public key) in creation order.
    creds: Vec<(&'static str, Vec<u8>, p256::ecdsa::VerifyingKey)>,
}

/// Three discoverable credentials (two at a.example, one at b.example) and
/// one non-discoverable, made before the PIN; then a PIN and a cm token.
fn setup(protocol: u64) -> Setup {
    let mut h = Harness::new();
    let mut creds = Vec::new();
    for (rp, user, name) in [
        ("a.example", &b"ua1"[..], "alice"),
        ("b.example", b"ub1", "bob"),
        ("a.example", b"ua2", "carol"),
    ] {
        let att = h.make_credential(&Mc::new(rp, user, name).rk()).unwrap();
        creds.push((rp, att.credential_id, att.public_key));
    }
    h.make_credential(&Mc::new("a.example", b"nr", "nr"))
        .unwrap();
    let token = pin_and_token(&mut h, protocol, PIN, PERM_CM);
    Setup { h, token, creds }
}

fn cm(
    h: &mut Harness,
    token: Option<&Token>,
    sub: u8,
    params: Option<&Value>,
) -> Result<Option<Value>, u8> {
    send(h, CREDENTIAL_MANAGEMENT, &cm_request(token, sub, params))
}

fn rp_hash_params(rp: &str) -> Value {
    Value::int_map(vec![(1, Value::bytes(&rp_id_hash(rp)))])
}

fn cred_params(id: &[u8]) -> Value {
    Value::int_map(vec![(
        2,
        Value::text_map(vec![
            ("id", Value::bytes(id)),
            ("type", Value::text("public-key")),
        ]),
    )])
}

fn field(v: &Value, key: u64) -> Option<&Value> {
    v.get(&Value::Unsigned(key))
}

fn text_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(&Value::text(key)) {
        Some(Value::Text(t)) => Some(t),
        None => None,
        other => panic!("{key}: {other:?}"),
    }
}

fn cred_id_of(v: &Value) -> Vec<u8> {
    match field(v, 7).and_then(|d| d.get(&Value::text("id"))) {
        Some(Value::Bytes(b)) => b.clone(),
        other => panic!("credentialID {other:?}"),
    }
}

#[test]
fn metadata_counts_discoverable_credentials_only() {
    for protocol in [1, 2] {
        let mut s = setup(protocol);
        let v = cm(&mut s.h, Some(&s.token), GET_CREDS_METADATA, None)
            .unwrap()
            .unwrap();
        // §6.8.2: existing and remaining; the non-discoverable one is not stored.
        assert_eq!(field(&v, 1), Some(&Value::Unsigned(3)));
        let remaining = softkey_authenticator::DEFAULT_MAX_DISCOVERABLE_CREDENTIALS - 3;
        assert_eq!(field(&v, 2), Some(&Value::Unsigned(remaining)));
    }
}

#[test]
fn enumerate_rps_then_credentials_with_totals() {
    for protocol in [1, 2] {
        let mut s = setup(protocol);
        let h = &mut s.h;
        // §6.8.3: RPs in id order, the total only in the Begin response.
        let first = cm(h, Some(&s.token), ENUMERATE_RPS_BEGIN, None)
            .unwrap()
            .unwrap();
        assert_eq!(text_of(field(&first, 3).unwrap(), "id"), Some("a.example"));
        assert_eq!(text_of(field(&first, 3).unwrap(), "name"), Some("RP"));
        assert_eq!(
            field(&first, 4),
            Some(&Value::bytes(&rp_id_hash("a.example")))
        );
        assert_eq!(field(&first, 5), Some(&Value::Unsigned(2)));
        let second = cm(h, None, ENUMERATE_RPS_NEXT, None).unwrap().unwrap();
        assert_eq!(text_of(field(&second, 3).unwrap(), "id"), Some("b.example"));
        assert_eq!(
            field(&second, 4),
            Some(&Value::bytes(&rp_id_hash("b.example")))
        );
        assert_eq!(field(&second, 5), None);
        // Exhausted.
        assert_eq!(cm(h, None, ENUMERATE_RPS_NEXT, None), Err(0x30));

        // §6.8.4: newest first, with user, ID, public key, credProtect.
        let params = rp_hash_params("a.example");
        let c1 = cm(
            h,
            Some(&s.token),
            ENUMERATE_CREDENTIALS_BEGIN,
            Some(&params),
        )
        .unwrap()
        .unwrap();
        assert_eq!(field(&c1, 9), Some(&Value::Unsigned(2)));
        assert_eq!(cred_id_of(&c1), s.creds[2].1);
        let user = field(&c1, 6).unwrap();
        assert_eq!(user.get(&Value::text("id")), Some(&Value::bytes(b"ua2")));
        assert_eq!(text_of(user, "name"), Some("carol"));
        assert_eq!(text_of(user, "displayName"), Some("carol display"));
        assert_eq!(field(&c1, 0x0A), Some(&Value::Unsigned(1)));
        let cose = field(&c1, 8).unwrap();
        let point = s.creds[2].2.to_sec1_point(false);
        assert_eq!(
            cose.get(&Value::int(-2)),
            Some(&Value::bytes(point.x().unwrap()))
        );
        assert_eq!(
            cose.get(&Value::int(-3)),
            Some(&Value::bytes(point.y().unwrap()))
        );
        assert_eq!(cose.get(&Value::int(3)), Some(&Value::int(-7)));
        let c2 = cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None)
            .unwrap()
            .unwrap();
        assert_eq!(cred_id_of(&c2), s.creds[0].1);
        assert_eq!(field(&c2, 9), None);
        assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));

        // A single credential leaves no state behind.
        let params = rp_hash_params("b.example");
        let only = cm(
            h,
            Some(&s.token),
            ENUMERATE_CREDENTIALS_BEGIN,
            Some(&params),
        )
        .unwrap()
        .unwrap();
        assert_eq!(field(&only, 9), Some(&Value::Unsigned(1)));
        assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));
    }
}

#[test]
fn next_without_begin_is_not_allowed() {
    let mut s = setup(2);
    assert_eq!(cm(&mut s.h, None, ENUMERATE_RPS_NEXT, None), Err(0x30));
    assert_eq!(
        cm(&mut s.h, None, ENUMERATE_CREDENTIALS_NEXT, None),
        Err(0x30)
    );
    // The wrong kind of "next" is refused too, and ends the enumeration.
    cm(&mut s.h, Some(&s.token), ENUMERATE_RPS_BEGIN, None).unwrap();
    assert_eq!(
        cm(&mut s.h, None, ENUMERATE_CREDENTIALS_NEXT, None),
        Err(0x30)
    );
    assert_eq!(cm(&mut s.h, None, ENUMERATE_RPS_NEXT, None), Err(0x30));
}

#[test]
fn enumeration_state_goes_stale() {
    let mut s = setup(2);
    let params = rp_hash_params("a.example");
    let token = s.token.clone();
    let h = &mut s.h;
    let begin = |h: &mut Harness| {
        cm(h, Some(&token), ENUMERATE_CREDENTIALS_BEGIN, Some(&params)).unwrap();
    };
    // Another command in between.
    begin(h);
    h.call0(GET_INFO).unwrap();
    assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));
    // Another credential management subcommand in between.
    begin(h);
    cm(h, Some(&token), GET_CREDS_METADATA, None).unwrap();
    assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));
    // A malformed credential management request in between.
    begin(h);
    assert_eq!(h.raw(&[CREDENTIAL_MANAGEMENT, 0xFF]), [0x12]);
    assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));
    // The 30 s timer.
    begin(h);
    h.env.advance(Duration::from_secs(31));
    assert_eq!(cm(h, None, ENUMERATE_CREDENTIALS_NEXT, None), Err(0x30));
    // A power-up.
    let token = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
        .unwrap();
    cm(h, Some(&token), ENUMERATE_RPS_BEGIN, None).unwrap();
    h.auth.power_up(&mut h.env);
    assert_eq!(cm(h, None, ENUMERATE_RPS_NEXT, None), Err(0x30));
    // Within 30 s it works.
    let token = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
        .unwrap();
    cm(h, Some(&token), ENUMERATE_RPS_BEGIN, None).unwrap();
    h.env.advance(Duration::from_secs(29));
    assert!(cm(h, None, ENUMERATE_RPS_NEXT, None).is_ok());
}

#[test]
fn delete_credential_makes_it_unusable() {
    for protocol in [1, 2] {
        let mut s = setup(protocol);
        let (rp, gone, _) = s.creds[0].clone();
        let kept = s.creds[2].1.clone();
        assert!(s.h.get_assertion(&Ga::new(rp).allow(&[&gone])).is_ok());
        let params = cred_params(&gone);
        assert_eq!(
            cm(&mut s.h, Some(&s.token), DELETE_CREDENTIAL, Some(&params)),
            Ok(None)
        );
        // §6.8.5: gone for allowList and username-less login alike.
        assert_eq!(
            s.h.get_assertion(&Ga::new(rp).allow(&[&gone])).err(),
            Some(0x2E)
        );
        let a = s.h.get_assertion(&Ga::new(rp)).unwrap();
        assert_eq!(a.credential_id, kept);
        assert_eq!(a.number_of_credentials, None);
        let v = cm(&mut s.h, Some(&s.token), GET_CREDS_METADATA, None)
            .unwrap()
            .unwrap();
        assert_eq!(field(&v, 1), Some(&Value::Unsigned(2)));
        // Deleting again, or an unknown ID: NO_CREDENTIALS.
        assert_eq!(
            cm(&mut s.h, Some(&s.token), DELETE_CREDENTIAL, Some(&params)),
            Err(0x2E)
        );
        let unknown = cred_params(&[0x55; 63]);
        assert_eq!(
            cm(&mut s.h, Some(&s.token), DELETE_CREDENTIAL, Some(&unknown)),
            Err(0x2E)
        );
        // No credentialID: MISSING_PARAMETER.
        let empty = Value::int_map(vec![]);
        assert_eq!(
            cm(&mut s.h, Some(&s.token), DELETE_CREDENTIAL, Some(&empty)),
            Err(0x14)
        );
        assert_eq!(
            cm(&mut s.h, Some(&s.token), DELETE_CREDENTIAL, None),
            Err(0x14)
        );
    }
}

#[test]
fn update_user_information_replaces_and_removes_names() {
    for protocol in [1, 2] {
        let mut s = setup(protocol);
        let (rp, id, _) = s.creds[1].clone();
        let user = |uid: &[u8], name: Option<&str>, display: Option<&str>| {
            let mut u = vec![("id", Value::bytes(uid))];
            if let Some(n) = name {
                u.push(("name", Value::text(n)));
            }
            if let Some(d) = display {
                u.push(("displayName", Value::text(d)));
            }
            let mut p = cred_params(&id);
            if let Value::Map(pairs) = &mut p {
                pairs.push((Value::Unsigned(3), Value::text_map(u)));
            }
            p
        };
        // §6.8.6: the user id must match.
        let wrong = user(b"someone-else", Some("x"), None);
        assert_eq!(
            cm(
                &mut s.h,
                Some(&s.token),
                UPDATE_USER_INFORMATION,
                Some(&wrong)
            ),
            Err(0x02)
        );
        // A user is required.
        let no_user = cred_params(&id);
        assert_eq!(
            cm(
                &mut s.h,
                Some(&s.token),
                UPDATE_USER_INFORMATION,
                Some(&no_user)
            ),
            Err(0x14)
        );
        // New name; displayName empty → removed.
        let renamed = user(b"ub1", Some("robert"), Some(""));
        assert_eq!(
            cm(
                &mut s.h,
                Some(&s.token),
                UPDATE_USER_INFORMATION,
                Some(&renamed)
            ),
            Ok(None)
        );
        let params = rp_hash_params(rp);
        let c = cm(
            &mut s.h,
            Some(&s.token),
            ENUMERATE_CREDENTIALS_BEGIN,
            Some(&params),
        )
        .unwrap()
        .unwrap();
        let u = field(&c, 6).unwrap();
        assert_eq!(text_of(u, "name"), Some("robert"));
        assert_eq!(text_of(u, "displayName"), None);
        // Absent name → removed too.
        let bare = user(b"ub1", None, None);
        assert_eq!(
            cm(
                &mut s.h,
                Some(&s.token),
                UPDATE_USER_INFORMATION,
                Some(&bare)
            ),
            Ok(None)
        );
        let c = cm(
            &mut s.h,
            Some(&s.token),
            ENUMERATE_CREDENTIALS_BEGIN,
            Some(&params),
        )
        .unwrap()
        .unwrap();
        let u = field(&c, 6).unwrap();
        assert_eq!(text_of(u, "name"), None);
        assert_eq!(text_of(u, "displayName"), None);
        assert_eq!(u.get(&Value::text("id")), Some(&Value::bytes(b"ub1")));
        // Still one credential, and it still signs.
        assert_eq!(field(&c, 9), Some(&Value::Unsigned(1)));
        let a = s.h.get_assertion(&Ga::new(rp)).unwrap();
        a.verify(&s.creds[1].2, &CDH);
        assert_eq!(a.credential_id, id);
        assert_eq!(a.user_field("id"), Some(Value::bytes(b"ub1")));
    }
}

#[test]
fn authorisation_failures() {
    let mut s = setup(2);
    let h = &mut s.h;
    // §6.8.2 step 1: no pinUvAuthParam → PUAT_REQUIRED.
    assert_eq!(cm(h, None, GET_CREDS_METADATA, None), Err(0x36));
    // Wrong pinUvAuthParam → PIN_AUTH_INVALID.
    let mut req = cm_request(Some(&s.token), GET_CREDS_METADATA, None);
    if let Value::Map(pairs) = &mut req {
        pairs.retain(|(k, _)| *k != Value::Unsigned(4));
        pairs.push((Value::Unsigned(4), Value::bytes(&[0u8; 32])));
    }
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &req), Err(0x33));
    // A param for another subcommand does not verify for this one.
    let mut req = cm_request(Some(&s.token), ENUMERATE_RPS_BEGIN, None);
    if let Value::Map(pairs) = &mut req {
        pairs[0].1 = Value::Unsigned(u64::from(GET_CREDS_METADATA));
    }
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &req), Err(0x33));
    // Protocol missing → MISSING_PARAMETER; unknown → INVALID_PARAMETER.
    let mut req = cm_request(Some(&s.token), GET_CREDS_METADATA, None);
    if let Value::Map(pairs) = &mut req {
        pairs.retain(|(k, _)| *k != Value::Unsigned(3));
    }
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &req), Err(0x14));
    let mut req = cm_request(Some(&s.token), GET_CREDS_METADATA, None);
    if let Value::Map(pairs) = &mut req {
        for (k, v) in pairs.iter_mut() {
            if *k == Value::Unsigned(3) {
                *v = Value::Unsigned(3);
            }
        }
    }
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &req), Err(0x02));
    // A token without cm → PIN_AUTH_INVALID (§6.8.2 step 4 and the like;
    // python-fido2's test_credman.py::test_missing_permissions).
    let other = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_LBW | PERM_ACFG, None)
        .unwrap();
    assert_eq!(cm(h, Some(&other), GET_CREDS_METADATA, None), Err(0x33));
    let mcga = PinClient::new(2)
        .token(
            &mut h.auth,
            &mut h.env,
            PIN,
            PERM_MC | PERM_GA,
            Some("a.example"),
        )
        .unwrap();
    let a = rp_hash_params("a.example");
    assert_eq!(
        cm(h, Some(&mcga), ENUMERATE_CREDENTIALS_BEGIN, Some(&a)),
        Err(0x33)
    );
    // The "next" subcommands need no token (they continue an authorised Begin).
    let cmt = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
        .unwrap();
    cm(h, Some(&cmt), ENUMERATE_RPS_BEGIN, None).unwrap();
    assert!(cm(h, None, ENUMERATE_RPS_NEXT, None).is_ok());
}

#[test]
fn without_a_pin_everything_is_pin_not_set() {
    let mut h = Harness::new();
    h.make_credential(&Mc::new("a.example", b"u", "u").rk())
        .unwrap();
    let fake = Token {
        protocol: 2,
        key: vec![7; 32],
    };
    assert_eq!(cm(&mut h, Some(&fake), GET_CREDS_METADATA, None), Err(0x35));
    assert_eq!(cm(&mut h, None, GET_CREDS_METADATA, None), Err(0x36));
}

#[test]
fn rp_bound_token_reaches_only_its_rp() {
    let mut s = setup(2);
    let h = &mut s.h;
    let bound = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, Some("a.example"))
        .unwrap();
    // Device-wide subcommands need an unbound token (§6.8.2, §6.8.3 step
    // 4: PIN_AUTH_INVALID).
    assert_eq!(cm(h, Some(&bound), GET_CREDS_METADATA, None), Err(0x33));
    assert_eq!(cm(h, Some(&bound), ENUMERATE_RPS_BEGIN, None), Err(0x33));
    // Its own RP: fine; another: PIN_AUTH_INVALID (§6.8.4, §6.8.5 step 4).
    let a = rp_hash_params("a.example");
    let b = rp_hash_params("b.example");
    assert!(cm(h, Some(&bound), ENUMERATE_CREDENTIALS_BEGIN, Some(&a)).is_ok());
    assert_eq!(
        cm(h, Some(&bound), ENUMERATE_CREDENTIALS_BEGIN, Some(&b)),
        Err(0x33)
    );
    let b_cred = cred_params(&s.creds[1].1);
    assert_eq!(
        cm(h, Some(&bound), DELETE_CREDENTIAL, Some(&b_cred)),
        Err(0x33)
    );
    let a_cred = cred_params(&s.creds[0].1);
    assert_eq!(
        cm(h, Some(&bound), DELETE_CREDENTIAL, Some(&a_cred)),
        Ok(None)
    );
    // An unbound token stays unbound after an RP-scoped subcommand.
    let unbound = PinClient::new(2)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
        .unwrap();
    assert!(cm(h, Some(&unbound), ENUMERATE_CREDENTIALS_BEGIN, Some(&b)).is_ok());
    assert!(
        cm(
            h,
            Some(&unbound),
            ENUMERATE_CREDENTIALS_BEGIN,
            Some(&rp_hash_params("a.example"))
        )
        .is_ok()
    );
    assert!(cm(h, Some(&unbound), GET_CREDS_METADATA, None).is_ok());
}

#[test]
fn param_is_verified_over_the_raw_sub_command_params() {
    let mut s = setup(1);
    let h = &mut s.h;
    // Hand-built request bytes (not our encoder): {1: 4, 2: {1: h}, 3: 1, 4: param}.
    let hash = rp_id_hash("b.example");
    let mut params_raw = vec![0xA1, 0x01, 0x58, 0x20];
    params_raw.extend_from_slice(&hash);
    let param = s
        .token
        .auth(&[&[ENUMERATE_CREDENTIALS_BEGIN][..], &params_raw].concat());
    let mut request = vec![CREDENTIAL_MANAGEMENT, 0xA4, 0x01, 0x04, 0x02];
    request.extend_from_slice(&params_raw);
    request.extend_from_slice(&[0x03, 0x01, 0x04, 0x50]);
    request.extend_from_slice(&param);
    let out = h.raw(&request);
    assert_eq!(out[0], 0x00, "{out:02X?}");
    let v = canonical(&out[1..]);
    assert_eq!(field(&v, 9), Some(&Value::Unsigned(1)));
    // The same params with an extra member: the param no longer verifies.
    let mut extra = vec![0xA2, 0x01, 0x58, 0x20];
    extra.extend_from_slice(&hash);
    extra.extend_from_slice(&[0x18, 0x20, 0xF6]);
    let mut request = vec![CREDENTIAL_MANAGEMENT, 0xA4, 0x01, 0x04, 0x02];
    request.extend_from_slice(&extra);
    request.extend_from_slice(&[0x03, 0x01, 0x04, 0x50]);
    request.extend_from_slice(&param);
    assert_eq!(h.raw(&request), [0x33]);
    // A non-canonical encoding of the same params (length as 0x59 0x00 0x20)
    // is refused before any verification, even with a param over those bytes.
    let mut long_form = vec![0xA1, 0x01, 0x59, 0x00, 0x20];
    long_form.extend_from_slice(&hash);
    let param = s
        .token
        .auth(&[&[ENUMERATE_CREDENTIALS_BEGIN][..], &long_form].concat());
    let mut request = vec![CREDENTIAL_MANAGEMENT, 0xA4, 0x01, 0x04, 0x02];
    request.extend_from_slice(&long_form);
    request.extend_from_slice(&[0x03, 0x01, 0x04, 0x50]);
    request.extend_from_slice(&param);
    assert_eq!(h.raw(&request), [0x12]);
}

#[test]
fn prototype_command_byte_is_an_alias() {
    let mut s = setup(2);
    let out = send(
        &mut s.h,
        0x41,
        &cm_request(Some(&s.token), GET_CREDS_METADATA, None),
    );
    let v = out.unwrap().unwrap();
    assert_eq!(field(&v, 1), Some(&Value::Unsigned(3)));
    // State begun under one byte continues under the other.
    send(
        &mut s.h,
        0x41,
        &cm_request(Some(&s.token), ENUMERATE_RPS_BEGIN, None),
    )
    .unwrap();
    assert!(cm(&mut s.h, None, ENUMERATE_RPS_NEXT, None).is_ok());
}

#[test]
fn malformed_requests() {
    let mut s = setup(2);
    let h = &mut s.h;
    // Missing subCommand → MISSING_PARAMETER; wrong types → CBOR_UNEXPECTED_TYPE.
    assert_eq!(
        send(h, CREDENTIAL_MANAGEMENT, &Value::int_map(vec![])),
        Err(0x14)
    );
    let bad = Value::int_map(vec![(1, Value::text("x"))]);
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &bad), Err(0x11));
    let bad = Value::int_map(vec![(1, Value::Unsigned(1)), (2, Value::Unsigned(0))]);
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &bad), Err(0x11));
    let bad = Value::int_map(vec![(1, Value::Unsigned(1)), (4, Value::text("p"))]);
    assert_eq!(send(h, CREDENTIAL_MANAGEMENT, &bad), Err(0x11));
    assert_eq!(h.raw(&[CREDENTIAL_MANAGEMENT]), [0x12]);
    assert_eq!(h.raw(&[CREDENTIAL_MANAGEMENT, 0x80]), [0x11]);
    // Unknown subcommand → INVALID_SUBCOMMAND.
    assert_eq!(cm(h, Some(&s.token), 0x08, None), Err(0x3E));
    assert_eq!(
        send(
            h,
            CREDENTIAL_MANAGEMENT,
            &Value::int_map(vec![(1, Value::Unsigned(300))])
        ),
        Err(0x3E)
    );
    // enumerateCredentialsBegin without rpIDHash, with a short one, with
    // one no credential has.
    let empty = Value::int_map(vec![]);
    assert_eq!(
        cm(h, Some(&s.token), ENUMERATE_CREDENTIALS_BEGIN, Some(&empty)),
        Err(0x14)
    );
    let short = Value::int_map(vec![(1, Value::bytes(&[1; 31]))]);
    assert_eq!(
        cm(h, Some(&s.token), ENUMERATE_CREDENTIALS_BEGIN, Some(&short)),
        Err(0x03)
    );
    let none = rp_hash_params("c.example");
    assert_eq!(
        cm(h, Some(&s.token), ENUMERATE_CREDENTIALS_BEGIN, Some(&none)),
        Err(0x2E)
    );
    // A descriptor of another type names nothing of ours.
    let other = Value::int_map(vec![(
        2,
        Value::text_map(vec![
            ("id", Value::bytes(&s.creds[0].1)),
            ("type", Value::text("future")),
        ]),
    )]);
    assert_eq!(
        cm(h, Some(&s.token), DELETE_CREDENTIAL, Some(&other)),
        Err(0x2E)
    );
    // Deep nesting inside subCommandParams: invalid CBOR, not a panic.
    let mut deep = vec![CREDENTIAL_MANAGEMENT, 0xA2, 0x01, 0x06, 0x02];
    deep.extend_from_slice(&[0xA1, 0x02, 0xA1, 0x61, b'x', 0x81, 0x80]);
    assert_eq!(h.raw(&deep), [0x12]);
}

#[test]
fn no_credentials_at_all() {
    let mut h = Harness::new();
    let token = pin_and_token(&mut h, 2, PIN, PERM_CM);
    let v = cm(&mut h, Some(&token), GET_CREDS_METADATA, None)
        .unwrap()
        .unwrap();
    assert_eq!(field(&v, 1), Some(&Value::Unsigned(0)));
    assert_eq!(
        field(&v, 2),
        Some(&Value::Unsigned(
            softkey_authenticator::DEFAULT_MAX_DISCOVERABLE_CREDENTIALS
        ))
    );
    assert_eq!(
        cm(&mut h, Some(&token), ENUMERATE_RPS_BEGIN, None),
        Err(0x2E)
    );
    assert_eq!(cm(&mut h, None, ENUMERATE_RPS_NEXT, None), Err(0x30));
    // Nothing was written by any of it but the PIN itself.
    let _ = cbor::encode(&v);
}

#[test]
fn cred_protect_and_large_blob_key_are_reported() {
    let mut h = Harness::new();
    let mut mc = Mc::new("c.example", b"uc", "dave").rk();
    mc.extensions = Some(Value::text_map(vec![
        ("credProtect", Value::Unsigned(2)),
        ("largeBlobKey", Value::Bool(true)),
    ]));
    let att = h.make_credential(&mc).unwrap();
    let key = att
        .large_blob_key
        .clone()
        .expect("largeBlobKey in the response");
    let token = pin_and_token(&mut h, 2, PIN, PERM_CM);
    let params = rp_hash_params("c.example");
    let c = cm(
        &mut h,
        Some(&token),
        ENUMERATE_CREDENTIALS_BEGIN,
        Some(&params),
    )
    .unwrap()
    .unwrap();
    // §6.8.4: credProtect (0x0A) and largeBlobKey (0x0B) of the credential.
    assert_eq!(field(&c, 0x0A), Some(&Value::Unsigned(2)));
    assert_eq!(field(&c, 0x0B), Some(&Value::Bytes(key)));
    // A credential made without the extension has no largeBlobKey member.
    let mut s = setup(2);
    let params = rp_hash_params("b.example");
    let c = cm(
        &mut s.h,
        Some(&s.token),
        ENUMERATE_CREDENTIALS_BEGIN,
        Some(&params),
    )
    .unwrap()
    .unwrap();
    assert_eq!(field(&c, 0x0B), None);
}

/// CTAP 2.2 pcmr: the persistent read-only token lists credentials across
/// restarts, never changes them, leaves the ordinary token working, and
/// stops at a PIN change.
#[test]
fn persistent_read_only_token_lists_but_never_changes() {
    const PCMR: u64 = 0x40;
    for protocol in [1, 2] {
        let mut s = setup(protocol);
        let c = PinClient::new(protocol);
        let ro = c
            .token(&mut s.h.auth, &mut s.h.env, PIN, PCMR, None)
            .unwrap();
        let again = c
            .token(&mut s.h.auth, &mut s.h.env, PIN, PCMR, None)
            .unwrap();
        assert_eq!(ro.key, again.key, "one persistent token");
        assert!(cm(&mut s.h, Some(&s.token), GET_CREDS_METADATA, None).is_ok());
        let (_, id, _) = s.creds[0].clone();
        for round in 0..2 {
            let meta = cm(&mut s.h, Some(&ro), GET_CREDS_METADATA, None)
                .unwrap()
                .unwrap();
            assert_eq!(field(&meta, 1), Some(&Value::Unsigned(3)), "round {round}");
            assert!(cm(&mut s.h, Some(&ro), ENUMERATE_RPS_BEGIN, None).is_ok());
            let creds = rp_hash_params("a.example");
            assert!(
                cm(
                    &mut s.h,
                    Some(&ro),
                    ENUMERATE_CREDENTIALS_BEGIN,
                    Some(&creds)
                )
                .is_ok()
            );
            let before = s.h.store_snapshot();
            assert_eq!(
                cm(
                    &mut s.h,
                    Some(&ro),
                    DELETE_CREDENTIAL,
                    Some(&cred_params(&id))
                ),
                Err(0x33)
            );
            let update = rename_params(&id, b"ua1", "x");
            assert_eq!(
                cm(&mut s.h, Some(&ro), UPDATE_USER_INFORMATION, Some(&update)),
                Err(0x33)
            );
            assert_eq!(
                s.h.store_snapshot(),
                before,
                "refused writes change nothing"
            );
            s.h.restart();
        }
        c.change_pin(&mut s.h.auth, &mut s.h.env, PIN, "98765")
            .unwrap();
        assert_eq!(cm(&mut s.h, Some(&ro), GET_CREDS_METADATA, None), Err(0x33));
    }
}

/// getInfo's encIdentifier (0x19) and encCredStoreState (0x1E): present
/// once a persistent token exists, fresh IVs each time, the identifier
/// constant, the state moving with every credential change.
#[test]
fn enc_identifier_and_cred_store_state() {
    use aes::cipher::{BlockModeDecrypt, KeyIvInit};
    let decrypt = |token: &[u8], info: &[u8], value: &Value| -> Vec<u8> {
        let Value::Bytes(bytes) = value else {
            panic!("not bytes")
        };
        assert_eq!(bytes.len(), 32);
        let mut key = [0u8; 16];
        hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0u8; 32]), token)
            .expand(info, &mut key)
            .unwrap();
        let mut block: [u8; 16] = bytes[16..].try_into().unwrap();
        let iv: [u8; 16] = bytes[..16].try_into().unwrap();
        cbc::Decryptor::<aes::Aes128>::new(&key.into(), &iv.into())
            .decrypt_block((&mut block).into());
        block.to_vec()
    };
    let mut s = setup(2);
    let info = s.h.call0(GET_INFO).unwrap();
    assert_eq!(field(&info, 0x19), None, "no persistent token yet");
    let ro = PinClient::new(2)
        .token(&mut s.h.auth, &mut s.h.env, PIN, 0x40, None)
        .unwrap();
    let read = |h: &mut Harness| {
        let info = h.call0(GET_INFO).unwrap();
        let id = field(&info, 0x19).unwrap().clone();
        let state = field(&info, 0x1E).unwrap().clone();
        (id, state)
    };
    let (id1, state1) = read(&mut s.h);
    let (id2, state2) = read(&mut s.h);
    assert_ne!(id1, id2, "a fresh IV each time");
    let identifier = decrypt(&ro.key, b"encIdentifier", &id1);
    assert_eq!(decrypt(&ro.key, b"encIdentifier", &id2), identifier);
    let state = decrypt(&ro.key, b"encCredStoreState", &state1);
    assert_eq!(decrypt(&ro.key, b"encCredStoreState", &state2), state);
    // A changed credential changes the state; a restart does not change
    // the identifier.
    let (_, first, _) = s.creds[0].clone();
    let update = rename_params(&first, b"ua1", "al");
    let token = pin_and_token_again(&mut s.h, 2);
    cm(
        &mut s.h,
        Some(&token),
        UPDATE_USER_INFORMATION,
        Some(&update),
    )
    .unwrap();
    s.h.restart();
    let (id3, state3) = read(&mut s.h);
    assert_eq!(decrypt(&ro.key, b"encIdentifier", &id3), identifier);
    let after = decrypt(&ro.key, b"encCredStoreState", &state3);
    assert_ne!(after, state);
    // A refused change leaves it; a real deletion moves it.
    let (_, id, _) = s.creds[0].clone();
    assert_eq!(
        cm(
            &mut s.h,
            Some(&ro),
            DELETE_CREDENTIAL,
            Some(&cred_params(&id))
        ),
        Err(0x33)
    );
    let (_, state4) = read(&mut s.h);
    assert_eq!(decrypt(&ro.key, b"encCredStoreState", &state4), after);
    let token = pin_and_token_again(&mut s.h, 2);
    cm(
        &mut s.h,
        Some(&token),
        DELETE_CREDENTIAL,
        Some(&cred_params(&id)),
    )
    .unwrap();
    let (_, state5) = read(&mut s.h);
    assert_ne!(decrypt(&ro.key, b"encCredStoreState", &state5), after);
}

/// updateUserInformation's parameters: this credential's user, renamed.
fn rename_params(id: &[u8], user_id: &[u8], name: &str) -> Value {
    let mut params = cred_params(id);
    if let Value::Map(pairs) = &mut params {
        pairs.push((
            Value::Unsigned(3),
            Value::text_map(vec![
                ("id", Value::bytes(user_id)),
                ("name", Value::text(name)),
            ]),
        ));
    }
    params
}

fn pin_and_token_again(h: &mut Harness, protocol: u64) -> Token {
    PinClient::new(protocol)
        .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
        .unwrap()
}
