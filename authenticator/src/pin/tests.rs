//! clientPIN scenarios through `process_cbor`, from the platform side
//! ([`crate::testing::PinClient`]), for both PIN/UV auth protocols.

use core::time::Duration;

use super::*;
use crate::env::{PresenceError, Store};
use crate::testing::{PinClient, TestEnv, client_pin, pad_pin};
use crate::{Authenticator, Config};

pub(super) const PIN: &str = "1234";

fn setup(protocol: u64) -> (TestEnv, Authenticator, PinClient) {
    let mut env = TestEnv::new(5);
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    (env, auth, PinClient::new(protocol))
}

pub(super) fn with_pin(protocol: u64) -> (TestEnv, Authenticator, PinClient) {
    let (mut env, mut auth, c) = setup(protocol);
    c.set_pin(&mut auth, &mut env, PIN).unwrap();
    (env, auth, c)
}

pub(super) fn key_agreement_bytes(
    auth: &mut Authenticator,
    env: &mut TestEnv,
    protocol: u64,
) -> Value {
    client_pin(
        auth,
        env,
        vec![(1, Value::Unsigned(protocol)), (2, Value::Unsigned(2))],
    )
    .unwrap()
}

#[test]
fn set_pin_then_token_round_trip_both_protocols() {
    for p in [1, 2] {
        let (mut env, mut auth, c) = setup(p);
        assert!(!auth.pin_is_set(&mut env).unwrap());
        c.set_pin(&mut auth, &mut env, PIN).unwrap();
        assert!(auth.pin_is_set(&mut env).unwrap());
        assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
        let token = c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
        assert_eq!(token.len(), 32, "protocol {p}");
        // The token verifies a pinUvAuthParam for mc (default permissions).
        let param = c.auth_param(&token, b"cdh");
        auth.verify_pin_uv_auth_param(
            &mut env,
            p,
            &param,
            b"cdh",
            Permission::MakeCredential,
            Some("a.example"),
        )
        .unwrap();
        // Stored: LEFT(SHA-256(PIN), 16), not the PIN.
        let stored = env.store.get(crate::store_keys::PIN).unwrap().unwrap();
        assert_eq!(
            &stored[1..17],
            &crate::testing::pin_hash(PIN.as_bytes())[..]
        );
    }
}

#[test]
fn key_agreement_is_cose_ecdh_p256() {
    let (mut env, mut auth, _) = setup(2);
    let r = key_agreement_bytes(&mut auth, &mut env, 2);
    let k = r.get(&Value::Unsigned(1)).unwrap();
    assert_eq!(k.get(&Value::int(1)), Some(&Value::int(2)));
    assert_eq!(k.get(&Value::int(3)), Some(&Value::int(-25)));
    assert_eq!(k.get(&Value::int(-1)), Some(&Value::int(1)));
    // Same key until a power-up or a mismatch.
    assert_eq!(key_agreement_bytes(&mut auth, &mut env, 2), r);
    auth.power_up(&mut env);
    assert_ne!(key_agreement_bytes(&mut auth, &mut env, 2), r);
}

#[test]
fn set_pin_twice_is_pin_auth_invalid() {
    // §6.5.5.5 step 3: CTAP2_ERR_PIN_AUTH_INVALID (0x33) once a PIN is set;
    // CTAP 2.0's NOT_ALLOWED (0x30) is gone in 2.1 (OpenSK and the Trussed
    // authenticator answer 0x33 too).
    let (mut env, mut auth, c) = with_pin(2);
    assert_eq!(c.set_pin(&mut auth, &mut env, "5678"), Err(0x33));
}

#[test]
fn get_pin_retries_without_a_pin_is_pin_not_set() {
    // §6.5.5.2 has no step for it; python-fido2's device suite
    // (test_clientpin.py::test_set_and_reset) expects CTAP2_ERR_PIN_NOT_SET
    // (0x35) after a factory reset, for both protocols.
    for p in [1, 2] {
        let (mut env, mut auth, c) = setup(p);
        assert_eq!(c.retries(&mut auth, &mut env), Err(0x35));
        c.set_pin(&mut auth, &mut env, PIN).unwrap();
        assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    }
}

