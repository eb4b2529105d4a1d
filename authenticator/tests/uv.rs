//! User verification in makeCredential and getAssertion (CTAP 2.1 §6.1.2
//! steps 1–2, 4–6, 11–12, 14; §6.2.2 steps 1–2, 4–9, 12) and the
//! credProtect visibility rules (§12.1), through `process_cbor` with a
//! platform-side PIN client.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::Operation;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::PinClient;

const RP: &str = "uv.example";
const PIN: &str = "1234";
const MC: u64 = 0x01;
const GA: u64 = 0x02;
const FLAG_UV: u8 = 0x04;

fn with_pin() -> (Harness, PinClient) {
    let mut h = Harness::new();
    let c = PinClient::new(2);
    c.set_pin(&mut h.auth, &mut h.env, PIN).unwrap();
    // setPIN's own prompt is not what the tests count.
    h.env.presence.clear_log();
    (h, c)
}

fn token(h: &mut Harness, c: &PinClient, permissions: u64, rp: &str) -> Vec<u8> {
    c.get_token(&mut h.auth, &mut h.env, PIN, Some(permissions), Some(rp))
        .unwrap()
}

fn mc_uv(mc: Mc, c: &PinClient, token: &[u8]) -> Mc {
    let mut mc = mc;
    mc.pin_uv_auth_param = Some(c.auth_param(token, &CDH));
    mc.pin_uv_auth_protocol = Some(c.protocol);
    mc
}

fn ga_uv(ga: Ga, c: &PinClient, token: &[u8]) -> Ga {
    let mut ga = ga;
    ga.pin_uv_auth_param = Some(c.auth_param(token, &ga.client_data_hash));
    ga.pin_uv_auth_protocol = Some(c.protocol);
    ga
}

fn cred_protect(level: u64) -> Option<Value> {
    Some(Value::text_map(vec![(
        "credProtect",
        Value::Unsigned(level),
    )]))
}

#[test]
fn make_cred_uv_not_rqd_allows_non_discoverable_only() {
    // §6.1.2 step 6 with makeCredUvNotRqd = true.
    let (mut h, c) = with_pin();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    assert_eq!(att.flags & FLAG_UV, 0);
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "a").rk()).err(),
        Some(0x36)
    );
    let t = token(&mut h, &c, MC, RP);
    let att = h
        .make_credential(&mc_uv(Mc::new(RP, b"u", "a").rk(), &c, &t))
        .unwrap();
    assert_eq!(
        att.flags & FLAG_UV,
        FLAG_UV,
        "UV flag after a verified pinUvAuthParam"
    );
    assert_eq!(att.flags & 0x01, 0x01);
}

#[test]
fn make_credential_pin_uv_auth_param_rules() {
    let (mut h, c) = with_pin();
    // Wrong MAC.
    let mut mc = Mc::new(RP, b"u", "a").rk();
    mc.pin_uv_auth_param = Some(vec![0; 32]);
    mc.pin_uv_auth_protocol = Some(2);
    assert_eq!(h.make_credential(&mc).err(), Some(0x33));
    // A token bound to another RP.
    let t = token(&mut h, &c, MC, "other.example");
    assert_eq!(
        h.make_credential(&mc_uv(Mc::new(RP, b"u", "a"), &c, &t))
            .err(),
        Some(0x33)
    );
    // A token without mc (§6.1.2 step 11.2: PIN_AUTH_INVALID).
    let t = token(&mut h, &c, GA, RP);
    assert_eq!(
        h.make_credential(&mc_uv(Mc::new(RP, b"u", "a"), &c, &t))
            .err(),
        Some(0x33)
    );
    // A token is good for one makeCredential (§6.1.2 step 14 clears mc/ga).
    let t = token(&mut h, &c, MC, RP);
    h.make_credential(&mc_uv(Mc::new(RP, b"u", "a"), &c, &t))
        .unwrap();
    assert_eq!(
        h.make_credential(&mc_uv(Mc::new(RP, b"v", "b"), &c, &t))
            .err(),
        Some(0x33)
    );
    // A legacy getPinToken token (mc+ga, no RP) binds to the first RP.
    let t = c
        .get_token(&mut h.auth, &mut h.env, PIN, None, None)
        .unwrap();
    h.make_credential(&mc_uv(Mc::new(RP, b"w", "c").rk(), &c, &t))
        .unwrap();
    // Protocol 1 works as well.
    let c1 = PinClient::new(1);
    let t = c1
        .get_token(&mut h.auth, &mut h.env, PIN, Some(MC), Some(RP))
        .unwrap();
    let att = h
        .make_credential(&mc_uv(Mc::new(RP, b"x", "d").rk(), &c1, &t))
        .unwrap();
    assert_eq!(att.flags & FLAG_UV, FLAG_UV);
}

