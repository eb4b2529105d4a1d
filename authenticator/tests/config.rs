//! authenticatorConfig scenarios (CTAP 2.1 §6.11): each subcommand, the
//! acfg authorisation rules with and without a PIN, and setMinPINLength's
//! effect on PINs and tokens.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::{PERM_ACFG, PERM_CM, PinClient, Token, config_request};
use softkey_authenticator::{DEFAULT_AAGUID, provision_attestation, set_enterprise_rp_ids};

const ENABLE_EP: u8 = 0x01;
const TOGGLE_ALWAYS_UV: u8 = 0x02;
const SET_MIN_PIN_LENGTH: u8 = 0x03;
const PIN: &str = "1234";

fn config(
    h: &mut Harness,
    token: Option<&Token>,
    sub: u8,
    params: Option<&Value>,
) -> Result<(), u8> {
    send(h, CONFIG, &config_request(token, sub, params)).map(|r| assert!(r.is_none()))
}

fn option(h: &mut Harness, name: &str) -> Option<Value> {
    let info = h.call0(GET_INFO).unwrap();
    info.get(&Value::Unsigned(4))
        .and_then(|o| o.get(&Value::text(name)))
        .cloned()
}

fn info(h: &mut Harness, key: u64) -> Option<Value> {
    h.call0(GET_INFO)
        .unwrap()
        .get(&Value::Unsigned(key))
        .cloned()
}

/// A batch attestation and an enterprise RP id: what "ep" needs.
fn provision_ep(h: &mut Harness) {
    let mut counter = 0u8;
    let mut rng = |buf: &mut [u8]| {
        for b in buf {
            counter = counter.wrapping_add(37);
            *b = counter;
        }
    };
    provision_attestation(&mut h.env.store, &mut rng, DEFAULT_AAGUID).unwrap();
    set_enterprise_rp_ids(&mut h.env.store, &["corp.example".to_owned()]).unwrap();
}

fn min_len(n: u64) -> Value {
    Value::int_map(vec![(1, Value::Unsigned(n))])
}

#[test]
fn without_pin_config_runs_unauthenticated() {
    let mut h = Harness::new();
    provision_ep(&mut h);
    assert_eq!(option(&mut h, "ep"), Some(Value::Bool(false)));
    // §6.11.1 step 4 does not apply: no PIN, alwaysUv off.
    assert_eq!(config(&mut h, None, ENABLE_EP, None), Ok(()));
    assert_eq!(option(&mut h, "ep"), Some(Value::Bool(true)));
    assert_eq!(
        config(&mut h, None, SET_MIN_PIN_LENGTH, Some(&min_len(6))),
        Ok(())
    );
    assert_eq!(info(&mut h, 0x0D), Some(Value::Unsigned(6)));
    // A PIN shorter than the new minimum is refused.
    let client = PinClient::new(2);
    assert_eq!(client.set_pin(&mut h.auth, &mut h.env, "12345"), Err(0x37));
    assert_eq!(client.set_pin(&mut h.auth, &mut h.env, "123456"), Ok(()));
}

#[test]
fn toggle_always_uv_and_its_step_3_bypass() {
    let mut h = Harness::new();
    assert_eq!(config(&mut h, None, TOGGLE_ALWAYS_UV, None), Ok(()));
    assert_eq!(option(&mut h, "alwaysUv"), Some(Value::Bool(true)));
    // alwaysUv on, no PIN: other subcommands need a token (step 4.1)...
    assert_eq!(
        config(&mut h, None, SET_MIN_PIN_LENGTH, Some(&min_len(5))),
        Err(0x36)
    );
    // ...but toggleAlwaysUv itself may run (step 3).
    assert_eq!(config(&mut h, None, TOGGLE_ALWAYS_UV, None), Ok(()));
    assert_eq!(option(&mut h, "alwaysUv"), Some(Value::Bool(false)));
}