#[test]
fn new_pin_policy() {
    // §6.5.5.5 steps 6–7, ARCHITECTURE.md "Malformed requests": a new PIN
    // shorter than minPINLength, longer than 63 bytes or badly padded → 0x37.
    for p in [1, 2] {
        let (mut env, mut auth, c) = setup(p);
        assert_eq!(c.set_pin(&mut auth, &mut env, "123"), Err(0x37));
        assert_eq!(
            c.set_pin(&mut auth, &mut env, "ééé"),
            Err(0x37),
            "3 code points, 6 bytes"
        );
        assert_eq!(c.set_pin(&mut auth, &mut env, ""), Err(0x37));
        assert_eq!(
            c.set_pin_padded(&mut auth, &mut env, &[b'1'; 64]),
            Err(0x37),
            "64 bytes"
        );
        let mut bad_padding = pad_pin(b"12345");
        bad_padding[40] = b'x';
        assert_eq!(
            c.set_pin_padded(&mut auth, &mut env, &bad_padding),
            Err(0x37)
        );
        assert_eq!(
            c.set_pin_padded(&mut auth, &mut env, &pad_pin(&[0xFF, 0xFE, 0xFD, 0xFC])),
            Err(0x37),
            "not UTF-8"
        );
        assert_eq!(
            c.set_pin_padded(&mut auth, &mut env, &[b'1'; 32]),
            Err(0x02),
            "not 64 bytes"
        );
        assert_eq!(
            c.set_pin_padded(&mut auth, &mut env, &[b'1'; 80]),
            Err(0x02)
        );
        assert!(!auth.pin_is_set(&mut env).unwrap());
        // 63 bytes is the longest PIN; 4 code points in 8 bytes is enough.
        c.set_pin(&mut auth, &mut env, &"7".repeat(63)).unwrap();
        let (mut env, mut auth, c) = setup(p);
        c.set_pin(&mut auth, &mut env, "éééé").unwrap();
    }
}

#[test]
fn set_pin_with_wrong_mac_is_pin_auth_invalid() {
    let (mut env, mut auth, c) = setup(2);
    let ka = c.key_agreement(&mut auth, &mut env).unwrap();
    let enc = ka.encrypt(&mut env, &pad_pin(b"1234"));
    let r = client_pin(
        &mut auth,
        &mut env,
        vec![
            (1, Value::Unsigned(2)),
            (2, Value::Unsigned(3)),
            (3, ka.cose_key.clone()),
            (4, Value::Bytes(vec![0; 32])),
            (5, Value::Bytes(enc)),
        ],
    );
    assert_eq!(r, Err(0x33));
    assert!(!auth.pin_is_set(&mut env).unwrap());
}

#[test]
fn change_pin_checks_old_pin_and_invalidates_tokens() {
    let (mut env, mut auth, c) = with_pin(2);
    let token = c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
    assert_eq!(c.change_pin(&mut auth, &mut env, "9999", "5678"), Err(0x31));
    assert_eq!(c.change_pin(&mut auth, &mut env, PIN, "56"), Err(0x37));
    c.change_pin(&mut auth, &mut env, PIN, "5678").unwrap();
    let param = c.auth_param(&token, b"m");
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &param,
            b"m",
            Permission::MakeCredential,
            Some("r")
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x31));
    c.get_token(&mut auth, &mut env, "5678", None, None)
        .unwrap();
}

#[test]
fn pin_operations_without_a_pin_are_pin_not_set() {
    let (mut env, mut auth, c) = setup(2);
    assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x35));
    assert_eq!(c.change_pin(&mut auth, &mut env, PIN, "5678"), Err(0x35));
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &[0; 32],
            b"m",
            Permission::MakeCredential,
            None
        ),
        Err(CtapError::PinNotSet.into())
    );
}

#[test]
fn force_pin_change_blocks_tokens_until_changed() {
    // The right PIN under forcePINChange: getPinToken answers
    // CTAP2_ERR_PIN_INVALID (0x31, §6.5.5.7.1; python-fido2's
    // test_config.py::test_force_pin_change), getPinUvAuthTokenUsingPin-
    // WithPermissions CTAP2_ERR_PIN_POLICY_VIOLATION (0x37, §6.5.5.7.2
    // step 10). Neither costs a retry. §6.5.5.6: not to the same PIN.
    for p in [1, 2] {
        let (mut env, mut auth, c) = with_pin(p);
        auth.set_min_pin_length(&mut env, None, None, true).unwrap();
        assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x31));
        assert_eq!(
            c.get_token(&mut auth, &mut env, PIN, Some(0x04), None),
            Err(0x37)
        );
        assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    }
    let (mut env, mut auth, c) = with_pin(2);
    auth.set_min_pin_length(&mut env, None, None, true).unwrap();
    assert_eq!(c.change_pin(&mut auth, &mut env, PIN, PIN), Err(0x37));
    c.change_pin(&mut auth, &mut env, PIN, "24680").unwrap();
    assert!(!auth.device_settings(&mut env).unwrap().force_pin_change);
    c.get_token(&mut auth, &mut env, "24680", None, None)
        .unwrap();
}

