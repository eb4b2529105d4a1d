//! Writes the seed inputs of every fuzz target to `fuzz/corpus/TARGET/seed-*`:
//! well-formed examples of what each parser reads, so that fuzzing starts
//! from valid structure. Run once (`cargo run -p softkey-fuzz --example
//! seeds`); the fuzzing runs grow the corpora from there.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use std::path::Path;

use softkey_authenticator::cbor::{self, Value};
use softkey_authenticator::testing::{PinClient, TestEnv};
use softkey_authenticator::{Authenticator, Config, Store, export_backup};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn message(command: u8, body: &Value) -> Vec<u8> {
    let mut m = vec![command];
    m.extend_from_slice(&cbor::encode(body));
    m
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A platform keyAgreement COSE_Key: the P-256 generator point.
fn cose_key() -> Value {
    let x = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let y = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    Value::Map(vec![
        (Value::int(1), Value::int(2)),
        (Value::int(3), Value::int(-25)),
        (Value::int(-1), Value::int(1)),
        (Value::int(-2), Value::Bytes(x)),
        (Value::int(-3), Value::Bytes(y)),
    ])
}

fn es256() -> Value {
    Value::Array(vec![Value::text_map(vec![
        ("alg", Value::int(-7)),
        ("type", Value::text("public-key")),
    ])])
}

/// Well-formed CTAP2 messages of every command.
fn ctap2_messages() -> Vec<(&'static str, Vec<u8>)> {
    let rp = Value::text_map(vec![("id", Value::text("fuzz.example"))]);
    let user = Value::text_map(vec![("id", Value::bytes(b"u")), ("name", Value::text("n"))]);
    let mc = Value::int_map(vec![
        (1, Value::bytes(&[1; 32])),
        (2, rp.clone()),
        (3, user),
        (4, es256()),
        (
            6,
            Value::text_map(vec![
                ("credProtect", Value::Unsigned(2)),
                ("credBlob", Value::bytes(b"b")),
                ("hmac-secret", Value::Bool(true)),
                ("largeBlobKey", Value::Bool(true)),
                ("minPinLength", Value::Bool(true)),
            ]),
        ),
        (7, Value::text_map(vec![("rk", Value::Bool(true))])),
        (8, Value::bytes(&[0; 32])),
        (9, Value::Unsigned(2)),
    ]);
    let ga = Value::int_map(vec![
        (1, Value::text("fuzz.example")),
        (2, Value::bytes(&[2; 32])),
        (
            3,
            Value::Array(vec![Value::text_map(vec![
                ("id", Value::bytes(&[9; 64])),
                ("type", Value::text("public-key")),
            ])]),
        ),
        (
            4,
            Value::text_map(vec![
                ("credBlob", Value::Bool(true)),
                ("largeBlobKey", Value::Bool(true)),
            ]),
        ),
        (5, Value::text_map(vec![("up", Value::Bool(false))])),
    ]);
    let pin = |sub: u64, extra: Vec<(u64, Value)>| {
        let mut pairs = vec![(1, Value::Unsigned(2)), (2, Value::Unsigned(sub))];
        pairs.extend(extra);
        message(0x06, &Value::int_map(pairs))
    };
    let cm = |sub: u64, params: Option<Value>| {
        let mut pairs = vec![(1, Value::Unsigned(sub))];
        if let Some(p) = params {
            pairs.push((2, p));
        }
        pairs.push((3, Value::Unsigned(2)));
        pairs.push((4, Value::bytes(&[0; 32])));
        message(0x0A, &Value::int_map(pairs))
    };
    vec![
        ("get-info", vec![0x04]),
        ("make-credential", message(0x01, &mc)),
        ("get-assertion", message(0x02, &ga)),
        ("get-next-assertion", vec![0x08]),
        ("pin-retries", pin(1, vec![])),
        ("key-agreement", pin(2, vec![])),
        (
            "set-pin",
            pin(
                3,
                vec![
                    (3, cose_key()),
                    (4, Value::bytes(&[0; 32])),
                    (5, Value::bytes(&[0; 80])),
                ],
            ),
        ),
        (
            "change-pin",
            pin(
                4,
                vec![
                    (3, cose_key()),
                    (4, Value::bytes(&[0; 32])),
                    (5, Value::bytes(&[0; 80])),
                    (6, Value::bytes(&[0; 32])),
                ],
            ),
        ),
        (
            "get-pin-token",
            pin(5, vec![(3, cose_key()), (6, Value::bytes(&[0; 32]))]),
        ),
        (
            "token-with-permissions",
            pin(
                9,
                vec![
                    (3, cose_key()),
                    (6, Value::bytes(&[0; 32])),
                    (9, Value::Unsigned(0x04)),
                    (10, Value::text("fuzz.example")),
                ],
            ),
        ),
        ("creds-metadata", cm(1, None)),
        ("enumerate-rps", cm(2, None)),
        (
            "enumerate-creds",
            cm(4, Some(Value::int_map(vec![(1, Value::bytes(&[3; 32]))]))),
        ),
        (
            "delete-cred",
            cm(
                6,
                Some(Value::int_map(vec![(
                    2,
                    Value::text_map(vec![
                        ("id", Value::bytes(&[4; 16])),
                        ("type", Value::text("public-key")),
                    ]),
                )])),
            ),
        ),
        (
            "large-blobs-get",
            message(
                0x0C,
                &Value::int_map(vec![(1, Value::Unsigned(64)), (3, Value::Unsigned(0))]),
            ),
        ),
        (
            "large-blobs-set",
            message(
                0x0C,
                &Value::int_map(vec![
                    (2, Value::bytes(&[0x80; 17])),
                    (3, Value::Unsigned(0)),
                    (4, Value::Unsigned(17)),
                    (5, Value::bytes(&[0; 32])),
                    (6, Value::Unsigned(2)),
                ]),
            ),
        ),
        (
            "config-min-pin",
            message(
                0x0D,
                &Value::int_map(vec![
                    (1, Value::Unsigned(3)),
                    (2, Value::int_map(vec![(1, Value::Unsigned(6))])),
                    (3, Value::Unsigned(2)),
                    (4, Value::bytes(&[0; 32])),
                ]),
            ),
        ),
        ("selection", vec![0x0B]),
        ("reset", vec![0x07]),
    ]
}

fn main() {
    // Transport.
    let mut init = vec![0]; // tick
    init.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08]);
    init.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    init.resize(65, 0);
    let mut ping = vec![1];
    ping.extend_from_slice(&[
        0x00, 0x00, 0x00, 0x01, 0x81, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o',
    ]);
    ping.resize(65, 0);
    let mut cbor_init = vec![0];
    cbor_init.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x90, 0x00, 0x70, 0x04]);
    cbor_init.resize(65, 0);
    let mut cont = vec![2];
    cont.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x00]);
    cont.resize(65, 0);
    write("ctaphid", "init-ping", &[init.clone(), ping].concat());
    write(
        "ctaphid",
        "cbor-two-packets",
        &[init, cbor_init, cont].concat(),
    );

    let mut urbs = Vec::new();
    let submit = |seq: u32, dir_in: bool, ep: u32, len: u32, setup: [u8; 8], data: &[u8]| {
        let mut m = Vec::new();
        for v in [
            1u32,
            seq,
            (1 << 16) | 2,
            u32::from(dir_in),
            ep,
            0,
            len,
            0,
            0,
            0,
        ] {
            m.extend_from_slice(&v.to_be_bytes());
        }
        m.extend_from_slice(&setup);
        m.extend_from_slice(data);
        m
    };
    urbs.extend(submit(1, true, 0, 18, [0x80, 0x06, 0, 1, 0, 0, 18, 0], &[]));
    urbs.extend(submit(
        2,
        true,
        0,
        255,
        [0x80, 0x06, 0, 2, 0, 0, 255, 0],
        &[],
    ));
    urbs.extend(submit(3, false, 0, 0, [0x00, 0x09, 1, 0, 0, 0, 0, 0], &[]));
    urbs.extend(submit(
        4,
        true,
        0,
        34,
        [0x81, 0x06, 0, 0x22, 0, 0, 34, 0],
        &[],
    ));
    urbs.extend(submit(5, true, 1, 64, [0; 8], &[]));
    let mut packet = vec![
        0xFF, 0xFF, 0xFF, 0xFF, 0x86, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    packet.resize(64, 0);
    urbs.extend(submit(6, false, 1, 64, [0; 8], &packet));
    let mut unlink = Vec::new();
    for v in [2u32, 7, (1 << 16) | 2, 0, 0, 5] {
        unlink.extend_from_slice(&v.to_be_bytes());
    }
    unlink.extend_from_slice(&[0; 24]);
    urbs.extend(unlink);
    write("usbip_urbs", "enumerate-init-unlink", &urbs);

    let mut devlist = vec![0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0];
    write("usbip_ops", "devlist", &devlist);
    devlist[3] = 0x03;
    let mut busid = b"1-1".to_vec();
    busid.resize(32, 0);
    write("usbip_ops", "import", &[devlist, busid].concat());

    // The authenticator.
    for (name, m) in ctap2_messages() {
        write(
            "ctap2_command",
            &format!("{name}-no-pin"),
            &[&[0][..], &m].concat(),
        );
        write(
            "ctap2_command",
            &format!("{name}-pin"),
            &[&[1][..], &m].concat(),
        );
    }
    let mut sequence = vec![1];
    for (_, m) in ctap2_messages().into_iter().take(6) {
        if m.len() < 256 {
            sequence.push(m.len() as u8);
            sequence.push(0x02);
            sequence.extend_from_slice(&m);
        }
    }
    write("ctap2_sequence", "several", &sequence);
    let version = [0x00, 0x03, 0x00, 0x00, 0x00];
    let mut register = vec![0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x40];
    register.extend_from_slice(&[5; 64]);
    register.extend_from_slice(&[0x00, 0x00]);
    write("u2f_apdu", "version", &version);
    write("u2f_apdu", "register", &register);
    let mut authenticate = vec![0x00, 0x02, 0x03, 0x00, 0x00, 0x00, 0x81];
    authenticate.extend_from_slice(&[6; 64]);
    authenticate.push(64);
    authenticate.extend_from_slice(&[7; 64]);
    write("u2f_apdu", "authenticate", &authenticate);
    write("cose_key", "p256-generator", &cbor::encode(&cose_key()));
    write("credential_id", "random-64", &[9; 64]);
    write(
        "credential_id",
        "two-ids",
        &[&[1; 80][..], &[0xFF], &[2; 48]].concat(),
    );

    // A real record and a real large-blob array, from a prepared store.
    let mut env = TestEnv::new(9);
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    let mc = ctap2_messages()
        .into_iter()
        .find(|(n, _)| *n == "make-credential")
        .unwrap()
        .1;
    let mut plain = mc.clone();
    // The seed's pinUvAuthParam would need a PIN: send it without one.
    if let Ok(Value::Map(mut pairs)) = cbor::decode(&mc[1..]) {
        pairs.retain(|(k, _)| *k != Value::Unsigned(8) && *k != Value::Unsigned(9));
        plain = message(0x01, &Value::Map(pairs));
    }
    assert_eq!(auth.process_cbor(&mut env, &plain)[0], 0x00);
    for stored in env.store.scan_prefix(b"cred/").unwrap() {
        write("stored_records", "made-by-make-credential", &stored.value);
    }
    let empty_array = hex("8076be8b528d0075f7aae98d6fa57a6d3c");
    write("large_blob_array", "empty", &empty_array);
    PinClient::new(2)
        .set_pin(&mut auth, &mut env, "1234")
        .unwrap();
    let contents = export_backup(&env.store).unwrap();
    write(
        "cxf_backup",
        "one-passkey",
        &softkey::fuzzing::cxf_of(&contents),
    );

    // The program's files and lines.
    write(
        "control_line",
        "approve",
        br#"{"v":1,"op":"approve","id":3}"#,
    );
    write(
        "control_line",
        "wait",
        br#"{"v":1,"op":"wait-pending","timeout_ms":1000}"#,
    );
    write(
        "control_line",
        "answered",
        br#"{"v":1,"result":"answered","id":3,"approved":true,"prompt":"x"}"#,
    );
    write(
        "config_file",
        "example",
        b"vault = \"~/.local/share/softkey/vault.softkey\"\npresence = \"notify\"\nprompt_timeout = 30\nlisten = \"127.0.0.1:3240\"\nattestation = \"self\"\n",
    );
    let sealed = softkey_vault::backup::seal(
        b"{}",
        b"pass",
        softkey_vault::KdfParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
    )
    .unwrap();
    write("backup_header", "sealed", &sealed);
    write(
        "shown_text",
        "terminal-escape",
        b"alice\r\x1b[2K\x1b[1A\xe2\x80\xae",
    );
    println!("seeds written under fuzz/corpus/");
}
