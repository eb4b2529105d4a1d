//! Counter modes and backup flags (WebAuthn §6.1, §6.1.3): what the test lab
//! sets, seen through makeCredential and getAssertion.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::{
    Config, CounterMode, CredentialProperties, SignCounterKind, credential_properties,
    set_credential_properties,
};

const RP: &str = "props.example";
const BE: u8 = 0x08;
const BS: u8 = 0x10;

fn assert_count(h: &mut Harness, id: &[u8]) -> (u32, u8) {
    let a = h.get_assertion(&Ga::new(RP).allow(&[id])).unwrap();
    (a.sign_count, a.flags)
}

#[test]
fn a_served_key_counts_globally_and_clears_be_and_bs() {
    let mut h = Harness::new();
    let a = h.make_credential(&Mc::new(RP, b"a", "a").rk()).unwrap();
    assert_eq!(a.flags & (BE | BS), 0);
    let (first, flags) = assert_count(&mut h, &a.credential_id);
    assert!(first > a.sign_count);
    assert_eq!(flags & (BE | BS), 0);
}

#[test]
fn per_credential_counters_start_at_zero_and_count_apart() {
    let mut h = Harness::with_config(Config {
        counter_mode: CounterMode::PerCredential,
        backup_eligible: true,
        backup_state: true,
        ..Config::default()
    });
    let a = h.make_credential(&Mc::new(RP, b"a", "a").rk()).unwrap();
    let b = h.make_credential(&Mc::new(RP, b"b", "b").rk()).unwrap();
    assert_eq!((a.sign_count, b.sign_count), (0, 0));
    assert_eq!(a.flags & (BE | BS), BE | BS);
    assert_eq!(assert_count(&mut h, &a.credential_id).0, 1);
    assert_eq!(assert_count(&mut h, &a.credential_id).0, 2);
    let (b1, flags) = assert_count(&mut h, &b.credential_id);
    assert_eq!(b1, 1);
    assert_eq!(flags & (BE | BS), BE | BS);
    // Kept in the record: a restart continues the count.
    h.restart();
    assert_eq!(assert_count(&mut h, &a.credential_id).0, 3);
    // A non-discoverable credential has no record: the global counter.
    let nr = h.make_credential(&Mc::new(RP, b"n", "n")).unwrap();
    assert!(nr.sign_count > 3);
}

#[test]
fn zero_mode_and_set_properties_give_no_counter_or_a_regressed_one() {
    let mut h = Harness::with_config(Config {
        counter_mode: CounterMode::Zero,
        ..Config::default()
    });
    let a = h.make_credential(&Mc::new(RP, b"a", "a").rk()).unwrap();
    assert_eq!(a.sign_count, 0);
    assert_eq!(assert_count(&mut h, &a.credential_id).0, 0);
    assert_eq!(assert_count(&mut h, &a.credential_id).0, 0);

    // The lab sets a counter of 10, then goes back to 3 (clone detection).
    let set = |h: &mut Harness, counter, be| {
        let properties = CredentialProperties {
            counter,
            backup_eligible: be,
            backup_state: false,
        };
        assert!(set_credential_properties(&mut h.env.store, &a.credential_id, properties).unwrap());
        h.auth.store_changed();
    };
    set(&mut h, SignCounterKind::Own(10), true);
    let (eleven, flags) = assert_count(&mut h, &a.credential_id);
    assert_eq!((eleven, flags & (BE | BS)), (11, BE));
    set(&mut h, SignCounterKind::Own(3), false);
    assert_eq!(assert_count(&mut h, &a.credential_id), (4, 0x01));
    let listed = credential_properties(&h.env.store).unwrap();
    assert_eq!(listed[0].1.counter, SignCounterKind::Own(4));
    assert!(
        !set_credential_properties(&mut h.env.store, b"nope", CredentialProperties::default())
            .unwrap()
    );
}