#[test]
fn with_pin_every_subcommand_needs_an_acfg_token() {
    for protocol in [1, 2] {
        let mut h = Harness::new();
        provision_ep(&mut h);
        let acfg = pin_and_token(&mut h, protocol, PIN, PERM_ACFG);
        // Step 4.1: no param.
        assert_eq!(config(&mut h, None, TOGGLE_ALWAYS_UV, None), Err(0x36));
        // Step 4.4: a wrong param; a param for another subcommand.
        let fake = Token {
            protocol,
            key: vec![1; 32],
        };
        assert_eq!(
            config(&mut h, Some(&fake), TOGGLE_ALWAYS_UV, None),
            Err(0x33)
        );
        let mut req = config_request(Some(&acfg), ENABLE_EP, None);
        if let Value::Map(pairs) = &mut req {
            pairs[0].1 = Value::Unsigned(u64::from(TOGGLE_ALWAYS_UV));
        }
        assert_eq!(send(&mut h, CONFIG, &req), Err(0x33));
        // Step 4.5: a token without acfg is PIN_AUTH_INVALID.
        let cm = PinClient::new(protocol)
            .token(&mut h.auth, &mut h.env, PIN, PERM_CM, None)
            .unwrap();
        assert_eq!(config(&mut h, Some(&cm), TOGGLE_ALWAYS_UV, None), Err(0x33));
        // Step 4.2 / 4.3: protocol missing or unknown.
        let mut req = config_request(Some(&acfg), TOGGLE_ALWAYS_UV, None);
        if let Value::Map(pairs) = &mut req {
            pairs.retain(|(k, _)| *k != Value::Unsigned(3));
        }
        assert_eq!(send(&mut h, CONFIG, &req), Err(0x14));
        let mut req = config_request(Some(&acfg), TOGGLE_ALWAYS_UV, None);
        if let Value::Map(pairs) = &mut req {
            for (k, v) in pairs.iter_mut() {
                if *k == Value::Unsigned(3) {
                    *v = Value::Unsigned(7);
                }
            }
        }
        assert_eq!(send(&mut h, CONFIG, &req), Err(0x02));
        // Properly authorised: each subcommand works.
        let acfg = PinClient::new(protocol)
            .token(&mut h.auth, &mut h.env, PIN, PERM_ACFG, None)
            .unwrap();
        assert_eq!(config(&mut h, Some(&acfg), TOGGLE_ALWAYS_UV, None), Ok(()));
        assert_eq!(option(&mut h, "alwaysUv"), Some(Value::Bool(true)));
        assert_eq!(config(&mut h, Some(&acfg), TOGGLE_ALWAYS_UV, None), Ok(()));
        assert_eq!(option(&mut h, "alwaysUv"), Some(Value::Bool(false)));
        assert_eq!(config(&mut h, Some(&acfg), ENABLE_EP, None), Ok(()));
        assert_eq!(option(&mut h, "ep"), Some(Value::Bool(true)));
        let params = Value::int_map(vec![
            (1, Value::Unsigned(4)),
            (2, Value::Array(vec![Value::text("example.com")])),
        ]);
        assert_eq!(
            config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, Some(&params)),
            Ok(())
        );
    }
}

#[test]
fn set_min_pin_length_rules() {
    let mut h = Harness::new();
    let acfg = pin_and_token(&mut h, 2, PIN, PERM_ACFG);
    // Raise to 6: the 4-digit PIN is now too short → forcePINChange.
    assert_eq!(
        config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, Some(&min_len(6))),
        Ok(())
    );
    assert_eq!(info(&mut h, 0x0D), Some(Value::Unsigned(6)));
    assert_eq!(info(&mut h, 0x0C), Some(Value::Bool(true)));
    // Tokens are refused until the PIN is changed.
    let client = PinClient::new(2);
    assert_eq!(
        client
            .token(&mut h.auth, &mut h.env, PIN, PERM_ACFG, None)
            .err(),
        Some(0x37)
    );
    // A new PIN shorter than the minimum: PIN_POLICY_VIOLATION.
    assert_eq!(
        client.change_pin(&mut h.auth, &mut h.env, PIN, "12345"),
        Err(0x37)
    );
    assert_eq!(
        client.change_pin(&mut h.auth, &mut h.env, PIN, "123456"),
        Ok(())
    );
    assert_eq!(info(&mut h, 0x0C), Some(Value::Bool(false)));
    let acfg = client
        .token(&mut h.auth, &mut h.env, "123456", PERM_ACFG, None)
        .unwrap();
    // Cannot decrease.
    assert_eq!(
        config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, Some(&min_len(5))),
        Err(0x37)
    );
    // Same value, no params at all, or just forceChangePin: accepted.
    assert_eq!(
        config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, Some(&min_len(6))),
        Ok(())
    );
    assert_eq!(
        config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, None),
        Ok(())
    );
    let force = Value::int_map(vec![(3, Value::Bool(true))]);
    assert_eq!(
        config(&mut h, Some(&acfg), SET_MIN_PIN_LENGTH, Some(&force)),
        Ok(())
    );
    assert_eq!(info(&mut h, 0x0C), Some(Value::Bool(true)));
}

