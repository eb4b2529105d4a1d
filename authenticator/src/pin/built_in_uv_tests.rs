//! Built-in user verification across the commands (CTAP 2.1 §6.1.2 steps
//! 4–6, 11.2 and 13; §6.2.2 steps 4–6.2 and 9; §6.5.5.7.3 and getUVRetries;
//! getInfo `uv`): one gesture verifies and shows presence, failures count
//! down uvRetries to a block that only the PIN lifts.

use crate::cbor::{self, Value};
use crate::env::Operation;
use crate::testing::{PinClient, TestEnv};
use crate::{Authenticator, Config};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

fn key(built_in_uv: bool) -> (TestEnv, Authenticator) {
    let mut env = TestEnv::new(41);
    let mut a = Authenticator::new(Config {
        built_in_uv,
        ..Config::default()
    });
    a.power_up(&mut env);
    (env, a)
}

/// makeCredential for `rp` with the given options and extra members.
fn mc(options: &[(&str, bool)], extra: Vec<(u64, Value)>) -> Vec<u8> {
    let mut pairs = vec![
        (1, Value::bytes(&[1; 32])),
        (2, Value::text_map(vec![("id", Value::text("rp"))])),
        (
            3,
            Value::text_map(vec![
                ("id", Value::bytes(b"user")),
                ("name", Value::text("frieda")),
            ]),
        ),
        (
            4,
            Value::Array(vec![Value::text_map(vec![
                ("alg", Value::int(-7)),
                ("type", Value::text("public-key")),
            ])]),
        ),
    ];
    pairs.extend(extra);
    if !options.is_empty() {
        let options = options.iter().map(|&(k, v)| (k, Value::Bool(v))).collect();
        pairs.push((7, Value::text_map(options)));
    }
    [vec![0x01], cbor::encode(&Value::int_map(pairs))].concat()
}

fn ga(options: &[(&str, bool)], extra: Vec<(u64, Value)>) -> Vec<u8> {
    let mut pairs = vec![(1, Value::text("rp")), (2, Value::bytes(&[1; 32]))];
    pairs.extend(extra);
    if !options.is_empty() {
        let options = options.iter().map(|&(k, v)| (k, Value::Bool(v))).collect();
        pairs.push((5, Value::text_map(options)));
    }
    [vec![0x02], cbor::encode(&Value::int_map(pairs))].concat()
}

/// The flags byte of a successful answer's authData, or the error status.
fn flags(out: &[u8]) -> Result<u8, u8> {
    match out.split_first() {
        Some((0, body)) => {
            let response = cbor::decode(body).unwrap();
            match response.get(&Value::Unsigned(2)) {
                Some(Value::Bytes(data)) => Ok(data[32]),
                other => panic!("no authData: {other:?}"),
            }
        }
        Some((&status, _)) => Err(status),
        None => panic!("empty answer"),
    }
}

fn operations(env: &TestEnv) -> Vec<Operation> {
    env.presence.log().iter().map(|p| p.operation).collect()
}

#[test]
fn get_info_says_uv_and_the_subcommands_exist_only_with_it() {
    for built_in in [false, true] {
        let (mut env, mut a) = key(built_in);
        let out = a.process_cbor(&mut env, &[0x04]);
        let info = cbor::decode(&out[1..]).unwrap();
        let options = info.get(&Value::Unsigned(4)).unwrap();
        assert_eq!(
            options.get(&Value::text("uv")),
            built_in.then_some(&Value::Bool(true))
        );
        let attempts = info.get(&Value::Unsigned(0x11));
        let modality = info.get(&Value::Unsigned(0x12));
        assert_eq!(attempts, built_in.then_some(&Value::Unsigned(3)));
        assert_eq!(modality, built_in.then_some(&Value::Unsigned(2)));
        let c = PinClient::new(2);
        if built_in {
            assert_eq!(c.uv_retries(&mut a, &mut env), Ok(8));
        } else {
            // CTAP2_ERR_INVALID_SUBCOMMAND, and uv=true is INVALID_OPTION.
            assert_eq!(c.uv_retries(&mut a, &mut env), Err(0x3E));
            assert_eq!(
                c.uv_token(&mut a, &mut env, 0x03, Some("rp")).unwrap_err(),
                0x3E
            );
            assert_eq!(
                flags(&a.process_cbor(&mut env, &mc(&[("uv", true)], vec![]))),
                Err(0x2C)
            );
            assert_eq!(
                flags(&a.process_cbor(&mut env, &ga(&[("uv", true)], vec![]))),
                Err(0x2C)
            );
        }
    }
}

