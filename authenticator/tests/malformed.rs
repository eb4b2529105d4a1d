//! The CBOR rows of ARCHITECTURE.md "Malformed requests", sent as raw bytes, plus a
//! fuzz-style run of mutated requests through `process_cbor`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::PinClient;
use softkey_authenticator::testing::{SeededRng, fuzz_process_cbor};

fn with_command(command: u8, body: &[u8]) -> Vec<u8> {
    [&[command][..], body].concat()
}

fn valid_mc() -> Vec<u8> {
    cbor::encode(&Mc::new("example.com", b"u", "a").to_value())
}

#[test]
fn wrong_type_is_cbor_unexpected_type() {
    let mut h = Harness::new();
    // rp as text, clientDataHash as text, options as array, rpId as bytes.
    let mut mc = Mc::new("example.com", b"u", "a").to_value();
    if let Value::Map(pairs) = &mut mc {
        pairs[1].1 = Value::text("example.com");
    }
    assert_eq!(h.call(MAKE_CREDENTIAL, &mc).err(), Some(0x11));
    let ga = Value::int_map(vec![
        (1, Value::bytes(b"example.com")),
        (2, Value::bytes(&CDH)),
    ]);
    assert_eq!(h.call(GET_ASSERTION, &ga).err(), Some(0x11));
    let ga = Value::int_map(vec![
        (1, Value::text("example.com")),
        (2, Value::bytes(&CDH)),
        (5, Value::Array(vec![])),
    ]);
    assert_eq!(h.call(GET_ASSERTION, &ga).err(), Some(0x11));
    // A request that is not a map at all.
    assert_eq!(h.raw(&[MAKE_CREDENTIAL, 0x80]), [0x11]);
}

#[test]
fn missing_required_key_is_missing_parameter() {
    let mut h = Harness::new();
    let full = Mc::new("example.com", b"u", "a").to_value();
    for drop in 1..=4u64 {
        let Value::Map(pairs) = &full else {
            unreachable!()
        };
        let partial = Value::Map(
            pairs
                .iter()
                .filter(|(k, _)| *k != Value::Unsigned(drop))
                .cloned()
                .collect(),
        );
        assert_eq!(
            h.call(MAKE_CREDENTIAL, &partial).err(),
            Some(0x14),
            "without key {drop}"
        );
    }
    assert_eq!(
        h.call(GET_ASSERTION, &Value::int_map(vec![(1, Value::text("x"))]))
            .err(),
        Some(0x14)
    );
    // rp without id, user without id.
    let mut mc = Mc::new("example.com", b"u", "a").to_value();
    if let Value::Map(pairs) = &mut mc {
        pairs[1].1 = Value::text_map(vec![("name", Value::text("n"))]);
    }
    assert_eq!(h.call(MAKE_CREDENTIAL, &mc).err(), Some(0x14));
    assert_eq!(h.presence_count(), 0);
}

#[test]
fn malformed_cbor_is_invalid_cbor() {
    let mut h = Harness::new();
    let mc = valid_mc();
    // Truncated at every length.
    for cut in 0..mc.len() {
        assert_eq!(
            h.raw(&with_command(MAKE_CREDENTIAL, &mc[..cut])),
            [0x12],
            "cut {cut}"
        );
    }
    // Trailing bytes.
    assert_eq!(
        h.raw(&with_command(
            MAKE_CREDENTIAL,
            &[mc.as_slice(), &[0x00]].concat()
        )),
        [0x12]
    );
    // Non-canonical: 1-byte map count written in two bytes.
    let mut long_head = vec![0xB8, mc[0] & 0x1F];
    long_head.extend_from_slice(&mc[1..]);
    assert_eq!(h.raw(&with_command(MAKE_CREDENTIAL, &long_head)), [0x12]);
    // Non-canonical: keys 1 and 2 swapped.
    let ga = cbor::encode(&Ga::new("example.com").to_value());
    let rp = cbor::encode(&Value::text("example.com"));
    let cdh = cbor::encode(&Value::bytes(&CDH));
    let swapped = [&[0xA2, 0x02][..], &cdh, &[0x01], &rp].concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &swapped)), [0x12]);
    assert_eq!(
        ga,
        [&[0xA2, 0x01][..], &rp, &[0x02], &cdh].concat(),
        "control"
    );
    // Indefinite-length map.
    let indefinite = [&[0xBF, 0x01][..], &rp, &[0x02], &cdh, &[0xFF]].concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &indefinite)), [0x12]);
    // Depth 5: an extension nested one level too deep.
    let deep = [
        &[0xA3, 0x01][..],
        &rp,
        &[0x02],
        &cdh,
        &[0x04, 0xA1, 0x01, 0x81, 0x81, 0x80],
    ]
    .concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &deep)), [0x12]);
    // Invalid UTF-8 in the rp id.
    let bad_utf8 = [&[0xA2, 0x01, 0x62, 0xC3, 0x28, 0x02][..], &cdh].concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &bad_utf8)), [0x12]);
    assert_eq!(h.presence_count(), 0);
}

