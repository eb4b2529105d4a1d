//! makeCredential with one member missing or of the wrong CBOR type (CTAP
//! 2.1 §6.1.1 lists each member and its type; §8.2: a missing required
//! member is CTAP2_ERR_MISSING_PARAMETER, a member of another type
//! CTAP2_ERR_CBOR_UNEXPECTED_TYPE). Each check starts from a valid request
//! and changes one member, so the status can only be about that member; a
//! key answers before any test of presence.

use super::common::{Kind, make_credential_base, make_credential_expecting, request};
use crate::catalog::{Check, Family};
use crate::ctap2::status;

/// makeCredential's members (§6.1.1): key, name, type, required.
pub const MEMBERS: [(i64, &str, Kind, bool); 10] = [
    (0x01, "clientDataHash", Kind::Bytes, true),
    (0x02, "rp", Kind::Map, true),
    (0x03, "user", Kind::Map, true),
    (0x04, "pubKeyCredParams", Kind::Array, true),
    (0x05, "excludeList", Kind::Array, false),
    (0x06, "extensions", Kind::Map, false),
    (0x07, "options", Kind::Map, false),
    (0x08, "pinUvAuthParam", Kind::Bytes, false),
    (0x09, "pinUvAuthProtocol", Kind::Unsigned, false),
    (0x0A, "enterpriseAttestation", Kind::Unsigned, false),
];

pub fn checks() -> Vec<Check> {
    let mut checks = Vec::new();
    for (key, name, kind, required) in MEMBERS {
        if required {
            checks.push(Check::new(
                format!("mc-request.missing.{name}"),
                Family::MakeCredentialRequest,
                format!("CTAP 2.1 §6.1.1 ({name}, 0x{key:02X}, required); §8.2"),
                format!("makeCredential without {name}"),
                "0x14 CTAP2_ERR_MISSING_PARAMETER",
                move |s| {
                    let params = request(make_credential_base(), &[(key, None)]);
                    make_credential_expecting(s, &params, &[status::MISSING_PARAMETER])
                },
            ));
        }
        for (label, wrong) in kind.wrong_values() {
            checks.push(Check::new(
                format!("mc-request.type.{name}.{label}"),
                Family::MakeCredentialRequest,
                format!("CTAP 2.1 §6.1.1 ({name} is a {}); §8.2", kind.name()),
                format!("makeCredential with {name} as a {label}"),
                "0x11 CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
                move |s| {
                    let params = request(make_credential_base(), &[(key, Some(wrong.clone()))]);
                    make_credential_expecting(s, &params, &[status::CBOR_UNEXPECTED_TYPE])
                },
            ));
        }
    }
    checks
}
