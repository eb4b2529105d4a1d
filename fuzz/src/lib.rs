//! Fuzz entry points: one plain function per parser of untrusted input, so
//! that libFuzzer (the `fuzz_targets/`, built by cargo-fuzz) and a stable
//! test (`tests/replay.rs`, run in every CI build) call the very same code.
//!
//! Each takes arbitrary bytes and must return without panicking, whatever
//! they hold; where a parser promises more (a response always begins with
//! a status byte, a reply never exceeds the buffer it answers), the entry
//! point asserts it. Deterministic: seeded RNGs and virtual clocks only, so
//! every finding replays.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{MemoryStore, PinClient, TestEnv};
use softkey_authenticator::{
    Authenticator, Config, MAX_CREDENTIAL_COUNT_IN_LIST, Store, list_credentials,
};
use softkey_transport::ctaphid::{Ctaphid, CtaphidConfig, Event};
use softkey_transport::usbip::codec::{self, BUSID_LEN, OP_HEADER_LEN};
use softkey_transport::usbip::{Device, DeviceConfig};

/// The PIN of the prepared authenticators.
const PIN: &str = "1234";
/// The RP of the prepared discoverable credential.
const RP: &str = "fuzz.example";

// ---------------------------------------------------------------- transport

/// CTAPHID (CTAP 2.1 §11.2): the bytes as 64-byte reports, each preceded by
/// a byte of virtual time (in 10 ms steps); every request is answered with
/// its own payload, so responses of every length go out too.
pub fn ctaphid(data: &[u8]) {
    let mut hid = Ctaphid::new(CtaphidConfig::default());
    let start = Instant::now();
    let mut now = start;
    for chunk in data.chunks(65) {
        let Some((&tick, report)) = chunk.split_first() else {
            break;
        };
        now += Duration::from_millis(u64::from(tick) * 10);
        let mut packet = [0u8; 64];
        packet.iter_mut().zip(report).for_each(|(p, r)| *p = *r);
        hid.handle_packet(now, &packet);
        hid.handle_timeout(now);
        drain(&mut hid);
    }
    hid.handle_timeout(now + Duration::from_secs(60));
    drain(&mut hid);
}

fn drain(hid: &mut Ctaphid) {
    while let Some(event) = hid.poll_event() {
        if let Event::Request(d) = event {
            let mut answer = vec![0x00];
            answer.extend_from_slice(&d.request.payload);
            hid.complete(d.id, &answer);
        }
    }
    while hid.poll_transmit().is_some() {}
}

/// A USB/IP URB stream after the import (Linux `usbip_protocol.rst`):
/// CMD_SUBMIT / CMD_UNLINK frames, control transfers on endpoint 0 and
/// interrupt transfers carrying CTAPHID, as the connection drives them.
/// Every RET_SUBMIT must fit the buffer its URB offered.
pub fn usbip_urbs(data: &[u8]) {
    let config = DeviceConfig::new("FUZZ0001");
    let mut device = Device::new(&config, Ctaphid::new(CtaphidConfig::default()));
    let now = Instant::now();
    let mut out = Vec::new();
    let mut rest = data;
    while let Ok(Some((cmd, len))) = codec::decode_urb(rest) {
        let payload = rest.get(codec::URB_HEADER_LEN..len).unwrap_or_default();
        if device.handle_command(now, &cmd, payload, &mut out).is_err() {
            return;
        }
        while let Some(event) = device.poll_event() {
            if let Event::Request(d) = event {
                device.complete(d.id, &[0x00], &mut out);
            }
        }
        rest = rest.get(len..).unwrap_or_default();
        out.clear();
    }
    device.handle_timeout(now + Duration::from_secs(60), &mut out);
}