#[test]
fn the_uv_option_verifies_with_one_gesture() {
    let (mut env, mut a) = key(true);
    env.presence.set_verified(true);
    // Step 6: a protected key makes no discoverable credential unverified.
    assert_eq!(
        flags(&a.process_cbor(&mut env, &mc(&[("rk", true)], vec![]))),
        Err(0x36)
    );
    let out = a.process_cbor(&mut env, &mc(&[("rk", true), ("uv", true)], vec![]));
    assert_eq!(flags(&out), Ok(UP | UV | AT));
    // Step 13: the verification was the test of presence too.
    assert_eq!(operations(&env), [Operation::Register]);
    env.presence.clear_log();
    let out = a.process_cbor(&mut env, &ga(&[("uv", true)], vec![]));
    assert_eq!(flags(&out), Ok(UP | UV));
    assert_eq!(operations(&env), [Operation::SignIn]);
    // Step 12.3: verified, the user's name is in the answer.
    let response = cbor::decode(&out[1..]).unwrap();
    let user = response.get(&Value::Unsigned(4)).unwrap();
    assert_eq!(user.get(&Value::text("name")), Some(&Value::text("frieda")));
    // Without uv, a plain touch: UP alone.
    env.presence.clear_log();
    assert_eq!(flags(&a.process_cbor(&mut env, &ga(&[], vec![]))), Ok(UP));
}

#[test]
fn failures_count_down_to_a_block_that_the_pin_lifts() {
    let (mut env, mut a) = key(true);
    let c = PinClient::new(2);
    env.presence.set_verified(false);
    for left in (1..8).rev() {
        // CTAP2_ERR_UV_INVALID while retries are left.
        assert_eq!(
            flags(&a.process_cbor(&mut env, &mc(&[("uv", true)], vec![]))),
            Err(0x3F)
        );
        assert_eq!(c.uv_retries(&mut a, &mut env), Ok(left));
    }
    // The last failure blocks: CTAP2_ERR_UV_BLOCKED (no PIN to fall back on).
    assert_eq!(
        flags(&a.process_cbor(&mut env, &ga(&[("uv", true)], vec![]))),
        Err(0x3C)
    );
    env.presence.set_verified(true);
    env.presence.clear_log();
    assert_eq!(
        c.uv_token(&mut a, &mut env, 0x03, Some("rp")).unwrap_err(),
        0x3C
    );
    assert!(env.presence.log().is_empty(), "no gesture while blocked");
    // With a PIN, a blocked key sends the platform to it (PUAT_REQUIRED),
    // and the right PIN restores uvRetries.
    c.set_pin(&mut a, &mut env, "1234").unwrap();
    assert_eq!(
        flags(&a.process_cbor(&mut env, &mc(&[("uv", true)], vec![]))),
        Err(0x36)
    );
    c.token(&mut a, &mut env, "1234", 0x01, Some("rp")).unwrap();
    assert_eq!(c.uv_retries(&mut a, &mut env), Ok(8));
    assert_eq!(
        flags(&a.process_cbor(&mut env, &mc(&[("uv", true)], vec![]))),
        Ok(UP | UV | AT)
    );
}

#[test]
fn a_uv_token_carries_its_gesture_as_presence_once() {
    let (mut env, mut a) = key(true);
    env.presence.set_verified(true);
    let c = PinClient::new(2);
    let token = c.uv_token(&mut a, &mut env, 0x03, Some("rp")).unwrap();
    assert_eq!(operations(&env), [Operation::Register]);
    // pinUvAuthParam and pinUvAuthProtocol: makeCredential's keys 8 and 9,
    // getAssertion's 6 and 7.
    let with_token = |token: &crate::testing::Token, key: u64| {
        vec![
            (key, Value::Bytes(token.auth(&[1; 32]))),
            (key + 1, Value::Unsigned(2)),
        ]
    };
    let out = a.process_cbor(&mut env, &mc(&[("rk", true)], with_token(&token, 8)));
    assert_eq!(flags(&out), Ok(UP | UV | AT));
    assert_eq!(operations(&env), [Operation::Register], "no second gesture");
    // §6.1.2 step 14.4: the mc use consumed the token's flags and mc/ga.
    let out = a.process_cbor(&mut env, &ga(&[], with_token(&token, 6)));
    assert_eq!(flags(&out), Err(0x33));
    // A PIN token is no gesture: its mc asks for presence.
    c.set_pin(&mut a, &mut env, "1234").unwrap();
    env.presence.clear_log();
    let token = c.token(&mut a, &mut env, "1234", 0x01, Some("rp")).unwrap();
    let out = a.process_cbor(&mut env, &mc(&[], with_token(&token, 8)));
    assert_eq!(flags(&out), Ok(UP | UV | AT));
    assert_eq!(operations(&env), [Operation::Register]);
}

#[test]
fn always_uv_uses_the_built_in_method() {
    let (mut env, mut a) = key(true);
    env.presence.set_verified(true);
    a.toggle_always_uv(&mut env).unwrap();
    // §6.1.2 step 5 / §6.2.2 step 5: uv becomes true, no token needed.
    assert_eq!(
        flags(&a.process_cbor(&mut env, &mc(&[("rk", true)], vec![]))),
        Ok(UP | UV | AT)
    );
    assert_eq!(
        flags(&a.process_cbor(&mut env, &ga(&[], vec![]))),
        Ok(UP | UV)
    );
}
