//! authenticatorGetAssertion and getNextAssertion (CTAP 2.1 §6.2, §6.3):
//! members missing or of the wrong type, options, allowList, and the
//! response for a credential made for the purpose.

use super::common::{
    Kind, RP_ID, descriptor, expect_status, get_assertion_base, get_assertion_expecting, request,
    status_text, text_map,
};
use super::make_credential_options::fresh_credential;
use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{Value, int, text};
use crate::ctap2::{GetAssertionRequest, MakeCredentialRequest, command, flags, status};

/// getAssertion's members (§6.2.1): key, name, type, required.
const MEMBERS: [(i64, &str, Kind, bool); 7] = [
    (0x01, "rpId", Kind::Text, true),
    (0x02, "clientDataHash", Kind::Bytes, true),
    (0x03, "allowList", Kind::Array, false),
    (0x04, "extensions", Kind::Map, false),
    (0x05, "options", Kind::Map, false),
    (0x06, "pinUvAuthParam", Kind::Bytes, false),
    (0x07, "pinUvAuthProtocol", Kind::Unsigned, false),
];

/// A getAssertion with `changes` expecting `want`, before any touch.
fn check(id: &str, spec: &str, sends: &str, changes: Vec<(i64, Option<Value>)>, want: u8) -> Check {
    Check::in_family(
        Family::GetAssertion,
        id,
        spec,
        sends,
        status_text(want),
        move |s| get_assertion_expecting(s, &request(get_assertion_base(), &changes), &[want]),
    )
}

/// A getAssertion naming a credential made for it (two touches unless
/// `up` is false), judged by `judge`.
fn with_credential(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    up: Option<bool>,
    judge: impl Fn(&mut Session, &GetAssertionRequest, Vec<u8>) -> Result<Verdict, Error>
    + Send
    + Sync
    + 'static,
) -> Check {
    Check::in_family(Family::GetAssertion, id, spec, sends, expects, move |s| {
        let credential = fresh_credential(s, RP_ID)?;
        let mut cdh = [0u8; 32];
        crate::bytes::random_bytes(&mut cdh)?;
        let mut req = GetAssertionRequest::new(RP_ID, cdh);
        req.allow_list = vec![credential.clone()];
        req.up = up;
        judge(s, &req, credential)
    })
    .with_presence()
}

