//! makeCredential's options, excludeList, pinUvAuth members and
//! enterpriseAttestation (CTAP 2.1 §6.1.2 steps 1–2, 4, 9 and 12).

use super::common::{
    Kind, descriptor, expect_status, make_credential_base, make_credential_expecting, request,
    status_text, text_map,
};
use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{Value, int, text};
use crate::ctap2::{MakeCredentialRequest, status};

fn options(pairs: Vec<(&str, Value)>) -> Option<Value> {
    Some(text_map(pairs))
}

/// A makeCredential with `changes` expecting `want`.
fn check(id: &str, spec: &str, sends: &str, changes: Vec<(i64, Option<Value>)>, want: u8) -> Check {
    let c = Check::in_family(
        Family::MakeCredentialOptions,
        id,
        spec,
        sends,
        status_text(want),
        move |s| {
            let params = request(make_credential_base(), &changes);
            make_credential_expecting(s, &params, &[want])
        },
    );
    if want == status::SUCCESS {
        c.with_presence()
    } else {
        c
    }
}

/// Makes a non-discoverable ES256 credential for `rp_id` (one touch); its ID.
pub fn fresh_credential(s: &mut Session, rp_id: &str) -> Result<Vec<u8>, Error> {
    let mut cdh = [0u8; 32];
    crate::bytes::random_bytes(&mut cdh)?;
    let req = MakeCredentialRequest::new(cdh, rp_id, b"conformance-user");
    Ok(s.ctap2()?.make_credential(&req)?.credential_id().to_vec())
}

/// Whether the key says it has built-in user verification.
fn has_built_in_uv(s: &mut Session) -> Result<bool, Error> {
    Ok(s.info()?.options.contains_key("uv"))
}