#[test]
fn uv_option_and_selection_probe() {
    let (mut h, c) = with_pin();
    // §6.1.2 step 4: uv=true without built-in UV is INVALID_OPTION...
    assert_eq!(
        h.make_credential(&Mc::new(RP, b"u", "a").option("uv", true))
            .err(),
        Some(0x2C)
    );
    // ...but ignored next to a pinUvAuthParam.
    let t = token(&mut h, &c, MC, RP);
    h.make_credential(&mc_uv(Mc::new(RP, b"u", "a").option("uv", true), &c, &t))
        .unwrap();
    // §6.1.2 step 1 with a PIN set: presence, then PIN_INVALID.
    h.env.presence.clear_log();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.pin_uv_auth_param = Some(vec![]);
    mc.pin_uv_auth_protocol = Some(2);
    assert_eq!(h.make_credential(&mc).err(), Some(0x31));
    assert_eq!(h.env.presence.log()[0].operation, Operation::Select);
    let mut ga = Ga::new(RP);
    ga.pin_uv_auth_param = Some(vec![]);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x31));
    // Zero-length probes cost no PIN retry.
    assert_eq!(c.retries(&mut h.auth, &mut h.env), Ok((8, false)));
}

#[test]
fn get_assertion_with_uv_sets_flag_and_returns_names() {
    let (mut h, c) = with_pin();
    let t = token(&mut h, &c, MC, RP);
    let att = h
        .make_credential(&mc_uv(Mc::new(RP, b"u", "alice").rk(), &c, &t))
        .unwrap();
    // Made while a PIN is set and with no credProtect asked for: level 2
    // (softkey's default, SECURITY.md), so a username-less request without
    // UV does not see it (§12.1)...
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
    // ...one that names it does, and gets the user id only (§6.2.2 step 12).
    let a = h
        .get_assertion(&Ga::new(RP).allow(&[&att.credential_id]))
        .unwrap();
    assert_eq!(a.flags & FLAG_UV, 0);
    assert_eq!(a.user_field("id"), Some(Value::bytes(b"u")));
    assert_eq!(a.user_field("name"), None);
    // With UV: flag and names.
    let t = token(&mut h, &c, GA, RP);
    let a = h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).unwrap();
    assert_eq!(a.flags & (FLAG_UV | 0x01), FLAG_UV | 0x01);
    assert_eq!(a.user_field("name"), Some(Value::text("alice")));
    a.verify(&att.public_key, &CDH);
    // The token is consumed by that getAssertion (§6.2.2 step 9.4), so
    // its reuse lacks ga: PIN_AUTH_INVALID (step 6.1.4), not 0x40.
    assert_eq!(
        h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).err(),
        Some(0x33)
    );
    // A ga token cannot make credentials (§6.1.2 step 11.2: 0x33).
    let t = token(&mut h, &c, GA, RP);
    assert_eq!(
        h.make_credential(&mc_uv(Mc::new(RP, b"z", "z"), &c, &t))
            .err(),
        Some(0x33)
    );
    // A token bound to another RP (§6.2.2 step 6.1.5: 0x33).
    let t = token(&mut h, &c, GA, "other.example");
    assert_eq!(
        h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).err(),
        Some(0x33)
    );
}

