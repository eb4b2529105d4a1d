//! CTAP1/U2F scenarios (FIDO U2F Raw Message Formats v1.2 §4–§6) through
//! `process_apdu`, U2F ↔ CTAP2 credential interoperability (CTAP 2.1
//! "Interoperating with CTAP1/U2F authenticators"), every U2F row of
//! ARCHITECTURE.md "Malformed requests", and mutated APDUs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use der::Decode;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::SeededRng;
use softkey_authenticator::{Operation, PresenceError};
use x509_cert::Certificate;

const REGISTER: u8 = 0x01;
const AUTHENTICATE: u8 = 0x02;
const VERSION: u8 = 0x03;
const CHECK_ONLY: u8 = 0x07;
const ENFORCE: u8 = 0x03;
const DONT_ENFORCE: u8 = 0x08;

const OK: u16 = 0x9000;
const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
const WRONG_DATA: u16 = 0x6A80;
const WRONG_LENGTH: u16 = 0x6700;
const CLA_NOT_SUPPORTED: u16 = 0x6E00;
const INS_NOT_SUPPORTED: u16 = 0x6D00;

const CHALLENGE: [u8; 32] = [0xCC; 32];
const RP: &str = "example.com";

/// An extended-length APDU without Le (Case 3E, as Chrome sends it; §3.1).
fn apdu(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x00, ins, p1, 0x00, 0x00];
    out.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// python-fido2's `Ctap1.send_apdu` framing: extended Lc (even when zero),
/// data, then Le = 00 00.
fn python_fido2_apdu(ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    [apdu(ins, p1, data).as_slice(), &[0x00, 0x00]].concat()
}

fn register_data(application: &[u8; 32]) -> Vec<u8> {
    [&CHALLENGE[..], application].concat()
}

fn authenticate_data(application: &[u8; 32], key_handle: &[u8]) -> Vec<u8> {
    let len = u8::try_from(key_handle.len()).unwrap();
    [&CHALLENGE[..], application, &[len], key_handle].concat()
}

/// Splits `data || SW1 SW2`.
fn split(response: &[u8]) -> (&[u8], u16) {
    assert!(response.len() >= 2, "no status word: {response:02X?}");
    let (data, sw) = response.split_at(response.len() - 2);
    (data, u16::from_be_bytes([sw[0], sw[1]]))
}

/// The status word of an answer that must carry no data.
fn status(response: &[u8]) -> u16 {
    let (data, sw) = split(response);
    assert!(data.is_empty(), "error SW {sw:04X} with data");
    sw
}

fn send(h: &mut Harness, apdu: &[u8]) -> Vec<u8> {
    h.auth.process_apdu(&mut h.env, apdu)
}

/// A verified U2F registration (§4.3).
struct Registration {
    public_key: VerifyingKey,
    key_handle: Vec<u8>,
    certificate: Certificate,
}

/// Length of the DER element at the start of `bytes` (tag, length, value).
fn der_len(bytes: &[u8]) -> usize {
    assert_eq!(bytes[0], 0x30, "certificate is a SEQUENCE");
    match bytes[1] {
        n @ 0..=0x7F => 2 + usize::from(n),
        0x81 => 3 + usize::from(bytes[2]),
        0x82 => 4 + usize::from(u16::from_be_bytes([bytes[2], bytes[3]])),
        other => panic!("unexpected DER length byte {other:02X}"),
    }
}