/// The operation phase: OP_REQ_DEVLIST / OP_REQ_IMPORT header and bus id.
pub fn usbip_ops(data: &[u8]) {
    let Some(header) = data.get(..OP_HEADER_LEN) else {
        return;
    };
    let header: [u8; OP_HEADER_LEN] = header.try_into().unwrap_or([0; OP_HEADER_LEN]);
    if codec::parse_op_header(&header).is_ok()
        && let Some(busid) = data.get(OP_HEADER_LEN..OP_HEADER_LEN + BUSID_LEN)
    {
        let busid: [u8; BUSID_LEN] = busid.try_into().unwrap_or([0; BUSID_LEN]);
        assert!(codec::parse_busid(&busid).len() <= BUSID_LEN);
    }
}

// ---------------------------------------------------------------- authenticator

/// A store holding a PIN and one discoverable credential (with credBlob and
/// a largeBlobKey) at [`RP`], made once: each run starts from a copy.
fn prepared() -> &'static TestEnv {
    static PREPARED: OnceLock<TestEnv> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let mut env = TestEnv::new(7);
        let mut auth = Authenticator::new(Config::default());
        auth.power_up(&mut env);
        let rk = Value::text_map(vec![("rk", Value::Bool(true))]);
        let request = Value::int_map(vec![
            (1, Value::bytes(&[1; 32])),
            (2, Value::text_map(vec![("id", Value::text(RP))])),
            (
                3,
                Value::text_map(vec![
                    ("id", Value::bytes(b"fuzz-user")),
                    ("name", Value::text("fuzz")),
                ]),
            ),
            (
                4,
                Value::Array(vec![Value::text_map(vec![
                    ("alg", Value::int(-7)),
                    ("type", Value::text("public-key")),
                ])]),
            ),
            (
                6,
                Value::text_map(vec![
                    ("credBlob", Value::bytes(b"blob")),
                    ("largeBlobKey", Value::Bool(true)),
                ]),
            ),
            (7, rk),
        ]);
        let mut message = vec![0x01];
        message.extend_from_slice(&cbor::encode(&request));
        let made = auth.process_cbor(&mut env, &message);
        assert_eq!(made.first(), Some(&0x00), "preparing the credential");
        PinClient::new(2)
            .set_pin(&mut auth, &mut env, PIN)
            .unwrap_or_else(|code| panic!("preparing the PIN: {code:#04x}"));
        env
    })
}

/// A fresh authenticator on a copy of the prepared store, powered up, or on
/// an empty store (`empty`).
fn authenticator(empty: bool) -> (Authenticator, TestEnv) {
    let mut env = if empty {
        TestEnv::new(1)
    } else {
        prepared().clone()
    };
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    (auth, env)
}

/// Checks what every CTAP2 response promises: a status byte, and a body
/// only with success.
fn check_response(response: &[u8]) {
    let (&status, body) = response.split_first().expect("a status byte");
    assert!(
        status == 0x00 || body.is_empty(),
        "error {status:#04x} with a body"
    );
    if !body.is_empty() {
        cbor::decode(body).expect("a success body is canonical CBOR");
    }
}

/// One CTAP2 message (`command || CBOR`, CTAP 2.1 §6) to an authenticator
/// with or without a PIN and a credential (the first byte chooses): every
/// command's request parsing, clientPIN, credentialManagement, largeBlobs
/// and authenticatorConfig included.
pub fn ctap2_command(data: &[u8]) {
    let Some((&state, message)) = data.split_first() else {
        return;
    };
    let (mut auth, mut env) = authenticator(state & 1 == 0);
    check_response(&auth.process_cbor(&mut env, message));
}