pub fn checks() -> Vec<Check> {
    let step4 = "CTAP 2.1 §6.1.2 step 4";
    let types = "CTAP 2.1 §6.1.1 (options: map of booleans); §8.2";
    let list = "CTAP 2.1 §6.1.1 (excludeList: PublicKeyCredentialDescriptors, id bytes and type text required); §8.2";
    let mut checks = vec![
        check(
            "up-false",
            step4,
            "options {up: false}",
            vec![(0x07, options(vec![("up", Value::Bool(false))]))],
            status::INVALID_OPTION,
        ),
        check(
            "unknown-option-ignored",
            "CTAP 2.1 §6.1.1 (unknown options are ignored)",
            "options {conformanceUnknown: true}",
            vec![(
                0x07,
                options(vec![("conformanceUnknown", Value::Bool(true))]),
            )],
            status::SUCCESS,
        ),
        check(
            "rk-false",
            step4,
            "options {rk: false}",
            vec![(0x07, options(vec![("rk", Value::Bool(false))]))],
            status::SUCCESS,
        ),
        check(
            "exclude-not-a-map",
            list,
            "excludeList holding a byte string",
            vec![(0x05, Some(Value::Array(vec![Value::Bytes(vec![1; 16])])))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "exclude-id-missing",
            list,
            "an excludeList entry without id",
            vec![(
                0x05,
                Some(Value::Array(vec![text_map(vec![(
                    "type",
                    text("public-key"),
                )])])),
            )],
            status::MISSING_PARAMETER,
        ),
        check(
            "exclude-type-missing",
            list,
            "an excludeList entry without type",
            vec![(
                0x05,
                Some(Value::Array(vec![text_map(vec![(
                    "id",
                    Value::Bytes(vec![1; 16]),
                )])])),
            )],
            status::MISSING_PARAMETER,
        ),
        check(
            "exclude-id-text",
            list,
            "an excludeList entry whose id is text",
            vec![(
                0x05,
                Some(Value::Array(vec![text_map(vec![
                    ("id", text("x")),
                    ("type", text("public-key")),
                ])])),
            )],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "exclude-type-uint",
            list,
            "an excludeList entry whose type is an integer",
            vec![(
                0x05,
                Some(Value::Array(vec![text_map(vec![
                    ("id", Value::Bytes(vec![1; 16])),
                    ("type", int(1)),
                ])])),
            )],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "exclude-unknown-id",
            "CTAP 2.1 §6.1.2 step 12 (only the key's own credentials exclude)",
            "an excludeList of one random 64-byte ID",
            vec![(0x05, Some(Value::Array(vec![descriptor(&[0x5A; 64])])))],
            status::SUCCESS,
        ),
        check(
            "exclude-unknown-type-ignored",
            "CTAP 2.1 §6.1.1 (descriptors of an unknown type are ignored)",
            "an excludeList entry of type \"future-key\"",
            vec![(
                0x05,
                Some(Value::Array(vec![text_map(vec![
                    ("id", Value::Bytes(vec![1; 16])),
                    ("type", text("future-key")),
                ])])),
            )],
            status::SUCCESS,
        ),
        check(
            "pin-uv-param-without-protocol",
            "CTAP 2.1 §6.1.2 step 2",
            "a 32-byte pinUvAuthParam, no pinUvAuthProtocol",
            vec![(0x08, Some(Value::Bytes(vec![7; 32])))],
            status::MISSING_PARAMETER,
        ),
        check(
            "pin-uv-protocol-unknown",
            "CTAP 2.1 §6.1.2 step 2",
            "pinUvAuthProtocol 99 with a pinUvAuthParam",
            vec![
                (0x08, Some(Value::Bytes(vec![7; 32]))),
                (0x09, Some(int(99))),
            ],
            status::INVALID_PARAMETER,
        ),
    ];
    for option in ["rk", "up", "uv"] {
        for (label, wrong) in Kind::Bool.wrong_values() {
            checks.push(check(
                &format!("type.{option}.{label}"),
                types,
                &format!("options {{{option}: a {label}}}"),
                vec![(0x07, options(vec![(option, wrong)]))],
                status::CBOR_UNEXPECTED_TYPE,
            ));
        }
    }
    checks.push(Check::new(
        "mc-options.uv-true-without-built-in-uv",
        Family::MakeCredentialOptions,
        step4,
        "options {uv: true} and no pinUvAuthParam, to a key without built-in UV",
        "0x2C CTAP2_ERR_INVALID_OPTION",
        |s| {
            if has_built_in_uv(s)? {
                return Ok(Verdict::NotApplicable(
                    "getInfo options has \"uv\": the key has built-in user verification".into(),
                ));
            }
            let params = request(
                make_credential_base(),
                &[(0x07, options(vec![("uv", Value::Bool(true))]))],
            );
            make_credential_expecting(s, &params, &[status::INVALID_OPTION])
        },
    ));
    checks.push(Check::new(
        "mc-options.rk-without-resident-keys",
        Family::MakeCredentialOptions,
        step4,
        "options {rk: true} to a key whose getInfo says rk false",
        "0x2B CTAP2_ERR_UNSUPPORTED_OPTION",
        |s| {
            if s.info()?.option("rk") == Some(true) {
                return Ok(Verdict::NotApplicable(
                    "getInfo options says rk: true".into(),
                ));
            }
            let params = request(
                make_credential_base(),
                &[(0x07, options(vec![("rk", Value::Bool(true))]))],
            );
            make_credential_expecting(s, &params, &[status::UNSUPPORTED_OPTION])
        },
    ));
    checks.push(Check::new(
        "mc-options.zero-length-pin-uv-param",
        Family::MakeCredentialOptions,
        "CTAP 2.1 §6.1.2 step 1",
        "an empty pinUvAuthParam with pinUvAuthProtocol 1 (a platform asking the user to pick a key)",
        "after a touch: 0x31 CTAP2_ERR_PIN_INVALID with a PIN set, else 0x35 CTAP2_ERR_PIN_NOT_SET",
        |s| {
            let info = s.info()?;
            let Some(pin_set) = info.option("clientPin") else {
                return Ok(Verdict::NotApplicable("getInfo has no clientPin option".into()));
            };
            let want = if pin_set || info.option("uv") == Some(true) {
                status::PIN_INVALID
            } else {
                status::PIN_NOT_SET
            };
            let params = request(make_credential_base(), &[(0x08, Some(Value::Bytes(vec![]))), (0x09, Some(int(1)))]);
            make_credential_expecting(s, &params, &[want])
        },
    ).with_presence());
    checks.push(Check::new(
        "mc-options.enterprise-attestation-unsupported",
        Family::MakeCredentialOptions,
        "CTAP 2.1 §6.1.2 step 9",
        "enterpriseAttestation 1 to a key whose getInfo has no \"ep\" or ep false",
        "0x02 CTAP1_ERR_INVALID_PARAMETER",
        |s| {
            if s.info()?.option("ep") == Some(true) {
                return Ok(Verdict::NotApplicable(
                    "getInfo options says ep: true".into(),
                ));
            }
            let params = request(make_credential_base(), &[(0x0A, Some(int(1)))]);
            make_credential_expecting(s, &params, &[status::INVALID_PARAMETER])
        },
    ));
    checks.push(
        Check::new(
            "mc-options.excluded-credential",
            Family::MakeCredentialOptions,
            "CTAP 2.1 §6.1.2 step 12",
            "a credential made for the RP, then a makeCredential excluding it",
            "after a touch: 0x19 CTAP2_ERR_CREDENTIAL_EXCLUDED",
            |s| {
                let id = fresh_credential(s, super::common::RP_ID)?;
                let params = request(
                    make_credential_base(),
                    &[(0x05, Some(Value::Array(vec![descriptor(&id)])))],
                );
                make_credential_expecting(s, &params, &[status::CREDENTIAL_EXCLUDED])
            },
        )
        .with_presence(),
    );
    checks.push(
        Check::new(
            "mc-options.excluded-for-another-rp",
            Family::MakeCredentialOptions,
            "CTAP 2.1 §6.1.2 step 12 (a credential excludes only for the RP it is bound to)",
            "a credential made for another RP, then a makeCredential excluding it",
            "0x00: made",
            |s| {
                let id = fresh_credential(s, "other.conformance.softkey.example")?;
                let params = request(
                    make_credential_base(),
                    &[(0x05, Some(Value::Array(vec![descriptor(&id)])))],
                );
                Ok(expect_status(
                    s.make_credential_status(&params)?,
                    &[status::SUCCESS],
                ))
            },
        )
        .with_presence(),
    );
    checks
}
