//! authenticatorGetAssertion / GetNextAssertion scenarios (CTAP 2.1 §6.2.2,
//! §6.3.2) and the signature counter across restarts.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::{Operation, PresenceError};

const RP: &str = "example.com";

#[test]
fn counter_strictly_increases_across_assertions_and_restarts() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    let ga = Ga::new(RP).allow(&[&att.credential_id]);
    let mut last = att.sign_count;
    let check = |h: &mut Harness, last: &mut u32| {
        let a = h.get_assertion(&ga).unwrap();
        a.verify(&att.public_key, &CDH);
        assert!(a.sign_count > *last, "{} after {}", a.sign_count, *last);
        *last = a.sign_count;
    };
    // Past one reservation (256) in a single run.
    for _ in 0..300 {
        check(&mut h, &mut last);
    }
    // Clean restart.
    h.restart();
    check(&mut h, &mut last);
    // "Crash" at every point of a reservation window: RAM state lost.
    for _ in 0..5 {
        for _ in 0..37 {
            check(&mut h, &mut last);
        }
        h.restart();
        check(&mut h, &mut last);
    }
}

#[test]
fn crash_during_reservation_never_reuses_a_value() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    let ga = Ga::new(RP).allow(&[&att.credential_id]);
    let mut seen = vec![att.sign_count];
    // Use values up to the reserved ceiling (256).
    while *seen.last().unwrap() < 256 {
        seen.push(h.get_assertion(&ga).unwrap().sign_count);
    }
    // The reservation of the next window fails: no signature is produced.
    h.env.store.fail_next_write();
    assert_eq!(h.get_assertion(&ga).err(), Some(0x7F));
    // The process dies and restarts on the same store.
    h.restart();
    let after = h.get_assertion(&ga).unwrap().sign_count;
    assert!(
        seen.iter().all(|&v| v < after),
        "{after} reused or went back"
    );
    assert!(after <= 256 + 256, "skips forward at most one reservation");
}

#[test]
fn username_less_three_accounts_walked_newest_first() {
    let mut h = Harness::new();
    let mut keys = Vec::new();
    for (uid, name) in [(b"u1", "one"), (b"u2", "two"), (b"u3", "three")] {
        let att = h.make_credential(&Mc::new(RP, uid, name).rk()).unwrap();
        keys.push((att.credential_id, att.public_key, name));
        h.env.advance(Duration::from_secs(1));
    }
    // A credential at another RP is not a candidate.
    h.make_credential(&Mc::new("other.example", b"u9", "nine").rk())
        .unwrap();
    h.env.presence.clear_log();
    let first = h.get_assertion(&Ga::new(RP)).unwrap();
    // §6.2.2 step 9: one prompt, not naming a user (three candidates).
    assert_eq!(h.presence_count(), 1);
    assert_eq!(h.env.presence.log()[0].operation, Operation::SignIn);
    assert_eq!(h.env.presence.log()[0].user_name, None);
    assert_eq!(first.number_of_credentials, Some(3));
    let mut got = vec![first];
    got.push(h.get_next_assertion().unwrap());
    got.push(h.get_next_assertion().unwrap());
    assert_eq!(h.presence_count(), 1, "getNextAssertion never prompts");
    for (a, (id, key, name)) in got.iter().zip(keys.iter().rev()) {
        assert_eq!(&a.credential_id, id, "newest first");
        a.verify(key, &CDH);
        assert_eq!(a.flags, 0x01);
        // §6.2.2 step 12.3: without UV, each account is its user id only
        // (SECURITY.md "Accounts without user verification").
        assert!(a.user_field("id").is_some());
        assert_eq!(a.user_field("name"), None, "{name}");
        assert_eq!(a.user_field("displayName"), None, "{name}");
    }
    assert_eq!(got[1].number_of_credentials, None);
    assert!(got[0].sign_count < got[1].sign_count && got[1].sign_count < got[2].sign_count);
    // §6.3.2 step 2: exhausted.
    assert_eq!(h.get_next_assertion().err(), Some(0x30));
}

fn three_accounts(h: &mut Harness) {
    for uid in [b"a", b"b", b"c"] {
        h.make_credential(&Mc::new(RP, uid, "x").rk()).unwrap();
    }
}