/// A sequence of messages to one authenticator: each is a length byte, a
/// control byte (bit 0: power-up first, bits 1-3: advance the clock, bit 4:
/// deny presence, bit 5: a U2F APDU instead of CTAP2, bits 6-7: channel)
/// and the message. Exercises state across commands: tokens and their
/// timers, getNextAssertion and credential-management sequences, the PIN
/// retry counters, large-blob writes in fragments, reset windows.
pub fn ctap2_sequence(data: &[u8]) {
    let Some((&state, mut rest)) = data.split_first() else {
        return;
    };
    let (mut auth, mut env) = authenticator(state & 1 == 0);
    while let [len, control, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (message, next) = tail.split_at(take);
        rest = next;
        if control & 0x01 != 0 {
            auth.power_up(&mut env);
        }
        env.advance(Duration::from_secs(u64::from((control >> 1) & 0x07) * 8));
        if control & 0x10 != 0 {
            env.presence
                .push(Err(softkey_authenticator::PresenceError::Denied));
        }
        if control & 0x20 != 0 {
            let response = auth.process_apdu(&mut env, message);
            assert!(response.len() >= 2, "an APDU answer ends in a status word");
        } else {
            let channel = u32::from(control >> 6);
            check_response(&auth.process_cbor_on(&mut env, channel, message));
        }
    }
}

/// One U2F APDU (FIDO U2F raw messages, CTAPHID_MSG) to an authenticator
/// with a registered credential.
pub fn u2f_apdu(data: &[u8]) {
    let (mut auth, mut env) = authenticator(false);
    let response = auth.process_apdu(&mut env, data);
    assert!(response.len() >= 2, "an APDU answer ends in a status word");
}

/// A platform COSE_Key (CTAP 2.1 §6.5.6, keyAgreement) as arbitrary CBOR,
/// sent where the authenticator parses one: clientPIN getPinToken and
/// setPIN, and the hmac-secret extension of getAssertion.
pub fn cose_key(data: &[u8]) {
    let Ok(key) = cbor::decode(data) else {
        return;
    };
    let (mut auth, mut env) = authenticator(false);
    let token = Value::int_map(vec![
        (1, Value::Unsigned(2)),
        (2, Value::Unsigned(5)),
        (3, key.clone()),
        (6, Value::bytes(&[0; 32])),
    ]);
    let mut message = vec![0x06];
    message.extend_from_slice(&cbor::encode(&token));
    check_response(&auth.process_cbor(&mut env, &message));
    let hmac = Value::text_map(vec![(
        "hmac-secret",
        Value::int_map(vec![
            (1, key),
            (2, Value::bytes(&[0; 32])),
            (3, Value::bytes(&[0; 32])),
        ]),
    )]);
    let assertion = Value::int_map(vec![
        (1, Value::text(RP)),
        (2, Value::bytes(&[2; 32])),
        (4, hmac),
    ]);
    let mut message = vec![0x02];
    message.extend_from_slice(&cbor::encode(&assertion));
    check_response(&auth.process_cbor(&mut env, &message));
}

/// Credential IDs from the platform (allowList, excludeList): every one is
/// tried against the key's wrapping keys (credential-id unwrapping). The
/// bytes are split into up to [`MAX_CREDENTIAL_COUNT_IN_LIST`] IDs at 0xFF
/// bytes.
pub fn credential_id(data: &[u8]) {
    let ids: Vec<Value> = data
        .split(|b| *b == 0xFF)
        .take(usize::try_from(MAX_CREDENTIAL_COUNT_IN_LIST).unwrap_or(8))
        .map(|id| {
            Value::text_map(vec![
                ("id", Value::bytes(id)),
                ("type", Value::text("public-key")),
            ])
        })
        .collect();
    let (mut auth, mut env) = authenticator(false);
    let assertion = Value::int_map(vec![
        (1, Value::text(RP)),
        (2, Value::bytes(&[3; 32])),
        (3, Value::Array(ids.clone())),
        (5, Value::text_map(vec![("up", Value::Bool(false))])),
    ]);
    let mut message = vec![0x02];
    message.extend_from_slice(&cbor::encode(&assertion));
    check_response(&auth.process_cbor(&mut env, &message));
    let registration = Value::int_map(vec![
        (1, Value::bytes(&[4; 32])),
        (2, Value::text_map(vec![("id", Value::text(RP))])),
        (3, Value::text_map(vec![("id", Value::bytes(b"other"))])),
        (
            4,
            Value::Array(vec![Value::text_map(vec![
                ("alg", Value::int(-7)),
                ("type", Value::text("public-key")),
            ])]),
        ),
        (5, Value::Array(ids)),
    ]);
    let mut message = vec![0x01];
    message.extend_from_slice(&cbor::encode(&registration));
    check_response(&auth.process_cbor(&mut env, &message));
}