fn register(h: &mut Harness, application: &[u8; 32]) -> Registration {
    let response = send(h, &apdu(REGISTER, 0x03, &register_data(application)));
    let (data, sw) = split(&response);
    assert_eq!(sw, OK);
    assert_eq!(data[0], 0x05, "reserved byte");
    let public_key = VerifyingKey::from_sec1_bytes(&data[1..66]).unwrap();
    assert_eq!(data[1], 0x04, "uncompressed point");
    let kh_len = usize::from(data[66]);
    let key_handle = data[67..67 + kh_len].to_vec();
    let rest = &data[67 + kh_len..];
    let cert_len = der_len(rest);
    let certificate = Certificate::from_der(&rest[..cert_len]).unwrap();
    let signature = DerSignature::from_bytes(&rest[cert_len..]).unwrap();
    // §4.3: signed by the attestation key over
    // 0x00 || application || challenge || key handle || public key.
    let attestation_key = VerifyingKey::from_sec1_bytes(
        certificate
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
    .unwrap();
    let signed = [
        &[0x00][..],
        application,
        &CHALLENGE,
        &key_handle,
        &data[1..66],
    ]
    .concat();
    attestation_key
        .verify(&signed, &signature)
        .expect("registration signature verifies with the certificate's key");
    let mut tampered = signed.clone();
    tampered[1] ^= 1;
    assert!(attestation_key.verify(&tampered, &signature).is_err());
    Registration {
        public_key,
        key_handle,
        certificate,
    }
}

/// A verified U2F authentication response (§5.4): `(user present, counter)`.
fn authenticate(
    h: &mut Harness,
    p1: u8,
    application: &[u8; 32],
    key_handle: &[u8],
    public_key: &VerifyingKey,
) -> (u8, u32) {
    let response = send(
        h,
        &apdu(
            AUTHENTICATE,
            p1,
            &authenticate_data(application, key_handle),
        ),
    );
    let (data, sw) = split(&response);
    assert_eq!(sw, OK);
    let up = data[0];
    let counter = u32::from_be_bytes(data[1..5].try_into().unwrap());
    let signature = DerSignature::from_bytes(&data[5..]).unwrap();
    let signed = [application, &data[..5], &CHALLENGE].concat();
    public_key
        .verify(&signed, &signature)
        .expect("authentication signature verifies");
    (up, counter)
}

fn authenticate_sw(h: &mut Harness, p1: u8, application: &[u8; 32], key_handle: &[u8]) -> u16 {
    status(&send(
        h,
        &apdu(
            AUTHENTICATE,
            p1,
            &authenticate_data(application, key_handle),
        ),
    ))
}

#[test]
fn version_is_u2f_v2() {
    let mut h = Harness::new();
    let response = send(&mut h, &apdu(VERSION, 0, &[]));
    assert_eq!(response, b"U2F_V2\x90\x00");
    // Case 2E, and python-fido2's framing (a zero Lc, then Le).
    assert_eq!(send(&mut h, &[0, 3, 0, 0, 0, 0, 0]), b"U2F_V2\x90\x00");
    assert_eq!(
        send(&mut h, &python_fido2_apdu(VERSION, 0, &[])),
        b"U2F_V2\x90\x00"
    );
}

#[test]
fn python_fido2_framing_registers_and_authenticates() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let response = send(
        &mut h,
        &python_fido2_apdu(REGISTER, 0, &register_data(&app)),
    );
    let (data, sw) = split(&response);
    assert_eq!(sw, OK);
    let public_key = VerifyingKey::from_sec1_bytes(&data[1..66]).unwrap();
    let key_handle = data[67..67 + usize::from(data[66])].to_vec();
    for p1 in [ENFORCE, DONT_ENFORCE] {
        let response = send(
            &mut h,
            &python_fido2_apdu(AUTHENTICATE, p1, &authenticate_data(&app, &key_handle)),
        );
        let (data, sw) = split(&response);
        assert_eq!(sw, OK);
        let signature = DerSignature::from_bytes(&data[5..]).unwrap();
        public_key
            .verify(&[&app[..], &data[..5], &CHALLENGE].concat(), &signature)
            .unwrap();
    }
    let response = send(
        &mut h,
        &python_fido2_apdu(
            AUTHENTICATE,
            CHECK_ONLY,
            &authenticate_data(&app, &key_handle),
        ),
    );
    assert_eq!(status(&response), CONDITIONS_NOT_SATISFIED);
}

