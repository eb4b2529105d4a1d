//! authenticatorLargeBlobs scenarios (CTAP 2.1 §6.10): the initial array,
//! fragmented writes read back, the integrity check, sequencing, and the
//! lbw permission once a PIN is set.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{
    PERM_CM, PERM_LBW, PinClient, Token, blob_array, blob_set_request,
};

/// maxMsgSize − 64.
const MAX_FRAGMENT: usize = 7609 - 64;

fn get(h: &mut Harness, offset: u64, count: u64) -> Result<Vec<u8>, u8> {
    let req = Value::int_map(vec![
        (1, Value::Unsigned(count)),
        (3, Value::Unsigned(offset)),
    ]);
    match send(h, LARGE_BLOBS, &req)? {
        Some(v) => match v.get(&Value::Unsigned(1)) {
            Some(Value::Bytes(b)) => Ok(b.clone()),
            other => panic!("config {other:?}"),
        },
        None => panic!("get answered no body"),
    }
}

fn read_all(h: &mut Harness) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let chunk = get(h, out.len() as u64, 1000).unwrap();
        let done = chunk.len() < 1000;
        out.extend_from_slice(&chunk);
        if done {
            return out;
        }
    }
}

fn set(
    h: &mut Harness,
    token: Option<&Token>,
    offset: u64,
    data: &[u8],
    length: Option<u64>,
) -> Result<(), u8> {
    send(
        h,
        LARGE_BLOBS,
        &blob_set_request(token, offset, data, length),
    )
    .map(|r| assert!(r.is_none()))
}

/// A valid serialized array of about `n` bytes: one byte string entry.
fn big_array(n: usize) -> Vec<u8> {
    let entry = Value::Array(vec![Value::Bytes((0..n).map(|i| i as u8).collect())]);
    blob_array(&cbor::encode(&entry))
}

#[test]
fn initial_array_is_empty_array_with_hash() {
    let mut h = Harness::new();
    let initial = get(&mut h, 0, 100).unwrap();
    assert_eq!(initial[0], 0x80);
    assert_eq!(initial, blob_array(&[0x80]));
    assert_eq!(initial.len(), 17);
    // §6.10.2 get steps: offset at the end → empty; past it → INVALID_PARAMETER.
    assert_eq!(get(&mut h, 17, 10).unwrap(), Vec::<u8>::new());
    assert_eq!(get(&mut h, 18, 10), Err(0x02));
    assert_eq!(get(&mut h, 5, 3).unwrap(), initial[5..8]);
    // Reading writes nothing.
    assert_eq!(h.env.store.writes(), 0);
}

#[test]
fn fragmented_write_then_read_back() {
    let mut h = Harness::new();
    let array = big_array(12_000);
    let total = array.len() as u64;
    let mut offset = 0;
    let writes_before = h.env.store.writes();
    for chunk in array.chunks(MAX_FRAGMENT) {
        let length = (offset == 0).then_some(total);
        set(&mut h, None, offset as u64, chunk, length).unwrap();
        offset += chunk.len();
        if offset < array.len() {
            // Nothing durable until the last fragment.
            assert_eq!(h.env.store.writes(), writes_before);
            assert_eq!(read_all(&mut h), blob_array(&[0x80]));
        }
    }
    assert_eq!(h.env.store.writes(), writes_before + 1, "one durable write");
    assert_eq!(read_all(&mut h), array);
    // It survives a restart (it is in the store).
    h.restart();
    assert_eq!(read_all(&mut h), array);
    // A get of more than maxFragmentLength is INVALID_LENGTH.
    assert_eq!(get(&mut h, 0, MAX_FRAGMENT as u64 + 1), Err(0x03));
    assert_eq!(
        get(&mut h, 0, MAX_FRAGMENT as u64).unwrap(),
        array[..MAX_FRAGMENT]
    );
}

#[test]
fn bad_hash_is_integrity_failure_and_keeps_the_old_array() {
    let mut h = Harness::new();
    let mut array = big_array(100);
    let last = array.len() - 1;
    array[last] ^= 1;
    assert_eq!(
        set(&mut h, None, 0, &array[..50], Some(array.len() as u64)),
        Ok(())
    );
    assert_eq!(set(&mut h, None, 50, &array[50..], None), Err(0x3D));
    assert_eq!(read_all(&mut h), blob_array(&[0x80]));
    // The write is over: continuing it is out of sequence.
    assert_eq!(set(&mut h, None, 50, &array[50..], None), Err(0x04));
}

#[test]
fn sequencing_and_length_rules() {
    let mut h = Harness::new();
    let array = big_array(100);
    let len = array.len() as u64;
    // A non-zero offset with no write begun.
    assert_eq!(set(&mut h, None, 10, &array[10..], None), Err(0x04));
    // First fragment: length required, ≥ 17, ≤ maxSerializedLargeBlobArray.
    assert_eq!(set(&mut h, None, 0, &array[..10], None), Err(0x02));
    assert_eq!(set(&mut h, None, 0, &array[..10], Some(16)), Err(0x02));
    assert_eq!(set(&mut h, None, 0, &array[..10], Some(16385)), Err(0x18));
    assert_eq!(set(&mut h, None, 0, &array[..10], Some(len)), Ok(()));
    // Out of order (gap, overlap), a length on a later fragment.
    assert_eq!(set(&mut h, None, 11, &array[11..20], None), Err(0x04));
    assert_eq!(set(&mut h, None, 9, &array[9..20], None), Err(0x04));
    assert_eq!(set(&mut h, None, 10, &array[10..20], Some(len)), Err(0x02));
    // Past the declared length.
    let mut too_much = array[10..].to_vec();
    too_much.push(0);
    assert_eq!(set(&mut h, None, 10, &too_much, None), Err(0x02));
    // The write is still alive after those refusals.
    assert_eq!(set(&mut h, None, 10, &array[10..], None), Ok(()));
    assert_eq!(read_all(&mut h), array);
    // A fragment larger than maxFragmentLength.
    assert_eq!(
        set(&mut h, None, 0, &vec![0; MAX_FRAGMENT + 1], Some(10_000)),
        Err(0x03)
    );
    // A new offset-0 fragment restarts the write.
    assert_eq!(set(&mut h, None, 0, &array[..10], Some(len)), Ok(()));
    assert_eq!(set(&mut h, None, 0, &array[..20], Some(len)), Ok(()));
    assert_eq!(set(&mut h, None, 20, &array[20..], None), Ok(()));
    assert_eq!(read_all(&mut h), array);
    // A power-up drops a half-written array.
    assert_eq!(set(&mut h, None, 0, &array[..10], Some(len)), Ok(()));
    h.auth.power_up(&mut h.env);
    assert_eq!(set(&mut h, None, 10, &array[10..], None), Err(0x04));
}