#[test]
fn set_min_pin_length_rules() {
    // §6.11.4.
    let (mut env, mut auth, c) = setup(2);
    assert_eq!(
        auth.set_min_pin_length(&mut env, None, None, true),
        Err(CtapError::PinNotSet.into())
    );
    auth.set_min_pin_length(&mut env, Some(6), Some(vec!["rp.example".into()]), false)
        .unwrap();
    assert_eq!(
        auth.set_min_pin_length(&mut env, Some(5), None, false),
        Err(CtapError::PinPolicyViolation.into())
    );
    assert_eq!(c.set_pin(&mut auth, &mut env, "12345"), Err(0x37));
    c.set_pin(&mut auth, &mut env, "123456").unwrap();
    // A longer minimum than the current PIN forces a change.
    auth.set_min_pin_length(&mut env, Some(8), None, false)
        .unwrap();
    let config = auth.device_settings(&mut env).unwrap();
    assert!(config.force_pin_change);
    assert_eq!(config.min_pin_length_rp_ids, vec!["rp.example".to_string()]);
    assert_eq!(
        c.get_token(&mut auth, &mut env, "123456", Some(0x04), None),
        Err(0x37)
    );
    c.change_pin(&mut auth, &mut env, "123456", "12345678")
        .unwrap();
}

#[test]
fn permissions_rules() {
    // §6.5.5.7.2 steps 3–4 and the rpId note.
    let (mut env, mut auth, c) = with_pin(2);
    assert_eq!(
        c.get_token(&mut auth, &mut env, PIN, Some(0), None),
        Err(0x02)
    );
    assert_eq!(
        c.get_token(&mut auth, &mut env, PIN, Some(0x08), None),
        Err(0x40),
        "be"
    );
    assert_eq!(
        c.get_token(&mut auth, &mut env, PIN, Some(0x40 | 0x04), None),
        Err(0x40),
        "pcmr (CTAP 2.2) is granted alone, as the persistent token"
    );
    assert_eq!(
        c.get_token(&mut auth, &mut env, PIN, Some(0x01), None),
        Err(0x02),
        "mc needs rpId"
    );
    // None of these cost a retry.
    assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x04 | 0x10 | 0x20), None)
        .unwrap();
    let p = c.auth_param(&token, b"msg");
    for ok in [
        Permission::CredentialManagement,
        Permission::LargeBlobWrite,
        Permission::AuthenticatorConfig,
    ] {
        auth.verify_pin_uv_auth_param(&mut env, 2, &p, b"msg", ok, None)
            .unwrap();
    }
    // A token without the permission is CTAP2_ERR_PIN_AUTH_INVALID (0x33)
    // where it is used: §6.1.2 step 11.2, §6.2.2 step 6.1.4 (0x40 is only
    // clientPIN's answer to asking for a permission the key cannot grant).
    for missing in [Permission::MakeCredential, Permission::GetAssertion] {
        assert_eq!(
            auth.verify_pin_uv_auth_param(&mut env, 2, &p, b"msg", missing, Some("r")),
            Err(CtapError::PinAuthInvalid.into())
        );
    }
    // Undefined permission bits are ignored (§6.5.5.7.2 step 4): the token
    // carries the defined ones.
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x1_0000_0080 | 0x04), None)
        .unwrap();
    let p = c.auth_param(&token, b"msg");
    auth.verify_pin_uv_auth_param(
        &mut env,
        2,
        &p,
        b"msg",
        Permission::CredentialManagement,
        None,
    )
    .unwrap();
}

#[test]
fn get_pin_token_refuses_permissions_parameters() {
    let (mut env, mut auth, c) = with_pin(2);
    let ka = c.key_agreement(&mut auth, &mut env).unwrap();
    let enc = ka.encrypt(&mut env, &crate::testing::pin_hash(PIN.as_bytes()));
    let r = client_pin(
        &mut auth,
        &mut env,
        vec![
            (1, Value::Unsigned(2)),
            (2, Value::Unsigned(5)),
            (3, ka.cose_key.clone()),
            (6, Value::Bytes(enc)),
            (9, Value::Unsigned(3)),
        ],
    );
    assert_eq!(r, Err(0x02));
}

