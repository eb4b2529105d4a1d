//! Test-lab profiles: a CTAP 2.0 key and a key without some extensions
//! answer getInfo and refuse commands as real keys of that kind do.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

mod common;

use common::*;
use softkey_authenticator::cbor::Value;
use softkey_authenticator::{Config, CtapVersion, ExtensionSet};

fn info(h: &mut Harness) -> Value {
    h.call0(GET_INFO).unwrap()
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Text(t) => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ctap_2_0_key_lists_and_answers_only_2_0() {
    let mut h = Harness::with_config(Config {
        ctap_version: CtapVersion::Ctap20,
        ..Config::default()
    });
    let v = info(&mut h);
    assert_eq!(texts(v.get(&Value::Unsigned(1))), ["U2F_V2", "FIDO_2_0"]);
    assert_eq!(
        texts(v.get(&Value::Unsigned(2))),
        ["credProtect", "hmac-secret"]
    );
    let Some(Value::Map(options)) = v.get(&Value::Unsigned(4)) else {
        panic!()
    };
    let names: Vec<_> = options
        .iter()
        .map(|(k, _)| match k {
            Value::Text(t) => t.as_str(),
            _ => "",
        })
        .collect();
    assert_eq!(names, ["rk", "up", "plat", "clientPin"]);
    assert_eq!(
        v.get(&Value::Unsigned(6)),
        Some(&Value::Array(vec![Value::Unsigned(1)]))
    );
    assert_eq!(v.get(&Value::Unsigned(0x0B)), None);
    assert_eq!(v.get(&Value::Unsigned(0x14)), None);
    // 2.1's commands are unknown to it.
    for command in [CREDENTIAL_MANAGEMENT, LARGE_BLOBS, CONFIG, 0x0B] {
        assert_eq!(h.raw(&[command, 0xA0])[0], 0x01, "{command:#04x}");
    }
    // PIN protocol 2 and the permissions subcommand did not exist.
    let params = |protocol: u64, sub: u64| {
        Value::int_map(vec![
            (1, Value::Unsigned(protocol)),
            (2, Value::Unsigned(sub)),
        ])
    };
    assert_eq!(h.call(CLIENT_PIN, &params(2, 2)).unwrap_err(), 0x02);
    assert_eq!(h.call(CLIENT_PIN, &params(1, 9)).unwrap_err(), 0x3E);
    assert!(
        h.call(CLIENT_PIN, &params(1, 2)).is_ok(),
        "getKeyAgreement works"
    );
    // And it still registers and signs in.
    let att = h
        .make_credential(&Mc::new("v20.example", b"u", "u").rk())
        .unwrap();
    h.get_assertion(&Ga::new("v20.example").allow(&[&att.credential_id]))
        .unwrap();
}

#[test]
fn a_key_without_some_extensions_ignores_them() {
    let mut h = Harness::with_config(Config {
        extensions: ExtensionSet {
            cred_blob: false,
            large_blob: false,
            ..ExtensionSet::default()
        },
        ..Config::default()
    });
    let v = info(&mut h);
    let extensions = texts(v.get(&Value::Unsigned(2)));
    assert!(!extensions.contains(&"credBlob".to_owned()));
    assert!(!extensions.contains(&"largeBlobKey".to_owned()));
    assert!(extensions.contains(&"hmac-secret".to_owned()));
    let Some(Value::Map(options)) = v.get(&Value::Unsigned(4)) else {
        panic!()
    };
    assert!(!options.iter().any(|(k, _)| *k == Value::text("largeBlobs")));
    assert_eq!(v.get(&Value::Unsigned(0x0F)), None, "no maxCredBlobLength");
    assert_eq!(h.raw(&[LARGE_BLOBS, 0xA0])[0], 0x01);
    let mut mc = Mc::new("ext.example", b"u", "u").rk();
    mc.extensions = Some(Value::text_map(vec![("credBlob", Value::bytes(b"x"))]));
    let att = h.make_credential(&mc).unwrap();
    assert_eq!(
        att.extensions, None,
        "credBlob ignored like an unknown extension"
    );
}