#[test]
fn real_request_shapes_fit_depth_four() {
    let mut h = Harness::new();
    let att = h
        .make_credential(&Mc::new("example.com", b"u", "a"))
        .unwrap();
    // excludeList entries with transports arrays: map → list → map → array.
    let mut mc = Mc::new("example.com", b"v", "b");
    mc.exclude = Some(vec![vec![9; 62]; 20]);
    h.make_credential(&mc).unwrap();
    // hmac-secret: map → extensions → hmac-secret → COSE key, a real one.
    let client = PinClient::new(2);
    let ka = client.key_agreement(&mut h.auth, &mut h.env).unwrap();
    let salt_enc = ka.encrypt(&mut h.env, &[5; 32]);
    let mut ga = Ga::new("example.com").allow(&[&att.credential_id]);
    ga.extensions = Some(Value::text_map(vec![(
        "hmac-secret",
        Value::int_map(vec![
            (1, ka.cose_key.clone()),
            (3, Value::bytes(&ka.authenticate(&salt_enc))),
            (2, Value::Bytes(salt_enc)),
            (4, Value::Unsigned(2)),
        ]),
    )]));
    let a = h.get_assertion(&ga).unwrap();
    assert!(a.extensions.is_some());
}

#[test]
fn huge_declared_length_fails_without_allocating() {
    let mut h = Harness::new();
    // allowList declaring 2^64-1 entries inside a small message: allocating
    // for it would abort the test process.
    let rp = cbor::encode(&Value::text("example.com"));
    let cdh = cbor::encode(&Value::bytes(&CDH));
    let huge = [
        &[0xA3, 0x01][..],
        &rp,
        &[0x02],
        &cdh,
        &[0x03, 0x9B],
        &[0xFF; 8],
    ]
    .concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &huge)), [0x12]);
    let huge_bytes = [&[0xA2, 0x01][..], &rp, &[0x02, 0x5B], &[0x7F; 8]].concat();
    assert_eq!(h.raw(&with_command(GET_ASSERTION, &huge_bytes)), [0x12]);
}

/// Mutates a valid request: flip, insert, delete or overwrite bytes, or cut.
fn mutate(rng: &mut SeededRng, seed: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let pos = rng.below(out.len() + 1);
        let mut b = [0u8; 1];
        rng.fill(&mut b);
        match rng.below(5) {
            0 if pos < out.len() => out[pos] ^= 1 << (b[0] % 8),
            1 => out.insert(pos, b[0]),
            2 if pos < out.len() => {
                out.remove(pos);
            }
            3 if pos < out.len() => out[pos] = b[0],
            _ => out.truncate(pos.max(1)),
        }
    }
    out
}

#[test]
fn fuzzed_requests_never_panic_and_answer_well_formed() {
    let mut h = Harness::new();
    let att = h
        .make_credential(&Mc::new("example.com", b"u", "a").rk())
        .unwrap();
    let mut mc = Mc::new("example.com", b"v", "b").rk();
    mc.exclude = Some(vec![att.credential_id.clone()]);
    let seeds: Vec<Vec<u8>> = vec![
        with_command(MAKE_CREDENTIAL, &cbor::encode(&mc.to_value())),
        with_command(
            GET_ASSERTION,
            &cbor::encode(&Ga::new("example.com").to_value()),
        ),
        with_command(
            GET_ASSERTION,
            &cbor::encode(
                &Ga::new("example.com")
                    .allow(&[&att.credential_id])
                    .to_value(),
            ),
        ),
        vec![GET_INFO],
        vec![GET_NEXT_ASSERTION],
    ];
    let mut rng = SeededRng::new(1234);
    let mut successes = 0;
    for i in 0..4000 {
        let seed = &seeds[i % seeds.len()];
        let request = if i < seeds.len() {
            seed.clone()
        } else {
            mutate(&mut rng, seed)
        };
        // A long-lived authenticator (sequences matter: getNextAssertion
        // state) and a fresh one from the public fuzz entry point.
        for out in [h.raw(&request), fuzz_process_cbor(&request)] {
            match out.split_first() {
                Some((0, body)) => {
                    successes += 1;
                    // selection, reset, setPIN...: success without a body.
                    if !body.is_empty() {
                        canonical(body);
                    }
                }
                Some((status, [])) => assert!(is_ctap_status(*status), "{status:02X}"),
                other => panic!("malformed response {other:?} to {request:02X?}"),
            }
        }
    }
    assert!(
        successes > 100,
        "mutations still reach the handlers ({successes})"
    );
}

fn is_ctap_status(b: u8) -> bool {
    matches!(b, 0x01..=0x06 | 0x0A | 0x0B | 0x11..=0x19 | 0x21..=0x40 | 0x7F)
}