#[test]
fn legacy_get_pin_token_is_spent_by_one_make_credential() {
    // A CTAP 2.0 platform gets one token with getPinToken (0x05, default
    // permissions mc+ga, no RP) and reuses it. In CTAP 2.1 the first
    // makeCredential that collects presence clears every permission but
    // lbw and the userVerified flag (§6.1.2 step 14), for legacy tokens
    // too; the following getAssertion is refused with PIN_AUTH_INVALID
    // (§6.2.2 step 6.1.3), which tells a platform to get a new token.
    let (mut h, c) = with_pin();
    let t = c
        .get_token(&mut h.auth, &mut h.env, PIN, None, None)
        .unwrap();
    let att = h
        .make_credential(&mc_uv(Mc::new(RP, b"u", "alice").rk(), &c, &t))
        .unwrap();
    assert_eq!(
        h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).err(),
        Some(0x33)
    );
    // A fresh legacy token works, bound to the RP of its first use.
    let t = c
        .get_token(&mut h.auth, &mut h.env, PIN, None, None)
        .unwrap();
    let a = h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).unwrap();
    a.verify(&att.public_key, &CDH);
    assert_eq!(a.flags & FLAG_UV, FLAG_UV);
}

#[test]
fn without_a_pin_names_are_never_returned() {
    // §6.2.2 step 12.3: name and displayName "MUST NOT be returned if user
    // verification is not done by the authenticator" — with no PIN set UV
    // is impossible, so never, even after the user approved the prompt.
    let mut h = Harness::new();
    h.make_credential(&Mc::new(RP, b"u", "alice").rk()).unwrap();
    for ga in [Ga::new(RP), Ga::new(RP).option("up", false)] {
        let a = h.get_assertion(&ga).unwrap();
        assert_eq!(a.user_field("id"), Some(Value::bytes(b"u")));
        assert_eq!(a.user_field("name"), None);
        assert_eq!(a.user_field("displayName"), None);
    }
}

#[test]
fn discoverable_credentials_made_with_a_pin_default_to_cred_protect_2() {
    // §12.1 lets the authenticator pick the default. With a PIN set, a
    // passkey whose request named no level is userVerificationOptional-
    // WithCredentialIDList: a username-less request without UV (a silent
    // probe among them) does not learn it exists; with UV, or named by its
    // ID, it works as ever. A level the RP names is kept.
    let (mut h, c) = with_pin();
    let t = token(&mut h, &c, MC, RP);
    let default = h
        .make_credential(&mc_uv(Mc::new(RP, b"d", "d").rk(), &c, &t))
        .unwrap();
    assert_eq!(default.extensions, None, "no output: none was asked for");
    let mut one = Mc::new(RP, b"o", "o").rk();
    one.extensions = cred_protect(1);
    let t = token(&mut h, &c, MC, RP);
    let one = h.make_credential(&mc_uv(one, &c, &t)).unwrap();
    let silent = Ga::new(RP).option("up", false);
    for ga in [Ga::new(RP), silent.clone()] {
        let a = h.get_assertion(&ga).unwrap();
        assert_eq!(a.credential_id, one.credential_id, "only the level-1 one");
        assert_eq!(a.number_of_credentials, None);
    }
    h.get_assertion(&silent.allow(&[&default.credential_id]))
        .unwrap();
    let t = token(&mut h, &c, GA, RP);
    let a = h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).unwrap();
    assert_eq!(a.number_of_credentials, Some(2));
    // Without a PIN the default stays level 1: otherwise no username-less
    // sign-in could ever see the passkey.
    let mut h = Harness::new();
    h.make_credential(&Mc::new(RP, b"n", "n").rk()).unwrap();
    h.get_assertion(&Ga::new(RP).option("up", false)).unwrap();
}

