//! makeCredential's rp, user and pubKeyCredParams, member by member (CTAP
//! 2.1 §6.1.1 PublicKeyCredentialRpEntity, PublicKeyCredentialUserEntity,
//! PublicKeyCredentialParameters; §6.1.2 step 3 for the algorithm).

use super::common::{
    ES256, Kind, credential_param, make_credential_base, make_credential_expecting, request, rp,
    text_map, user,
};
use crate::catalog::{Check, Family};
use crate::ctap2::cbor::{Value, int, text};
use crate::ctap2::status;

/// A COSE algorithm number no registry assigns.
const UNASSIGNED_ALG: i64 = -32_000;

/// `entity` (a text-keyed map) with `member` set, or removed with `None`.
fn with_member(entity: Value, member: &str, value: Option<Value>) -> Value {
    let Value::Map(mut pairs) = entity else {
        return entity;
    };
    pairs.retain(|(k, _)| k.as_text() != Some(member));
    if let Some(v) = value {
        pairs.push((text(member), v));
    }
    Value::Map(pairs)
}

/// A member's type, and whether it is required.
type Shape = (Kind, bool);

/// Which member of which entity: its key in makeCredential (rp 0x02, user
/// 0x03), a valid entity, and the member's name.
type Member = (i64, fn() -> Value, &'static str);

/// One check that the entity with `member` changed gets `want`.
fn entity_check(
    id: String,
    spec: String,
    sends: String,
    (key, entity, member): Member,
    value: Option<Value>,
    want: u8,
) -> Check {
    Check::new(
        id,
        Family::MakeCredentialEntities,
        spec,
        sends,
        super::common::status_text(want),
        move |s| {
            let changed = with_member(entity(), member, value.clone());
            let params = request(make_credential_base(), &[(key, Some(changed))]);
            make_credential_expecting(s, &params, &[want])
        },
    )
}

/// The pubKeyCredParams `list` gets `want` (a success needs a touch).
fn params_check(id: &str, sends: &str, spec: &str, list: Vec<Value>, want: u8) -> Check {
    let check = Check::new(
        format!("mc-entities.params.{id}"),
        Family::MakeCredentialEntities,
        spec,
        sends,
        super::common::status_text(want),
        move |s| {
            let params = request(
                make_credential_base(),
                &[(0x04, Some(Value::Array(list.clone())))],
            );
            make_credential_expecting(s, &params, &[want])
        },
    );
    if want == status::SUCCESS {
        check.with_presence()
    } else {
        check
    }
}

pub fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    let entities: [(&str, Member, Shape); 5] = [
        ("rp", (0x02, rp, "id"), (Kind::Text, true)),
        ("rp", (0x02, rp, "name"), (Kind::Text, false)),
        ("user", (0x03, user, "id"), (Kind::Bytes, true)),
        ("user", (0x03, user, "name"), (Kind::Text, false)),
        ("user", (0x03, user, "displayName"), (Kind::Text, false)),
    ];
    for (entity_name, (key, entity, member), (kind, required)) in entities {
        let spec = format!(
            "CTAP 2.1 §6.1.1 ({entity_name}.{member}: {}, {}); §8.2",
            kind.name(),
            if required { "required" } else { "optional" }
        );
        if required {
            checks.push(entity_check(
                format!("mc-entities.{entity_name}.{member}.missing"),
                spec.clone(),
                format!("makeCredential whose {entity_name} has no {member}"),
                (key, entity, member),
                None,
                status::MISSING_PARAMETER,
            ));
        }
        for (label, wrong) in kind.wrong_values() {
            checks.push(entity_check(
                format!("mc-entities.{entity_name}.{member}.type.{label}"),
                spec.clone(),
                format!("makeCredential whose {entity_name}.{member} is a {label}"),
                (key, entity, member),
                Some(wrong),
                status::CBOR_UNEXPECTED_TYPE,
            ));
        }
    }
    let param = |alg: Value, kind: Value| text_map(vec![("alg", alg), ("type", kind)]);
    let entry_spec = "CTAP 2.1 §6.1.1 (PublicKeyCredentialParameters: alg integer, type text, both required); §8.2";
    let step3 = "CTAP 2.1 §6.1.2 step 3";
    checks.extend([
        params_check(
            "entry-not-a-map",
            "pubKeyCredParams holding a text string",
            entry_spec,
            vec![text("ES256")],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        params_check(
            "alg-missing",
            "a pubKeyCredParams entry without alg",
            entry_spec,
            vec![text_map(vec![("type", text("public-key"))])],
            status::MISSING_PARAMETER,
        ),
        params_check(
            "type-missing",
            "a pubKeyCredParams entry without type",
            entry_spec,
            vec![text_map(vec![("alg", int(ES256))])],
            status::MISSING_PARAMETER,
        ),
        params_check(
            "alg-text",
            "a pubKeyCredParams entry whose alg is text",
            entry_spec,
            vec![param(text("-7"), text("public-key"))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        params_check(
            "type-uint",
            "a pubKeyCredParams entry whose type is an integer",
            entry_spec,
            vec![param(int(ES256), int(1))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        params_check(
            "empty",
            "an empty pubKeyCredParams",
            step3,
            vec![],
            status::UNSUPPORTED_ALGORITHM,
        ),
        params_check(
            "only-unassigned-alg",
            "pubKeyCredParams offering only COSE algorithm -32000",
            step3,
            vec![credential_param(UNASSIGNED_ALG)],
            status::UNSUPPORTED_ALGORITHM,
        ),
        params_check(
            "only-unknown-type",
            "pubKeyCredParams with ES256 under an unknown type only",
            "CTAP 2.1 §6.1.1 (entries of an unknown type are ignored); §6.1.2 step 3",
            vec![param(int(ES256), text("future-key"))],
            status::UNSUPPORTED_ALGORITHM,
        ),
        params_check(
            "unknown-type-skipped",
            "an entry of an unknown type, then ES256",
            "CTAP 2.1 §6.1.1 (entries of an unknown type are ignored)",
            vec![
                param(int(ES256), text("future-key")),
                credential_param(ES256),
            ],
            status::SUCCESS,
        ),
        params_check(
            "unassigned-then-es256",
            "COSE algorithm -32000, then ES256",
            "CTAP 2.1 §6.1.2 step 3 (the first supported algorithm)",
            vec![credential_param(UNASSIGNED_ALG), credential_param(ES256)],
            status::SUCCESS,
        ),
    ]);
    checks
}