/// A stored credential record that is not what we wrote (a damaged or
/// altered vault record, or one from an import): listing, username-less
/// lookup, credential management and backup export must refuse or skip it,
/// never panic.
pub fn stored_records(data: &[u8]) {
    let (_, mut env) = authenticator(false);
    let rp_hash: [u8; 32] = Sha256::digest(RP.as_bytes()).into();
    let key = [b"cred/".as_slice(), &rp_hash, b"fuzzed"].concat();
    if env.store.put(&key, data).is_err() {
        return;
    }
    let _ = list_credentials(&env.store);
    let _ = softkey_authenticator::export_backup(&env.store);
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    let assertion = Value::int_map(vec![(1, Value::text(RP)), (2, Value::bytes(&[5; 32]))]);
    let mut message = vec![0x02];
    message.extend_from_slice(&cbor::encode(&assertion));
    check_response(&auth.process_cbor(&mut env, &message));
}

/// The stored large-blob array (CTAP 2.1 §6.10) as anything at all, read
/// back by largeBlobs get in fragments.
pub fn large_blob_array(data: &[u8]) {
    let mut store = MemoryStore::new();
    if store.put(b"device/large-blobs", data).is_err() {
        return;
    }
    let mut env = TestEnv::new(3);
    env.store.inner = store;
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    for offset in [0u64, 1, 17, 1024] {
        let get = Value::int_map(vec![
            (1, Value::Unsigned(1024)),
            (3, Value::Unsigned(offset)),
        ]);
        let mut message = vec![0x0C];
        message.extend_from_slice(&cbor::encode(&get));
        check_response(&auth.process_cbor(&mut env, &message));
    }
}

// ---------------------------------------------------------------- the program's files

/// A decrypted backup (CXF JSON), as `softkey import` reads it.
pub fn cxf_backup(data: &[u8]) {
    softkey::fuzzing::cxf_backup(data);
}

/// One control-socket line (the `softkey approve` / `pending` protocol).
pub fn control_line(data: &[u8]) {
    softkey::fuzzing::control_line(data);
}

/// The configuration file.
pub fn config_file(data: &[u8]) {
    softkey::fuzzing::config_file(data);
}

/// A backup envelope's header: its KDF cost is read before anything runs.
pub fn backup_header(data: &[u8]) {
    if let Ok(params) = softkey_vault::backup::kdf_params(data) {
        assert!(
            params.validate().is_ok(),
            "a cost out of bounds got through"
        );
    }
}

/// Request text as prompts show it: no control character survives.
pub fn shown_text(data: &[u8]) {
    softkey::fuzzing::shown_text(data);
}

/// A fuzz entry point.
pub type Target = fn(&[u8]);

/// Every entry point by target name, for the replay test.
pub const TARGETS: &[(&str, Target)] = &[
    ("ctaphid", ctaphid),
    ("usbip_urbs", usbip_urbs),
    ("usbip_ops", usbip_ops),
    ("ctap2_command", ctap2_command),
    ("ctap2_sequence", ctap2_sequence),
    ("u2f_apdu", u2f_apdu),
    ("cose_key", cose_key),
    ("credential_id", credential_id),
    ("stored_records", stored_records),
    ("large_blob_array", large_blob_array),
    ("cxf_backup", cxf_backup),
    ("control_line", control_line),
    ("config_file", config_file),
    ("backup_header", backup_header),
    ("shown_text", shown_text),
];