#[test]
fn cred_protect_matrix() {
    // §12.1 with no PIN (so rk creation needs no UV), then with UV.
    let mut h = Harness::new();
    let mut ids = Vec::new();
    for level in [1u64, 2, 3] {
        let mut mc = Mc::new(RP, &[level as u8], "u").rk();
        mc.extensions = cred_protect(level);
        let att = h.make_credential(&mc).unwrap();
        assert_eq!(
            att.extensions,
            Some(Value::text_map(vec![(
                "credProtect",
                Value::Unsigned(level)
            )]))
        );
        ids.push(att.credential_id);
    }
    // Username-less without UV: only level 1 exists.
    let a = h.get_assertion(&Ga::new(RP)).unwrap();
    assert_eq!(a.credential_id, ids[0]);
    assert_eq!(a.number_of_credentials, None);
    // Listed without UV: level 1 and 2 usable, level 3 invisible.
    h.get_assertion(&Ga::new(RP).allow(&[&ids[1]])).unwrap();
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&ids[2]])).err(),
        Some(0x2E)
    );
    // excludeList without UV: level 3 does not exclude, level 2 does.
    let mut mc = Mc::new(RP, b"new", "n");
    mc.exclude = Some(vec![ids[2].clone()]);
    h.make_credential(&mc).unwrap();
    mc.exclude = Some(vec![ids[1].clone()]);
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));
    // With UV everything is visible.
    let c = PinClient::new(2);
    c.set_pin(&mut h.auth, &mut h.env, PIN).unwrap();
    let t = token(&mut h, &c, GA, RP);
    let a = h.get_assertion(&ga_uv(Ga::new(RP), &c, &t)).unwrap();
    assert_eq!(a.number_of_credentials, Some(3));
    assert_eq!(a.credential_id, ids[2], "newest first");
    assert_eq!(a.flags & FLAG_UV, FLAG_UV);
    let next = h.get_next_assertion().unwrap();
    assert_eq!(next.flags & FLAG_UV, FLAG_UV, "getNextAssertion keeps UV");
    assert_eq!(next.user_field("name"), Some(Value::text("u")));
    let t = token(&mut h, &c, GA, RP);
    h.get_assertion(&ga_uv(Ga::new(RP).allow(&[&ids[2]]), &c, &t))
        .unwrap();
    // excludeList with UV: level 3 excludes.
    let t = token(&mut h, &c, MC, RP);
    let mut mc = mc_uv(Mc::new(RP, b"new2", "n"), &c, &t);
    mc.exclude = Some(vec![ids[2].clone()]);
    assert_eq!(h.make_credential(&mc).err(), Some(0x19));
}

#[test]
fn non_discoverable_cred_protect_lives_in_the_id() {
    let mut h = Harness::new();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.extensions = cred_protect(3);
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&att.credential_id]))
            .err(),
        Some(0x2E)
    );
    let c = PinClient::new(2);
    c.set_pin(&mut h.auth, &mut h.env, PIN).unwrap();
    let t = token(&mut h, &c, GA, RP);
    let a = h
        .get_assertion(&ga_uv(Ga::new(RP).allow(&[&att.credential_id]), &c, &t))
        .unwrap();
    a.verify(&att.public_key, &CDH);
}

#[test]
fn malformed_uv_inputs() {
    let (mut h, _) = with_pin();
    let mut mc = Mc::new(RP, b"u", "a");
    mc.extensions = cred_protect(4);
    assert_eq!(h.make_credential(&mc).err(), Some(0x02));
    mc.extensions = Some(Value::text_map(vec![("credProtect", Value::text("x"))]));
    assert_eq!(h.make_credential(&mc).err(), Some(0x11));
    let mut mc = Mc::new(RP, b"u", "a");
    mc.pin_uv_auth_param = Some(vec![1; 32]);
    assert_eq!(h.make_credential(&mc).err(), Some(0x14), "no protocol");
    mc.pin_uv_auth_protocol = Some(3);
    assert_eq!(h.make_credential(&mc).err(), Some(0x02));
    assert_eq!(h.presence_count(), 0);
}