pub fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    for (key, name, kind, required) in MEMBERS {
        if required {
            checks.push(check(
                &format!("missing.{name}"),
                &format!("CTAP 2.1 §6.2.1 ({name}, 0x{key:02X}, required); §8.2"),
                &format!("getAssertion without {name}"),
                vec![(key, None)],
                status::MISSING_PARAMETER,
            ));
        }
        for (label, wrong) in kind.wrong_values() {
            checks.push(check(
                &format!("type.{name}.{label}"),
                &format!("CTAP 2.1 §6.2.1 ({name} is a {}); §8.2", kind.name()),
                &format!("getAssertion with {name} as a {label}"),
                vec![(key, Some(wrong))],
                status::CBOR_UNEXPECTED_TYPE,
            ));
        }
    }
    let opts = |pairs: Vec<(&str, Value)>| Some(text_map(pairs));
    let list = "CTAP 2.1 §6.2.1 (allowList: PublicKeyCredentialDescriptors); §8.2";
    checks.extend([
        check(
            "option-rk",
            "CTAP 2.1 §6.2.2 step 4 (rk is not a getAssertion option)",
            "options {rk: true}",
            vec![(0x05, opts(vec![("rk", Value::Bool(true))]))],
            status::UNSUPPORTED_OPTION,
        ),
        check(
            "option-up-text",
            "CTAP 2.1 §6.2.1 (options: map of booleans); §8.2",
            "options {up: \"yes\"}",
            vec![(0x05, opts(vec![("up", text("yes"))]))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "unknown-credential",
            "CTAP 2.1 §6.2.2 steps 7–8",
            "an allowList of one random 64-byte ID",
            vec![(0x03, Some(Value::Array(vec![descriptor(&[0xA5; 64])])))],
            status::NO_CREDENTIALS,
        ),
        check(
            "no-discoverable-credentials",
            "CTAP 2.1 §6.2.2 steps 7–8",
            "no allowList, for an RP with no discoverable credential",
            vec![],
            status::NO_CREDENTIALS,
        ),
        check(
            "empty-allow-list",
            "CTAP 2.1 §6.2.1 (an empty allowList is as none); §6.2.2 steps 7–8",
            "an empty allowList, for an RP with no discoverable credential",
            vec![(0x03, Some(Value::Array(vec![])))],
            status::NO_CREDENTIALS,
        ),
        check(
            "allow-entry-not-a-map",
            list,
            "allowList holding a byte string",
            vec![(0x03, Some(Value::Array(vec![Value::Bytes(vec![1; 16])])))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "allow-id-missing",
            list,
            "an allowList entry without id",
            vec![(
                0x03,
                Some(Value::Array(vec![text_map(vec![(
                    "type",
                    text("public-key"),
                )])])),
            )],
            status::MISSING_PARAMETER,
        ),
        check(
            "allow-id-text",
            list,
            "an allowList entry whose id is text",
            vec![(
                0x03,
                Some(Value::Array(vec![text_map(vec![
                    ("id", text("x")),
                    ("type", text("public-key")),
                ])])),
            )],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        check(
            "pin-uv-param-without-protocol",
            "CTAP 2.1 §6.2.2 step 2",
            "a 32-byte pinUvAuthParam, no pinUvAuthProtocol",
            vec![(0x06, Some(Value::Bytes(vec![7; 32])))],
            status::MISSING_PARAMETER,
        ),
        check(
            "pin-uv-protocol-unknown",
            "CTAP 2.1 §6.2.2 step 2",
            "pinUvAuthProtocol 99 with a pinUvAuthParam",
            vec![
                (0x06, Some(Value::Bytes(vec![7; 32]))),
                (0x07, Some(int(99))),
            ],
            status::INVALID_PARAMETER,
        ),
    ]);
    checks.push(Check::new(
        "getassertion.uv-true-without-built-in-uv",
        Family::GetAssertion,
        "CTAP 2.1 §6.2.2 step 4",
        "options {uv: true} and no pinUvAuthParam, to a key without built-in UV",
        "0x2C CTAP2_ERR_INVALID_OPTION",
        |s| {
            if s.info()?.options.contains_key("uv") {
                return Ok(Verdict::NotApplicable("getInfo options has \"uv\"".into()));
            }
            let params = request(
                get_assertion_base(),
                &[(0x05, Some(text_map(vec![("uv", Value::Bool(true))])))],
            );
            get_assertion_expecting(s, &params, &[status::INVALID_OPTION])
        },
    ));
    checks.push(Check::new(
        "getassertion.next-without-get",
        Family::GetAssertion,
        "CTAP 2.1 §6.3 step 1 (getNextAssertion needs a getAssertion with credentials left)",
        "authenticatorGetNextAssertion on a fresh connection",
        "0x30 CTAP2_ERR_NOT_ALLOWED",
        |s| {
            Ok(expect_status(
                s.send(command::GET_NEXT_ASSERTION, None)?.0,
                &[status::NOT_ALLOWED],
            ))
        },
    ));
    checks.push(Check::new(
        "getassertion.zero-length-pin-uv-param",
        Family::GetAssertion,
        "CTAP 2.1 §6.2.2 step 1",
        "an empty pinUvAuthParam with pinUvAuthProtocol 1",
        "after a touch: 0x31 CTAP2_ERR_PIN_INVALID with a PIN set, else 0x35 CTAP2_ERR_PIN_NOT_SET",
        |s| {
            let info = s.info()?;
            let Some(pin_set) = info.option("clientPin") else {
                return Ok(Verdict::NotApplicable("getInfo has no clientPin option".into()));
            };
            let want = if pin_set || info.option("uv") == Some(true) { status::PIN_INVALID } else { status::PIN_NOT_SET };
            let params = request(get_assertion_base(), &[(0x06, Some(Value::Bytes(vec![]))), (0x07, Some(int(1)))]);
            get_assertion_expecting(s, &params, &[want])
        },
    ).with_presence());
    checks.extend([
        with_credential(
            "signature",
            "CTAP 2.1 §6.2.2 step 11; WebAuthn §6.3.3",
            "makeCredential, then a getAssertion naming it",
            "a signature over authData ‖ clientDataHash that the attested key verifies",
            None,
            |s, req, _| {
                let mut mc_cdh = [0u8; 32];
                crate::bytes::random_bytes(&mut mc_cdh)?;
                let made = s.ctap2()?.make_credential(&MakeCredentialRequest::new(
                    mc_cdh,
                    RP_ID,
                    b"conformance-user",
                ))?;
                let mut req = req.clone();
                req.allow_list = vec![made.credential_id().to_vec()];
                let a = s.ctap2()?.get_assertion(&req)?;
                a.verify(made.public_key(), &req.client_data_hash)?;
                Ok(Verdict::Pass(format!(
                    "verified; signCount {}",
                    a.sign_count()
                )))
            },
        ),
        with_credential(
            "credential-echoed",
            "CTAP 2.1 §6.2.2 step 12 (credential: the one used)",
            "a getAssertion naming one credential",
            "that credential's ID in the answer",
            None,
            |s, req, id| {
                let a = s.ctap2()?.get_assertion(req)?;
                Ok(if a.credential_id == id {
                    Verdict::Pass("same ID".into())
                } else {
                    Verdict::Fail("another credential ID".into())
                })
            },
        ),
        with_credential(
            "flags-up",
            "CTAP 2.1 §6.2.2 step 9",
            "a getAssertion naming a credential",
            "UP set, UV clear",
            None,
            |s, req, _| {
                let f = s.ctap2()?.get_assertion(req)?.flags();
                Ok(if f & flags::UP != 0 && f & flags::UV == 0 {
                    Verdict::Pass(format!("flags {f:#04x}"))
                } else {
                    Verdict::Fail(format!("flags {f:#04x}"))
                })
            },
        ),
        with_credential(
            "up-false-silent",
            "CTAP 2.1 §6.2.2 step 9 (up false: no test of presence, UP clear)",
            "a getAssertion with options {up: false}",
            "an assertion with UP clear",
            Some(false),
            |s, req, _| {
                let f = s.ctap2()?.get_assertion(req)?.flags();
                Ok(if f & flags::UP == 0 {
                    Verdict::Pass(format!("flags {f:#04x}"))
                } else {
                    Verdict::Fail(format!("UP set: flags {f:#04x}"))
                })
            },
        ),
        with_credential(
            "no-number-of-credentials",
            "CTAP 2.1 §6.2.2 step 12 (numberOfCredentials only without an allowList)",
            "a getAssertion naming one credential",
            "no numberOfCredentials",
            None,
            |s, req, _| {
                let a = s.ctap2()?.get_assertion(req)?;
                Ok(match a.number_of_credentials {
                    None | Some(1) => Verdict::Pass("absent".into()),
                    Some(n) => Verdict::Fail(format!("numberOfCredentials {n}")),
                })
            },
        ),
        with_credential(
            "no-user-for-non-discoverable",
            "CTAP 2.1 §6.2.2 step 12 (user: for discoverable credentials)",
            "a getAssertion naming a non-discoverable credential",
            "no user id that the key could not know",
            None,
            |s, req, _| {
                let a = s.ctap2()?.get_assertion(req)?;
                Ok(match a.user {
                    None => Verdict::Pass("no user".into()),
                    Some(u) if u.id == b"conformance-user" => {
                        Verdict::Pass("the user id given at creation".into())
                    }
                    Some(u) => Verdict::Fail(format!("a user id of {} bytes", u.id.len())),
                })
            },
        ),
        with_credential(
            "counter-increases",
            "WebAuthn §6.1.1 (signature counter)",
            "two getAssertions naming the same credential",
            "the second signCount above the first, or both 0",
            None,
            |s, req, _| {
                let first = s.ctap2()?.get_assertion(req)?.sign_count();
                let second = s.ctap2()?.get_assertion(req)?.sign_count();
                Ok(if second > first || (first == 0 && second == 0) {
                    Verdict::Pass(format!("{first}, then {second}"))
                } else {
                    Verdict::Fail(format!("{first}, then {second}"))
                })
            },
        ),
        with_credential(
            "unknown-option-ignored",
            "CTAP 2.1 §6.2.1 (unknown options are ignored)",
            "a getAssertion with options {conformanceUnknown: true}",
            "an assertion",
            None,
            |s, req, _| {
                let mut req = req.clone();
                req.extra.push((
                    int(5),
                    text_map(vec![("conformanceUnknown", Value::Bool(true))]),
                ));
                let params = crate::ctap2::cbor::decode_canonical(&req.encode())?;
                Ok(expect_status(
                    s.get_assertion_status(&params)?,
                    &[status::SUCCESS],
                ))
            },
        ),
        with_credential(
            "other-rp",
            "CTAP 2.1 §6.2.2 step 7 (credentials are bound to their RP)",
            "a getAssertion for another RP naming the credential",
            "0x2E CTAP2_ERR_NO_CREDENTIALS",
            None,
            |s, req, _| {
                let mut req = req.clone();
                req.rp_id = "other.conformance.softkey.example".into();
                let params = crate::ctap2::cbor::decode_canonical(&req.encode())?;
                Ok(expect_status(
                    s.get_assertion_status(&params)?,
                    &[status::NO_CREDENTIALS],
                ))
            },
        ),
    ]);
    checks
}