#[test]
fn a_username_less_sign_in_reads_the_same_whatever_the_accounts_on_the_rp() {
    // What a username-less getAssertion and each getNextAssertion read from
    // the store must not grow with the accounts on the RP (the newest-first
    // index): the count, then one record per response.
    let mut reads = Vec::new();
    for accounts in [1, 10, 200] {
        let mut h = Harness::new();
        for i in 0..accounts {
            let user = format!("user-{i}");
            h.make_credential(&Mc::new(RP, user.as_bytes(), "x").rk())
                .unwrap();
        }
        let before = h.env.store.values_read();
        let first = h.get_assertion(&Ga::new(RP)).unwrap();
        let first_reads = h.env.store.values_read() - before;
        let expected = (accounts > 1).then_some(accounts);
        assert_eq!(first.number_of_credentials, expected, "{accounts} accounts");
        // Newest first.
        let newest = format!("user-{}", accounts - 1);
        assert_eq!(
            first.user_field("id"),
            Some(Value::bytes(newest.as_bytes()))
        );
        let mut next_reads = 0;
        if accounts > 1 {
            let before = h.env.store.values_read();
            let next = h.get_next_assertion().unwrap();
            next_reads = h.env.store.values_read() - before;
            let second = format!("user-{}", accounts - 2);
            assert_eq!(next.user_field("id"), Some(Value::bytes(second.as_bytes())));
        }
        reads.push((accounts, first_reads, next_reads));
    }
    let (_, one, _) = reads[0];
    for &(accounts, first, next) in &reads {
        assert_eq!(
            first, one,
            "first response with {accounts} accounts: {reads:?}"
        );
        assert!(next <= first, "each next step: {reads:?}");
    }
}

#[test]
fn get_next_assertion_times_out_after_30_seconds() {
    let mut h = Harness::new();
    three_accounts(&mut h);
    h.get_assertion(&Ga::new(RP)).unwrap();
    h.env.advance(Duration::from_secs(30));
    h.get_next_assertion().unwrap();
    // §6.3.2 step 3: more than 30 s after the previous response is too late.
    h.env.advance(Duration::from_secs(31));
    assert_eq!(h.get_next_assertion().err(), Some(0x30));
}

#[test]
fn any_other_command_or_power_up_ends_the_sequence() {
    let mut h = Harness::new();
    three_accounts(&mut h);
    assert_eq!(h.get_next_assertion().err(), Some(0x30), "no state yet");
    h.get_assertion(&Ga::new(RP)).unwrap();
    h.call0(GET_INFO).unwrap();
    assert_eq!(h.get_next_assertion().err(), Some(0x30));
    h.get_assertion(&Ga::new(RP)).unwrap();
    assert_eq!(h.raw(&[0x7E]), [0x01]);
    assert_eq!(
        h.get_next_assertion().err(),
        Some(0x30),
        "even an unknown command"
    );
    h.get_assertion(&Ga::new(RP)).unwrap();
    h.auth.power_up(&mut h.env);
    assert_eq!(h.get_next_assertion().err(), Some(0x30), "power-up clears");
}

#[test]
fn silent_probe_up_false_signs_without_prompt_or_names() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "alice").rk()).unwrap();
    h.env.presence.clear_log();
    h.env.presence.set_default(Err(PresenceError::Denied));
    let a = h
        .get_assertion(&Ga::new(RP).allow(&[&att.credential_id]).option("up", false))
        .unwrap();
    assert_eq!(h.presence_count(), 0, "up=false never prompts");
    assert_eq!(a.flags & 0x01, 0, "UP flag clear");
    a.verify(&att.public_key, &CDH);
    assert_eq!(a.user_field("id"), Some(Value::bytes(b"u")));
    assert_eq!(a.user_field("name"), None, "no names without presence");
    // A miss is NO_CREDENTIALS, still silently.
    let miss = Ga::new(RP).allow(&[&[1, 2, 3]]).option("up", false);
    assert_eq!(h.get_assertion(&miss).err(), Some(0x2E));
    assert_eq!(h.presence_count(), 0);
}

#[test]
fn no_credentials_is_answered_without_a_prompt() {
    let mut h = Harness::new();
    // Fresh device: not even device secrets exist, and none are created.
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&[0; 62]])).err(),
        Some(0x2E)
    );
    assert_eq!(h.env.store.writes(), 0);
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    h.env.presence.clear_log();
    // §6.2.2 step 7: bound to its RP.
    let other = Ga::new("evil.example").allow(&[&att.credential_id]);
    assert_eq!(h.get_assertion(&other).err(), Some(0x2E));
    // Non-discoverable credentials are not found without an allowList.
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
    assert_eq!(h.presence_count(), 0);
}