#[test]
fn force_change_pin_without_a_pin_is_pin_not_set() {
    let mut h = Harness::new();
    let force = Value::int_map(vec![(3, Value::Bool(true))]);
    assert_eq!(
        config(&mut h, None, SET_MIN_PIN_LENGTH, Some(&force)),
        Err(0x35)
    );
}

#[test]
fn malformed_and_unsupported() {
    let mut h = Harness::new();
    // Step 1: subCommand missing; wrong types.
    assert_eq!(send(&mut h, CONFIG, &Value::int_map(vec![])), Err(0x14));
    assert_eq!(
        send(&mut h, CONFIG, &Value::int_map(vec![(1, Value::text("x"))])),
        Err(0x11)
    );
    let bad = Value::int_map(vec![(1, Value::Unsigned(3)), (2, Value::Array(vec![]))]);
    assert_eq!(send(&mut h, CONFIG, &bad), Err(0x11));
    let bad = Value::int_map(vec![
        (1, Value::Unsigned(3)),
        (2, Value::int_map(vec![(1, Value::text("6"))])),
    ]);
    assert_eq!(send(&mut h, CONFIG, &bad), Err(0x11));
    assert_eq!(h.raw(&[CONFIG]), [0x12]);
    // Step 2: unknown subcommands and vendorPrototype → INVALID_PARAMETER.
    for sub in [0x00, 0x04, 0xFF] {
        assert_eq!(config(&mut h, None, sub, None), Err(0x02), "sub {sub:#x}");
    }
    assert_eq!(
        send(
            &mut h,
            CONFIG,
            &Value::int_map(vec![(1, Value::Unsigned(1 << 40))])
        ),
        Err(0x02)
    );
    // Without a batch attestation and enterprise RP ids there is no
    // enterprise attestation to enable: unsupported (step 2), no "ep".
    assert_eq!(config(&mut h, None, ENABLE_EP, None), Err(0x02));
    assert_eq!(option(&mut h, "ep"), None);
    assert_eq!(option(&mut h, "alwaysUv"), Some(Value::Bool(false)));
}

#[test]
fn params_are_verified_as_sent() {
    let mut h = Harness::new();
    let acfg = pin_and_token(&mut h, 1, PIN, PERM_ACFG);
    // Hand-built: {1: 3, 2: {1: 8}, 3: 1, 4: param}.
    let params_raw = [0xA1, 0x01, 0x08];
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0D, 0x03]);
    message.extend_from_slice(&params_raw);
    let param = acfg.auth(&message);
    let mut request = vec![CONFIG, 0xA4, 0x01, 0x03, 0x02];
    request.extend_from_slice(&params_raw);
    request.extend_from_slice(&[0x03, 0x01, 0x04, 0x50]);
    request.extend_from_slice(&param);
    assert_eq!(h.raw(&request), [0x00]);
    assert_eq!(info(&mut h, 0x0D), Some(Value::Unsigned(8)));
    // The param does not carry over to other params.
    let mut request = vec![CONFIG, 0xA4, 0x01, 0x03, 0x02, 0xA1, 0x01, 0x09];
    request.extend_from_slice(&[0x03, 0x01, 0x04, 0x50]);
    request.extend_from_slice(&param);
    assert_eq!(h.raw(&request), [0x33]);
}