#[test]
fn register_then_authenticate_all_control_bytes() {
    let mut h = Harness::new();
    let app = rp_id_hash("https://u2f.example.com/app-id.json");
    let reg = register(&mut h, &app);
    // The certificate is a parseable X.509 v3 certificate.
    assert!(!reg.certificate.tbs_certificate().subject().is_empty());
    // §4.1: the user was asked, without any invented site name.
    let log = h.env.presence.log().to_vec();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].operation, Operation::Register);
    assert_eq!(log[0].rp_id, format!("U2F app {}", hex4(&app)));
    assert_eq!(log[0].user_name, None);

    // Enforce presence: UP byte 1, one prompt.
    h.env.presence.clear_log();
    let (up, c1) = authenticate(&mut h, ENFORCE, &app, &reg.key_handle, &reg.public_key);
    assert_eq!(up, 0x01);
    assert_eq!(h.env.presence.log().len(), 1);
    assert_eq!(h.env.presence.log()[0].operation, Operation::SignIn);

    // Check-only: "success" is SW_CONDITIONS_NOT_SATISFIED; no prompt, no
    // counter value used.
    h.env.presence.clear_log();
    assert_eq!(
        authenticate_sw(&mut h, CHECK_ONLY, &app, &reg.key_handle),
        CONDITIONS_NOT_SATISFIED
    );
    assert!(h.env.presence.log().is_empty());

    // Don't enforce: UP byte 0, no prompt, counter strictly increasing.
    let (up, c2) = authenticate(&mut h, DONT_ENFORCE, &app, &reg.key_handle, &reg.public_key);
    assert_eq!(up, 0x00);
    assert!(h.env.presence.log().is_empty());
    assert_eq!(c2, c1 + 1, "check-only consumed no counter value");
    let (_, c3) = authenticate(&mut h, ENFORCE, &app, &reg.key_handle, &reg.public_key);
    assert!(c3 > c2);
}

fn hex4(bytes: &[u8; 32]) -> String {
    bytes[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn no_presence_is_conditions_not_satisfied() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    for answer in [
        PresenceError::Denied,
        PresenceError::Timeout,
        PresenceError::Cancelled,
    ] {
        h.env.presence.push(Err(answer));
        let response = send(&mut h, &apdu(REGISTER, 0x03, &register_data(&app)));
        assert_eq!(status(&response), CONDITIONS_NOT_SATISFIED, "{answer:?}");
    }
    // A refused registration persisted nothing (no secrets, no counter).
    assert_eq!(h.env.store.writes(), 0);

    let reg = register(&mut h, &app);
    for answer in [
        PresenceError::Denied,
        PresenceError::Timeout,
        PresenceError::Cancelled,
    ] {
        h.env.presence.push(Err(answer));
        assert_eq!(
            authenticate_sw(&mut h, ENFORCE, &app, &reg.key_handle),
            CONDITIONS_NOT_SATISFIED,
            "{answer:?}"
        );
    }
    // The platform polls again and the user touches: it works.
    authenticate(&mut h, ENFORCE, &app, &reg.key_handle, &reg.public_key);
}

#[test]
fn bad_key_handles_are_wrong_data_without_a_prompt() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    h.env.presence.clear_log();
    let other_app = rp_id_hash("other.example");
    for p1 in [CHECK_ONLY, ENFORCE, DONT_ENFORCE] {
        // Another application.
        assert_eq!(
            authenticate_sw(&mut h, p1, &other_app, &reg.key_handle),
            WRONG_DATA
        );
        // Every single bit flip.
        for i in 0..reg.key_handle.len() {
            for bit in [0x01, 0x80] {
                let mut bad = reg.key_handle.clone();
                bad[i] ^= bit;
                assert_eq!(authenticate_sw(&mut h, p1, &app, &bad), WRONG_DATA);
            }
        }
        // Wrong lengths, consistently framed: truncated, extended, empty, 255.
        let kh = &reg.key_handle;
        assert_eq!(
            authenticate_sw(&mut h, p1, &app, &kh[..kh.len() - 1]),
            WRONG_DATA
        );
        assert_eq!(
            authenticate_sw(&mut h, p1, &app, &[kh.as_slice(), &[0]].concat()),
            WRONG_DATA
        );
        assert_eq!(authenticate_sw(&mut h, p1, &app, &[]), WRONG_DATA);
        assert_eq!(authenticate_sw(&mut h, p1, &app, &[0x42; 255]), WRONG_DATA);
    }
    assert!(
        h.env.presence.log().is_empty(),
        "no prompt for foreign keys"
    );
}

#[test]
fn unknown_control_byte_is_wrong_data() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    h.env.presence.clear_log();
    for p1 in [0x00, 0x01, 0x04, 0x09, 0x83, 0xFF] {
        assert_eq!(
            authenticate_sw(&mut h, p1, &app, &reg.key_handle),
            WRONG_DATA,
            "P1 {p1:02X}"
        );
    }
    assert!(h.env.presence.log().is_empty());
}