#[test]
fn malformed_requests() {
    let mut h = Harness::new();
    let req = |pairs: Vec<(u64, Value)>| Value::int_map(pairs);
    // §6.10.2 step 1: offset is required (INVALID_PARAMETER).
    assert_eq!(
        send(&mut h, LARGE_BLOBS, &req(vec![(1, Value::Unsigned(5))])),
        Err(0x02)
    );
    // Neither or both of get and set.
    assert_eq!(
        send(&mut h, LARGE_BLOBS, &req(vec![(3, Value::Unsigned(0))])),
        Err(0x02)
    );
    let both = req(vec![
        (1, Value::Unsigned(5)),
        (2, Value::bytes(b"x")),
        (3, Value::Unsigned(0)),
    ]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &both), Err(0x02));
    // get with length or pinUvAuth members.
    for extra in [
        (4, Value::Unsigned(5)),
        (5, Value::bytes(&[0; 16])),
        (6, Value::Unsigned(1)),
    ] {
        let r = req(vec![
            (1, Value::Unsigned(5)),
            (3, Value::Unsigned(0)),
            extra,
        ]);
        assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x02));
    }
    // Wrong types.
    let r = req(vec![(1, Value::text("5")), (3, Value::Unsigned(0))]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x11));
    let r = req(vec![(2, Value::text("x")), (3, Value::Unsigned(0))]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x11));
    let r = req(vec![(1, Value::Unsigned(5)), (3, Value::int(-1))]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x11));
    assert_eq!(h.raw(&[LARGE_BLOBS]), [0x12]);
    assert_eq!(h.raw(&[LARGE_BLOBS, 0xA1, 0x03]), [0x12]);
    // Huge numbers do not overflow anything.
    let r = req(vec![
        (1, Value::Unsigned(u64::MAX)),
        (3, Value::Unsigned(u64::MAX)),
    ]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x03));
    let r = req(vec![
        (1, Value::Unsigned(1)),
        (3, Value::Unsigned(u64::MAX)),
    ]);
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x02));
    let r = blob_set_request(None, 0, b"x", Some(u64::MAX));
    assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x18));
}

#[test]
fn with_a_pin_every_fragment_needs_an_lbw_token() {
    for protocol in [1, 2] {
        let mut h = Harness::new();
        pin_and_token(&mut h, protocol, "1234", PERM_LBW);
        let array = big_array(9000);
        let len = array.len() as u64;
        // No pinUvAuthParam → PUAT_REQUIRED.
        assert_eq!(set(&mut h, None, 0, &array[..100], Some(len)), Err(0x36));
        // A token without lbw → PIN_AUTH_INVALID (§6.10.2 set step 5.5).
        let cm = PinClient::new(protocol)
            .token(&mut h.auth, &mut h.env, "1234", PERM_CM, None)
            .unwrap();
        assert_eq!(
            set(&mut h, Some(&cm), 0, &array[..100], Some(len)),
            Err(0x33)
        );
        // A wrong param.
        let fake = Token {
            protocol,
            key: vec![9; 32],
        };
        assert_eq!(
            set(&mut h, Some(&fake), 0, &array[..100], Some(len)),
            Err(0x33)
        );
        // The param binds the offset: one made for offset 0 fails at 100.
        let lbw = PinClient::new(protocol)
            .token(&mut h.auth, &mut h.env, "1234", PERM_LBW, None)
            .unwrap();
        assert_eq!(set(&mut h, Some(&lbw), 0, &array[..100], Some(len)), Ok(()));
        let mut shifted = blob_set_request(Some(&lbw), 0, &array[100..200], None);
        if let Value::Map(pairs) = &mut shifted {
            for (k, v) in pairs.iter_mut() {
                if *k == Value::Unsigned(3) {
                    *v = Value::Unsigned(100);
                }
            }
        }
        assert_eq!(send(&mut h, LARGE_BLOBS, &shifted), Err(0x33));
        // Done properly, in fragments.
        let mut offset = 100;
        for chunk in array[100..].chunks(4000) {
            set(&mut h, Some(&lbw), offset as u64, chunk, None).unwrap();
            offset += chunk.len();
        }
        assert_eq!(read_all(&mut h), array);
        // Reading needs no token.
        assert_eq!(get(&mut h, 0, 10).unwrap(), array[..10]);
        // pinUvAuthParam without its protocol.
        let mut r = blob_set_request(Some(&lbw), 0, &array[..100], Some(len));
        if let Value::Map(pairs) = &mut r {
            pairs.retain(|(k, _)| *k != Value::Unsigned(6));
        }
        assert_eq!(send(&mut h, LARGE_BLOBS, &r), Err(0x14));
    }
}