#[test]
fn allow_list_uses_first_of_ours_and_names_its_user() {
    let mut h = Harness::new();
    let a = h.make_credential(&Mc::new(RP, b"a", "alice").rk()).unwrap();
    let b = h.make_credential(&Mc::new(RP, b"b", "bob").rk()).unwrap();
    h.env.presence.clear_log();
    let mut ids: Vec<Vec<u8>> = (0..70).map(|i| vec![i; 62]).collect();
    ids.push(b.credential_id.clone());
    ids.push(a.credential_id.clone());
    let ga = Ga {
        allow: Some(ids),
        ..Ga::new(RP)
    };
    let got = h.get_assertion(&ga).unwrap();
    assert_eq!(got.credential_id, b.credential_id);
    got.verify(&b.public_key, &CDH);
    assert_eq!(got.number_of_credentials, None);
    assert_eq!(h.env.presence.log()[0].user_name.as_deref(), Some("bob"));
    assert_eq!(h.get_next_assertion().err(), Some(0x30));
}

#[test]
fn presence_failures_and_option_errors() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    let ga = Ga::new(RP).allow(&[&att.credential_id]);
    // Step 9.
    h.env.presence.push(Err(PresenceError::Denied));
    assert_eq!(h.get_assertion(&ga).err(), Some(0x27));
    h.env.presence.push(Err(PresenceError::Timeout));
    assert_eq!(h.get_assertion(&ga).err(), Some(0x2F));
    h.env.presence.push(Err(PresenceError::Cancelled));
    assert_eq!(h.get_assertion(&ga).err(), Some(0x2D));
    // Step 5: uv=true without built-in UV; "rk" is not a getAssertion option.
    assert_eq!(
        h.get_assertion(&ga.clone().option("uv", true)).err(),
        Some(0x2C)
    );
    assert_eq!(
        h.get_assertion(&ga.clone().option("rk", false)).err(),
        Some(0x2B)
    );
    // Unknown options and extensions are ignored.
    let mut ok = ga.clone().option("zzz", true).option("uv", false);
    ok.extensions = Some(Value::text_map(vec![(
        "futureExtension",
        Value::Map(vec![(
            Value::Unsigned(1),
            Value::Map(vec![(Value::int(1), Value::int(2))]),
        )]),
    )]));
    h.get_assertion(&ok).unwrap();
    // A known extension with a malformed input is an error, not ignored.
    let mut bad = ga.clone();
    bad.extensions = Some(Value::text_map(vec![("credBlob", Value::int(1))]));
    assert_eq!(h.get_assertion(&bad).err(), Some(0x11));
}

#[test]
fn pin_uv_auth_param_rows() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "a")).unwrap();
    h.env.presence.clear_log();
    let mut ga = Ga::new(RP).allow(&[&att.credential_id]);
    // Step 1: zero-length → presence (Select) then PIN_NOT_SET.
    ga.pin_uv_auth_param = Some(vec![]);
    ga.pin_uv_auth_protocol = Some(2);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x35));
    assert_eq!(h.env.presence.log()[0].operation, Operation::Select);
    // Step 2.
    ga.pin_uv_auth_param = Some(vec![1; 32]);
    ga.pin_uv_auth_protocol = None;
    assert_eq!(h.get_assertion(&ga).err(), Some(0x14));
    ga.pin_uv_auth_protocol = Some(99);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x02));
    // Step 6.
    ga.pin_uv_auth_protocol = Some(1);
    assert_eq!(h.get_assertion(&ga).err(), Some(0x35));
    assert_eq!(h.presence_count(), 1);
}

#[test]
fn get_next_assertion_only_on_the_channel_that_began_it() {
    // The rule: the stateful "next" commands refuse other channels.
    // A platform on channel 7 walks its accounts; another on channel 9 may
    // not take one of them, and its attempt does not disturb channel 7.
    let mut h = Harness::new();
    three_accounts(&mut h);
    let ga = [vec![0x02], cbor::encode(&Ga::new(RP).to_value())].concat();
    let first = h.auth.process_cbor_on(&mut h.env, 7, &ga);
    assert_eq!(first[0], 0x00);
    assert_eq!(h.auth.process_cbor_on(&mut h.env, 9, &[0x08]), [0x30]);
    assert_eq!(h.auth.process_cbor_on(&mut h.env, 7, &[0x08])[0], 0x00);
    assert_eq!(h.auth.process_cbor_on(&mut h.env, 7, &[0x08])[0], 0x00);
    assert_eq!(
        h.auth.process_cbor_on(&mut h.env, 7, &[0x08]),
        [0x30],
        "all three given"
    );
}
