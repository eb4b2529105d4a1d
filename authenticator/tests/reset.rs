//! authenticatorReset scenarios (CTAP 2.1 §6.6): the 10 s window after
//! power-up, presence, and what a reset wipes and keeps.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::testing::{PinClient, blob_array, blob_set_request};
use softkey_authenticator::{Operation, PresenceError, Store};

const RESET: u8 = 0x07;
const RP: &str = "example.com";

fn reset(h: &mut Harness) -> Vec<u8> {
    h.raw(&[RESET])
}

#[test]
fn only_within_ten_seconds_of_power_up() {
    let mut h = Harness::new();
    h.env.advance(Duration::from_secs(9));
    assert_eq!(reset(&mut h), [0x00]);
    assert_eq!(
        h.env.presence.log().last().unwrap().operation,
        Operation::Reset
    );
    // 10 s exactly is still inside; 11 s is not, and asks nobody.
    h.restart();
    h.env.advance(Duration::from_secs(10));
    assert_eq!(reset(&mut h), [0x00]);
    h.restart();
    h.env.advance(Duration::from_secs(11));
    let asked = h.presence_count();
    assert_eq!(reset(&mut h), [0x30]);
    assert_eq!(h.presence_count(), asked);
    // A new power-up (USB/IP re-attach) opens a new window.
    h.auth.power_up(&mut h.env);
    assert_eq!(reset(&mut h), [0x00]);
}

#[test]
fn never_powered_up_means_no_window() {
    let mut env = softkey_authenticator::testing::TestEnv::new(1);
    let mut auth = softkey_authenticator::Authenticator::new(Default::default());
    assert_eq!(auth.process_cbor(&mut env, &[RESET]), [0x30]);
}

#[test]
fn presence_refusals_and_nothing_wiped() {
    let mut h = Harness::new();
    let att = h.make_credential(&Mc::new(RP, b"u", "alice").rk()).unwrap();
    h.env.presence.push(Err(PresenceError::Denied));
    assert_eq!(reset(&mut h), [0x27]);
    h.env.presence.push(Err(PresenceError::Timeout));
    assert_eq!(reset(&mut h), [0x2F]);
    h.env.presence.push(Err(PresenceError::Cancelled));
    assert_eq!(reset(&mut h), [0x2D]);
    // Still there.
    let a = h.get_assertion(&Ga::new(RP)).unwrap();
    assert_eq!(a.credential_id, att.credential_id);
}

#[test]
fn wipes_credentials_pin_blobs_and_secrets_but_not_the_counter() {
    let mut h = Harness::new();
    let rk = h.make_credential(&Mc::new(RP, b"u", "alice").rk()).unwrap();
    let nrk = h.make_credential(&Mc::new(RP, b"v", "bob")).unwrap();
    let last_count = h
        .get_assertion(&Ga::new(RP).allow(&[&nrk.credential_id]))
        .unwrap()
        .sign_count;
    // A large blob, then a PIN.
    let array = blob_array(&[0x81, 0x41, 0x07]);
    let set = blob_set_request(None, 0, &array, Some(array.len() as u64));
    assert_eq!(send(&mut h, LARGE_BLOBS, &set), Ok(None));
    let client = PinClient::new(2);
    client.set_pin(&mut h.auth, &mut h.env, "1234").unwrap();
    h.env
        .store
        .inner
        .put(b"device/attestation", b"batch cert")
        .unwrap();

    h.restart();
    assert_eq!(reset(&mut h), [0x00]);

    // Credentials: the discoverable one is gone, and the non-discoverable
    // ID no longer opens (new device secrets).
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&rk.credential_id]))
            .err(),
        Some(0x2E)
    );
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&nrk.credential_id]))
            .err(),
        Some(0x2E)
    );
    let keys: Vec<Vec<u8>> = h.env.store.inner.keys().map(<[u8]>::to_vec).collect();
    assert!(!keys.iter().any(|k| k.starts_with(b"cred/")), "{keys:?}");
    // The PIN: none set any more (setPIN works again with no old PIN).
    let client = PinClient::new(2);
    assert_eq!(client.set_pin(&mut h.auth, &mut h.env, "5678"), Ok(()));
    // Large blobs: back to the initial empty array.
    let get = Value::int_map(vec![(1, Value::Unsigned(100)), (3, Value::Unsigned(0))]);
    let v = send(&mut h, LARGE_BLOBS, &get).unwrap().unwrap();
    assert_eq!(
        v.get(&Value::Unsigned(1)),
        Some(&Value::Bytes(blob_array(&[0x80])))
    );
    // Kept: the attestation record and a counter that never goes back.
    assert_eq!(
        h.env
            .store
            .inner
            .get(b"device/attestation")
            .unwrap()
            .as_deref(),
        Some(&b"batch cert".to_vec())
    );
    let new = h.make_credential(&Mc::new(RP, b"w", "carol")).unwrap();
    assert!(
        new.sign_count > last_count,
        "{} after {last_count}",
        new.sign_count
    );
}

#[test]
fn reset_ends_an_enumeration_and_old_ids_fail_even_without_restart() {
    let mut h = Harness::new();
    let nrk = h.make_credential(&Mc::new(RP, b"v", "bob")).unwrap();
    // The secrets are cached in RAM by now; reset must drop that copy too.
    assert!(
        h.get_assertion(&Ga::new(RP).allow(&[&nrk.credential_id]))
            .is_ok()
    );
    assert_eq!(reset(&mut h), [0x00]);
    assert_eq!(
        h.get_assertion(&Ga::new(RP).allow(&[&nrk.credential_id]))
            .err(),
        Some(0x2E)
    );
    // New credentials work under the new secrets.
    let fresh = h.make_credential(&Mc::new(RP, b"v", "bob")).unwrap();
    let a = h
        .get_assertion(&Ga::new(RP).allow(&[&fresh.credential_id]))
        .unwrap();
    a.verify(&fresh.public_key, &CDH);
}

#[test]
fn a_failing_store_fails_the_reset() {
    let mut h = Harness::new();
    h.make_credential(&Mc::new(RP, b"u", "alice").rk()).unwrap();
    h.env.store.fail_next_write();
    assert_eq!(reset(&mut h), [0x7F]);
    // Running it again finishes the job.
    assert_eq!(reset(&mut h), [0x00]);
    assert_eq!(h.get_assertion(&Ga::new(RP)).err(), Some(0x2E));
}