#[test]
fn rp_binding_and_protocol_checks() {
    let (mut env, mut auth, c) = with_pin(1);
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x02), Some("a.example"))
        .unwrap();
    let p = c.auth_param(&token, b"cdh");
    assert_eq!(p.len(), 16, "protocol 1 MAC");
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            1,
            &p,
            b"cdh",
            Permission::GetAssertion,
            Some("b.example")
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            3,
            &p,
            b"cdh",
            Permission::GetAssertion,
            Some("a.example")
        ),
        Err(CtapError::InvalidParameter.into())
    );
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &p,
            b"cdh",
            Permission::GetAssertion,
            Some("a.example")
        ),
        Err(CtapError::PinAuthInvalid.into()),
        "the protocol 2 token is another token"
    );
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            1,
            &p,
            b"cdX",
            Permission::GetAssertion,
            Some("a.example")
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    auth.verify_pin_uv_auth_param(
        &mut env,
        1,
        &p,
        b"cdh",
        Permission::GetAssertion,
        Some("a.example"),
    )
    .unwrap();
    // An unbound token binds to the first RP it is used for.
    let token = c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
    let p = c.auth_param(&token, b"cdh");
    auth.verify_pin_uv_auth_param(
        &mut env,
        1,
        &p,
        b"cdh",
        Permission::MakeCredential,
        Some("x.example"),
    )
    .unwrap();
    assert_eq!(auth.pin_token_rp_id(), Some("x.example"));
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            1,
            &p,
            b"cdh",
            Permission::MakeCredential,
            Some("y.example")
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
}

#[test]
fn token_expiry_and_consumption() {
    let (mut env, mut auth, c) = with_pin(2);
    // Unused for more than 30 s: stopped by its usage timer (§6.5.2.1), so
    // PIN_AUTH_INVALID like a token never issued (0x38 is reserved in 2.1).
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x04), None)
        .unwrap();
    let p = c.auth_param(&token, b"m");
    env.advance(Duration::from_secs(31));
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &p,
            b"m",
            Permission::CredentialManagement,
            None
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    // Used within 30 s: good for 10 minutes after issue.
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x04), None)
        .unwrap();
    let p = c.auth_param(&token, b"m");
    auth.verify_pin_uv_auth_param(
        &mut env,
        2,
        &p,
        b"m",
        Permission::CredentialManagement,
        None,
    )
    .unwrap();
    env.advance(Duration::from_secs(590));
    auth.verify_pin_uv_auth_param(
        &mut env,
        2,
        &p,
        b"m",
        Permission::CredentialManagement,
        None,
    )
    .unwrap();
    env.advance(Duration::from_secs(11));
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &p,
            b"m",
            Permission::CredentialManagement,
            None
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    // A power-up forgets the token.
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x04), None)
        .unwrap();
    auth.power_up(&mut env);
    let p = c.auth_param(&token, b"m");
    assert_eq!(
        auth.verify_pin_uv_auth_param(
            &mut env,
            2,
            &p,
            b"m",
            Permission::CredentialManagement,
            None
        ),
        Err(CtapError::PinAuthInvalid.into())
    );
    // After an mc/ga consumed it, only lbw remains.
    let token = c
        .get_token(&mut auth, &mut env, PIN, Some(0x01 | 0x10), Some("r"))
        .unwrap();
    let p = c.auth_param(&token, b"m");
    auth.verify_pin_uv_auth_param(&mut env, 2, &p, b"m", Permission::MakeCredential, Some("r"))
        .unwrap();
    auth.consume_pin_token_for_mc_ga();
    assert_eq!(
        auth.verify_pin_uv_auth_param(&mut env, 2, &p, b"m", Permission::MakeCredential, Some("r")),
        Err(CtapError::PinAuthInvalid.into())
    );
    auth.verify_pin_uv_auth_param(&mut env, 2, &p, b"m", Permission::LargeBlobWrite, None)
        .unwrap();
}

#[test]
fn reset_forgets_pin_retries_and_config() {
    let (mut env, mut auth, c) = with_pin(2);
    let _ = c.get_token(&mut auth, &mut env, "0000", None, None);
    auth.toggle_always_uv(&mut env).unwrap();
    auth.enable_enterprise_attestation(&mut env).unwrap();
    let config = auth.device_settings(&mut env).unwrap();
    assert!(config.always_uv && config.enterprise_attestation);
    auth.power_up(&mut env);
    assert_eq!(auth.process_cbor(&mut env, &[0x07]), [0x00]);
    assert!(!auth.pin_is_set(&mut env).unwrap());
    assert_eq!(c.retries(&mut auth, &mut env), Err(0x35));
    assert_eq!(
        auth.device_settings(&mut env).unwrap(),
        DeviceSettings::default()
    );
    c.set_pin(&mut auth, &mut env, "5678").unwrap();
    assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    auth.toggle_always_uv(&mut env).unwrap();
    auth.toggle_always_uv(&mut env).unwrap();
    assert!(!auth.device_settings(&mut env).unwrap().always_uv);
}