#[test]
fn malformed_apdus() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    let writes = h.env.store.writes();
    h.env.presence.clear_log();
    let good_auth = apdu(
        AUTHENTICATE,
        ENFORCE,
        &authenticate_data(&app, &reg.key_handle),
    );
    // Bad CLA (§3.3 SW_CLA_NOT_SUPPORTED) on every instruction.
    for ins in [REGISTER, AUTHENTICATE, VERSION] {
        let mut bad = apdu(ins, 0, &[]);
        bad[0] = 0x80;
        assert_eq!(status(&send(&mut h, &bad)), CLA_NOT_SUPPORTED);
    }
    let mut bad = good_auth.clone();
    bad[0] = 0x01;
    assert_eq!(status(&send(&mut h, &bad)), CLA_NOT_SUPPORTED);
    // Unknown INS (SW_INS_NOT_SUPPORTED), vendor range included.
    for ins in [0x00, 0x04, 0x10, 0x40, 0xBF, 0xC0, 0xFF] {
        assert_eq!(
            status(&send(&mut h, &apdu(ins, 0, &[1, 2, 3]))),
            INS_NOT_SUPPORTED
        );
    }
    // SW_WRONG_LENGTH: truncated header, Lc larger than the data, trailing
    // bytes, extended Lc with a short Le, zero Lc with data.
    for bad in [
        vec![],
        vec![0x00],
        vec![0x00, 0x03, 0x00],
        good_auth[..good_auth.len() - 1].to_vec(),
        [good_auth.as_slice(), &[0x00]].concat(),
        [good_auth.as_slice(), &[0x00, 0x00, 0x00]].concat(),
        vec![0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, 0xAA],
    ] {
        assert_eq!(status(&send(&mut h, &bad)), WRONG_LENGTH, "{bad:02X?}");
    }
    // Per-instruction data lengths: REGISTER needs exactly 64 bytes.
    for len in [0, 1, 63, 65, 200] {
        let data = vec![0x11; len];
        assert_eq!(
            status(&send(&mut h, &apdu(REGISTER, 0, &data))),
            WRONG_LENGTH,
            "register with {len} bytes"
        );
    }
    // AUTHENTICATE: fewer than 65 bytes, or L not matching the key handle.
    let auth = authenticate_data(&app, &reg.key_handle);
    for bad in [
        auth[..64].to_vec(),
        auth[..auth.len() - 1].to_vec(),
        [auth.as_slice(), &[0x00]].concat(),
    ] {
        assert_eq!(
            status(&send(&mut h, &apdu(AUTHENTICATE, ENFORCE, &bad))),
            WRONG_LENGTH
        );
    }
    // VERSION with data.
    assert_eq!(status(&send(&mut h, &apdu(VERSION, 0, &[0]))), WRONG_LENGTH);
    // Nothing was asked or written by any of them.
    assert!(h.env.presence.log().is_empty());
    assert_eq!(h.env.store.writes(), writes);
}

#[test]
fn short_encodings_work_too() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    let data = authenticate_data(&app, &reg.key_handle);
    // Case 3S and 4S (short Lc, optional short Le), and 4E.
    let mut short = vec![0x00, AUTHENTICATE, DONT_ENFORCE, 0x00];
    short.push(u8::try_from(data.len()).unwrap());
    short.extend_from_slice(&data);
    assert_eq!(split(&send(&mut h, &short)).1, OK);
    short.push(0x00);
    assert_eq!(split(&send(&mut h, &short)).1, OK);
    let extended_le = [
        apdu(AUTHENTICATE, DONT_ENFORCE, &data).as_slice(),
        &[0x01, 0x00],
    ]
    .concat();
    assert_eq!(split(&send(&mut h, &extended_le)).1, OK);
    // Register with Le = 256 (shorter than the response: Le is not a cap).
    let mut reg_le = apdu(REGISTER, 0x03, &register_data(&app));
    reg_le.extend_from_slice(&[0x01, 0x00]);
    let response = send(&mut h, &reg_le);
    let (body, sw) = split(&response);
    assert_eq!(sw, OK);
    assert!(body.len() > 256);
}

