//! A FIDO Metadata Statement (MDS3 shape, FIDO Metadata Statement v3.0 §4)
//! for one lab authenticator: its AAGUID, its test CA as the only
//! attestation root, and its own getInfo, so a relying party that loads
//! statements (as from the FIDO MDS BLOB) can trust the lab key as it would
//! a certified one. The statement names the key as a test-lab key; it is
//! not from the FIDO Alliance and carries no certification status.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use softkey_authenticator::AttestationMode;
use softkey_authenticator::cbor::{self, Value as Cbor};

/// The statement for an authenticator with this AAGUID, CA certificate
/// (PEM), getInfo answer (status byte and CBOR) and attestation mode.
pub fn statement(
    aaguid: &str,
    ca_pem: &str,
    get_info: &[u8],
    attestation: AttestationMode,
) -> Result<Value, String> {
    let info = match get_info.split_first() {
        Some((0, body)) => cbor::decode(body).map_err(|e| format!("getInfo: {e:?}"))?,
        _ => return Err("getInfo failed".into()),
    };
    let info_json = get_info_json(&info);
    let algorithms: Vec<&str> = info_json
        .get("algorithms")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|e| authentication_algorithm(e.get("alg")?.as_i64()?))
                .collect()
        })
        .unwrap_or_default();
    let attestation_type = match attestation {
        AttestationMode::SelfAttestation => "basic_surrogate",
        AttestationMode::NoAttestation => "none",
        _ => "basic_full",
    };
    Ok(json!({
        "legalHeader": "softkey test lab: a statement for tests, not from the FIDO Alliance.",
        "aaguid": aaguid,
        "description": "softkey test-lab authenticator",
        "authenticatorVersion": 1,
        "protocolFamily": "fido2",
        "schema": 3,
        "upv": [{"major": 1, "minor": 0}, {"major": 1, "minor": 1}],
        "authenticationAlgorithms": algorithms,
        "publicKeyAlgAndEncodings": ["cose"],
        "attestationTypes": [attestation_type],
        "userVerificationDetails": [
            [{"userVerificationMethod": "presence_internal"}],
            [{"userVerificationMethod": "passcode_external",
              "caDesc": {"base": 10, "minLength": 4, "maxRetries": 8, "blockSlowdown": 0}}],
        ],
        "keyProtection": ["software"],
        "matcherProtection": ["software"],
        "attachmentHint": ["external", "wired"],
        "tcDisplay": [],
        // MDS3 carries roots as base64 DER: the PEM body without its armour.
        "attestationRootCertificates": [ca_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()],
        "authenticatorGetInfo": info_json,
    }))
}

/// getInfo with its member names (CTAP 2.1 §6.4), as MDS3 carries it.
fn get_info_json(info: &Cbor) -> Value {
    const NAMES: [(u64, &str); 20] = [
        (0x01, "versions"),
        (0x02, "extensions"),
        (0x03, "aaguid"),
        (0x04, "options"),
        (0x05, "maxMsgSize"),
        (0x06, "pinUvAuthProtocols"),
        (0x07, "maxCredentialCountInList"),
        (0x08, "maxCredentialIdLength"),
        (0x09, "transports"),
        (0x0A, "algorithms"),
        (0x0B, "maxSerializedLargeBlobArray"),
        (0x0C, "forcePINChange"),
        (0x0D, "minPINLength"),
        (0x0E, "firmwareVersion"),
        (0x0F, "maxCredBlobLength"),
        (0x10, "maxRPIDsForSetMinPINLength"),
        (0x11, "preferredPlatformUvAttempts"),
        (0x12, "uvModality"),
        (0x13, "certifications"),
        (0x14, "remainingDiscoverableCredentials"),
    ];
    let mut out = Map::new();
    if let Cbor::Map(pairs) = info {
        for (key, value) in pairs {
            let Cbor::Unsigned(k) = key else { continue };
            if let Some((_, name)) = NAMES.iter().find(|(n, _)| n == k) {
                let value = match (*k, value) {
                    // MDS3 writes the AAGUID as 32 hex digits.
                    (0x03, Cbor::Bytes(b)) => {
                        Value::String(b.iter().map(|x| format!("{x:02x}")).collect())
                    }
                    _ => to_json(value),
                };
                out.insert((*name).to_owned(), value);
            }
        }
    }
    Value::Object(out)
}

fn to_json(value: &Cbor) -> Value {
    match value {
        Cbor::Unsigned(n) => json!(n),
        Cbor::Negative(n) => json!(-1 - i128::from(*n)),
        Cbor::Bytes(b) => Value::String(STANDARD.encode(b)),
        Cbor::Text(t) => Value::String(t.clone()),
        Cbor::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Cbor::Map(pairs) => Value::Object(
            pairs
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        Cbor::Text(t) => t.clone(),
                        other => to_json(other).to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Cbor::Bool(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

/// The MDS name of a COSE algorithm (FIDO Registry of Predefined Values
/// §3.6.1), where it has one.
fn authentication_algorithm(cose: i64) -> Option<&'static str> {
    Some(match cose {
        -7 => "secp256r1_ecdsa_sha256_der",
        -8 => "ed25519_eddsa_sha512_raw",
        -35 => "secp384r1_ecdsa_sha384_der",
        -36 => "secp521r1_ecdsa_sha512_der",
        -47 => "secp256k1_ecdsa_sha256_der",
        -257 => "rsassa_pkcsv15_sha256_raw",
        -37 => "rsassa_pss_sha256_raw",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_info_becomes_named_members() {
        let info = Cbor::int_map(vec![
            (1, Cbor::Array(vec![Cbor::text("FIDO_2_1")])),
            (3, Cbor::bytes(&[0xAB; 16])),
            (4, Cbor::text_map(vec![("rk", Cbor::Bool(true))])),
            (
                0x0A,
                Cbor::Array(vec![Cbor::text_map(vec![
                    ("alg", Cbor::int(-7)),
                    ("type", Cbor::text("public-key")),
                ])]),
            ),
        ]);
        let answer = [&[0][..], &cbor::encode(&info)].concat();
        let pem = "-----BEGIN CERTIFICATE-----\nAAAA\nBBBB\n-----END CERTIFICATE-----\n";
        let s = statement("abab", pem, &answer, AttestationMode::Batch).unwrap();
        assert_eq!(s["authenticatorGetInfo"]["versions"][0], "FIDO_2_1");
        assert_eq!(s["authenticatorGetInfo"]["aaguid"], "ab".repeat(16));
        assert_eq!(s["authenticatorGetInfo"]["options"]["rk"], true);
        assert_eq!(
            s["authenticationAlgorithms"][0],
            "secp256r1_ecdsa_sha256_der"
        );
        assert_eq!(s["attestationTypes"][0], "basic_full");
        assert_eq!(s["attestationRootCertificates"][0], "AAAABBBB");
        assert!(statement("x", pem, &[0x01], AttestationMode::Batch).is_err());
    }
}