#[test]
fn malformed_client_pin_requests() {
    // The clientPIN rows of ARCHITECTURE.md "Malformed requests".
    let (mut env, mut auth, c) = with_pin(2);
    let send = |auth: &mut Authenticator, env: &mut TestEnv, p| client_pin(auth, env, p);
    assert_eq!(
        send(&mut auth, &mut env, vec![(1, Value::Unsigned(2))]),
        Err(0x14),
        "no subCommand"
    );
    assert_eq!(
        send(&mut auth, &mut env, vec![(2, Value::Unsigned(2))]),
        Err(0x14),
        "no protocol"
    );
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![(1, Value::Unsigned(3)), (2, Value::Unsigned(2))]
        ),
        Err(0x02)
    );
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![(1, Value::Unsigned(2)), (2, Value::text("x"))]
        ),
        Err(0x11)
    );
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![(1, Value::Unsigned(2)), (2, Value::Unsigned(0x42))]
        ),
        Err(0x3E)
    );
    for uv in [6, 7] {
        assert_eq!(
            send(
                &mut auth,
                &mut env,
                vec![(1, Value::Unsigned(2)), (2, Value::Unsigned(uv))]
            ),
            Err(0x3E)
        );
    }
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![
                (1, Value::Unsigned(2)),
                (2, Value::Unsigned(5)),
                (3, Value::Bytes(vec![]))
            ]
        ),
        Err(0x11),
        "keyAgreement must be a map"
    );
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![(1, Value::Unsigned(2)), (2, Value::Unsigned(5))]
        ),
        Err(0x14),
        "getPinToken without keyAgreement"
    );
    // A point that is not on the curve.
    let ka = c.key_agreement(&mut auth, &mut env).unwrap();
    let mut bad = ka.cose_key.clone();
    if let Value::Map(pairs) = &mut bad {
        for (k, v) in pairs.iter_mut() {
            if *k == Value::int(-3) {
                *v = Value::Bytes(vec![1; 32]);
            }
        }
    }
    let enc = ka.encrypt(&mut env, &[0; 16]);
    assert_eq!(
        send(
            &mut auth,
            &mut env,
            vec![
                (1, Value::Unsigned(2)),
                (2, Value::Unsigned(5)),
                (3, bad),
                (6, Value::Bytes(enc))
            ]
        ),
        Err(0x02)
    );
    // Neither cost a retry.
    assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    // Trailing garbage / non-canonical CBOR.
    assert_eq!(
        auth.process_cbor(&mut env, &[0x06, 0xA1, 0x02, 0x01, 0x00]),
        [0x12]
    );
    assert_eq!(auth.process_cbor(&mut env, &[0x06]), [0x12]);
}

#[test]
fn set_pin_asks_the_user_and_nothing_else_in_client_pin_does() {
    // setPIN decides who controls the key, so it needs presence (softkey's
    // rule, SECURITY.md): refused, no PIN is set and nothing is stored.
    // Tokens, changes and retries never ask.
    let (mut env, mut auth, c) = setup(2);
    env.presence.push(Err(PresenceError::Denied));
    assert_eq!(c.set_pin(&mut auth, &mut env, PIN), Err(0x27));
    assert!(!auth.pin_is_set(&mut env).unwrap());
    // A PIN the policy refuses is refused before anyone is asked.
    assert_eq!(c.set_pin(&mut auth, &mut env, "12"), Err(0x37));
    assert_eq!(env.presence.log().len(), 1);
    c.set_pin(&mut auth, &mut env, PIN).unwrap();
    let log = env.presence.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].operation, crate::env::Operation::SetPin);
    assert_eq!(log[1].rp_id, "", "a device-wide request names no RP");
    env.presence.set_default(Err(PresenceError::Denied));
    env.presence.clear_log();
    c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
    c.change_pin(&mut auth, &mut env, PIN, "5678").unwrap();
    c.retries(&mut auth, &mut env).unwrap();
    assert!(env.presence.log().is_empty());
}