#[test]
fn ctap2_credential_authenticates_over_u2f() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"user", "alice")).unwrap();
    let app = rp_id_hash(RP);
    let (up, counter) = authenticate(&mut h, ENFORCE, &app, &att.credential_id, &att.public_key);
    assert_eq!(up, 1);
    assert!(counter > att.sign_count);
    // Bound to its RP like any key handle.
    assert_eq!(
        authenticate_sw(
            &mut h,
            CHECK_ONLY,
            &rp_id_hash("evil.example"),
            &att.credential_id
        ),
        WRONG_DATA
    );
    assert_eq!(
        authenticate_sw(&mut h, CHECK_ONLY, &app, &att.credential_id),
        CONDITIONS_NOT_SATISFIED
    );
}

#[test]
fn discoverable_ctap2_credential_prompt_names_its_account() {
    let mut h = Harness::new();
    let att = h
        .make_credential(&Mc::new(RP, b"user", "alice").rk())
        .unwrap();
    h.env.presence.clear_log();
    authenticate(
        &mut h,
        ENFORCE,
        &rp_id_hash(RP),
        &att.credential_id,
        &att.public_key,
    );
    let log = h.env.presence.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].rp_id, RP, "the stored RP id, not a hash");
    assert_eq!(log[0].user_name.as_deref(), Some("alice"));
}

#[test]
fn u2f_key_handle_works_in_ctap2_get_assertion() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    let (_, u2f_counter) = authenticate(&mut h, ENFORCE, &app, &reg.key_handle, &reg.public_key);
    let assertion = h
        .get_assertion(&Ga::new(RP).allow(&[&reg.key_handle]))
        .unwrap();
    assert_eq!(assertion.credential_id, reg.key_handle);
    assertion.verify(&reg.public_key, &CDH);
    // One counter for both protocols.
    assert!(assertion.sign_count > u2f_counter);
    let (_, again) = authenticate(&mut h, ENFORCE, &app, &reg.key_handle, &reg.public_key);
    assert!(again > assertion.sign_count);
    // Another rpId does not see it; nor does username-less login (a U2F
    // registration is not discoverable).
    assert!(
        h.get_assertion(&Ga::new("other.example").allow(&[&reg.key_handle]))
            .is_err()
    );
    assert!(h.get_assertion(&Ga::new(RP)).is_err());
}

#[test]
fn eddsa_credentials_are_not_u2f_keys() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"user", "alice");
    mc.algs = vec![Value::text_map(vec![
        ("alg", Value::int(-8)),
        ("type", Value::text("public-key")),
    ])];
    let response = h.call(MAKE_CREDENTIAL, &mc.to_value()).unwrap();
    let Value::Bytes(auth_data) = response.get(&Value::Unsigned(2)).unwrap() else {
        panic!("authData is bytes");
    };
    let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
    let credential_id = auth_data[55..55 + len].to_vec();
    h.env.presence.clear_log();
    for p1 in [CHECK_ONLY, ENFORCE, DONT_ENFORCE] {
        assert_eq!(
            authenticate_sw(&mut h, p1, &rp_id_hash(RP), &credential_id),
            WRONG_DATA
        );
    }
    assert!(h.env.presence.log().is_empty());
}

#[test]
fn u2f_ends_a_get_next_assertion_sequence() {
    let mut h = Harness::new();
    for uid in [b"u1", b"u2"] {
        h.make_credential(&Mc::new(RP, uid, "x").rk()).unwrap();
    }
    h.get_assertion(&Ga::new(RP)).unwrap();
    send(&mut h, &apdu(VERSION, 0, &[]));
    // CTAP 2.1 §6.3: NOT_ALLOWED once another command came in between.
    assert_eq!(h.get_next_assertion().err(), Some(0x30));
}

#[test]
fn store_failure_is_an_error_status_not_a_signature() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    // Exhaust the counter reservation so the next value needs a write.
    loop {
        let (_, c) = authenticate(&mut h, DONT_ENFORCE, &app, &reg.key_handle, &reg.public_key);
        if c.is_multiple_of(256) {
            break;
        }
    }
    h.env.store.fail_next_write();
    assert_eq!(
        authenticate_sw(&mut h, DONT_ENFORCE, &app, &reg.key_handle),
        0x6F00
    );
}

/// Mutations of valid APDUs: never a panic, always a status word at the
/// end, error answers carry nothing else, successes end in 9000.
#[test]
fn mutated_apdus_always_get_a_status_word() {
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    let reg = register(&mut h, &app);
    let seeds = [
        apdu(VERSION, 0, &[]),
        python_fido2_apdu(VERSION, 0, &[]),
        python_fido2_apdu(
            AUTHENTICATE,
            DONT_ENFORCE,
            &authenticate_data(&app, &reg.key_handle),
        ),
        apdu(REGISTER, 0x03, &register_data(&app)),
        apdu(
            AUTHENTICATE,
            ENFORCE,
            &authenticate_data(&app, &reg.key_handle),
        ),
        apdu(
            AUTHENTICATE,
            DONT_ENFORCE,
            &authenticate_data(&app, &reg.key_handle),
        ),
        apdu(
            AUTHENTICATE,
            CHECK_ONLY,
            &authenticate_data(&app, &reg.key_handle),
        ),
    ];
    // Deny presence so most mutants stop early; dont-enforce still signs.
    h.env.presence.set_default(Err(PresenceError::Denied));
    let known = [
        OK,
        CONDITIONS_NOT_SATISFIED,
        WRONG_DATA,
        WRONG_LENGTH,
        CLA_NOT_SUPPORTED,
        INS_NOT_SUPPORTED,
    ];
    let mut rng = SeededRng::new(0xF022);
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..4000 {
        let mut m = seeds[i % seeds.len()].clone();
        for _ in 0..=rng.below(3) {
            match rng.below(6) {
                0 if !m.is_empty() => {
                    let at = rng.below(m.len());
                    m[at] ^= 1 << rng.below(8);
                }
                1 => m.truncate(rng.below(m.len() + 1)),
                2 => {
                    let n = rng.below(4) + 1;
                    let mut extra = vec![0; n];
                    rng.fill(&mut extra);
                    m.extend_from_slice(&extra);
                }
                3 if m.len() > 7 => {
                    // Length bytes are where parsers break.
                    let at = 4 + rng.below(3);
                    let mut b = [0u8];
                    rng.fill(&mut b);
                    m[at] = b[0];
                }
                4 if m.len() > 2 => m[2] = u8::try_from(rng.below(256)).unwrap(),
                _ => {
                    let n = rng.below(8);
                    m = vec![0; n];
                    rng.fill(&mut m);
                }
            }
        }
        let response = send(&mut h, &m);
        let (data, sw) = split(&response);
        assert!(known.contains(&sw), "SW {sw:04X} for {m:02X?}");
        if sw != OK {
            assert!(data.is_empty(), "error with data for {m:02X?}");
        }
        seen.insert(sw);
    }
    // The mutants reached every answer, not just the length check.
    assert_eq!(seen.len(), known.len(), "{seen:04X?}");
}

#[test]
fn cred_protect_uv_required_is_not_a_u2f_key() {
    // CTAP 2.1 §12.1: a userVerificationRequired credential needs UV, which
    // U2F cannot give; userVerificationOptionalWithCredentialIDList is
    // usable because U2F always names the key handle.
    let mut h = Harness::new();
    let app = rp_id_hash(RP);
    for (level, expected) in [(3, WRONG_DATA), (2, CONDITIONS_NOT_SATISFIED)] {
        let mut mc = Mc::new(RP, b"user", "alice");
        mc.extensions = Some(Value::text_map(vec![(
            "credProtect",
            Value::Unsigned(level),
        )]));
        let response = h.call(MAKE_CREDENTIAL, &mc.to_value()).unwrap();
        let Value::Bytes(auth_data) = response.get(&Value::Unsigned(2)).unwrap() else {
            panic!("authData is bytes");
        };
        let len = usize::from(u16::from_be_bytes([auth_data[53], auth_data[54]]));
        let credential_id = auth_data[55..55 + len].to_vec();
        assert_eq!(
            authenticate_sw(&mut h, CHECK_ONLY, &app, &credential_id),
            expected,
            "credProtect {level}"
        );
    }
}
