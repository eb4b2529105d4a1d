//! The W3C / CDP names the lab reads and writes: authenticator options and
//! credential parameters (WebAuthn Level 3 §11.2 "Authenticator Extension
//! Capabilities" and §11.4 "Add Credential"; CDP `WebAuthn.VirtualAuthenticatorOptions`).
//! An option the lab cannot honour yet is refused by name, never ignored:
//! a test that asked for it must not pass against a key without it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use softkey_authenticator::{
    Algorithm, AttestationMode, BackupAlgorithm, BackupCredential, CounterMode,
    CredentialProperties, CtapVersion, DEFAULT_AAGUID, DEFAULT_ALGORITHMS, ExtensionSet,
    ResponseOverrides, SignCounterKind,
};
use zeroize::Zeroizing;

use std::collections::VecDeque;
use std::time::Duration;

use super::authenticators::{Faults, Options};
use super::credentials::LabCredential;
use super::presence::PresencePolicy;

/// Add Virtual Authenticator's parameters.
pub fn authenticator(body: &Value) -> Result<Options, String> {
    let fields = object(body)?;
    let mut options = Options {
        algorithms: DEFAULT_ALGORITHMS.to_vec(),
        presence: PresencePolicy {
            consenting: true,
            automatic: true,
            verified: false,
        },
        counter_mode: CounterMode::PerCredential,
        ctap_version: CtapVersion::Ctap21,
        extensions: ExtensionSet::default(),
        transport: "usb".into(),
        u2f_only: false,
        built_in_uv: false,
        always_uv: false,
        resident_keys: true,
        attestation: AttestationMode::SelfAttestation,
        aaguid: DEFAULT_AAGUID,
        backup_eligible: false,
        backup_state: false,
    };
    let mut protocol_2_0 = false;
    let mut version = None;
    for (name, value) in fields {
        match name.as_str() {
            // W3C `protocol`, CDP `protocol` + `ctap2Version`.
            // W3C: "ctap2" is CTAP 2.0, "ctap2_1" 2.1; CDP's ctap2Version
            // refines "ctap2". softkey adds "ctap2_2".
            "protocol" => match text(name, value)? {
                "ctap2" => protocol_2_0 = true,
                // W3C "ctap1/u2f", CDP "u2f": no CTAP2 at all.
                "ctap1/u2f" | "u2f" => options.u2f_only = true,
                "ctap2_1" => options.ctap_version = CtapVersion::Ctap21,
                "ctap2_2" => options.ctap_version = CtapVersion::Ctap22,
                other => return Err(not_yet(name, other)),
            },
            "ctap2Version" => match text(name, value)? {
                "ctap2_0" => version = Some(CtapVersion::Ctap20),
                "ctap2_1" => version = Some(CtapVersion::Ctap21),
                "ctap2_2" => version = Some(CtapVersion::Ctap22),
                other => return Err(not_yet(name, other)),
            },
            "extensions" => options.extensions = extension_list(value)?,
            "hasLargeBlob" => options.extensions.large_blob = flag(name, value)?,
            "hasCredBlob" => options.extensions.cred_blob = flag(name, value)?,
            "hasMinPinLength" => options.extensions.min_pin_length = flag(name, value)?,
            "hasPrf" | "hasHmacSecret" => options.extensions.hmac_secret = flag(name, value)?,
            "hasHmacSecretMc" => options.extensions.hmac_secret_mc = flag(name, value)?,
            // Declared in getInfo; the key is reached over USB/IP whatever it says.
            "transport" => match text(name, value)? {
                t @ ("usb" | "nfc" | "ble" | "hybrid" | "internal" | "smart-card" | "cable") => {
                    options.transport = t.to_owned();
                }
                other => return Err(format!("transport {other:?} is not a WebAuthn transport")),
            },
            // false: getInfo rk false, and makeCredential's rk refused.
            "hasResidentKey" => options.resident_keys = flag(name, value)?,
            // Built-in UV (getInfo `uv`), besides the PIN.
            "hasUserVerification" => options.built_in_uv = flag(name, value)?,
            "isUserVerified" => options.presence.verified = flag(name, value)?,
            // softkey: alwaysUv on from the start (a platform may toggle it).
            "alwaysUv" => options.always_uv = flag(name, value)?,
            "isUserConsenting" => options.presence.consenting = flag(name, value)?,
            "automaticPresenceSimulation" => options.presence.automatic = flag(name, value)?,
            "algorithms" => options.algorithms = algorithms(value)?,
            "attestation" => {
                options.attestation = text(name, value)?.parse().map_err(|_| {
                    "attestation must be self, batch, fido-u2f, apple, android-key, tpm or none"
                        .to_owned()
                })?;
            }
            "aaguid" => options.aaguid = aaguid(text(name, value)?)?,
            "defaultBackupEligibility" => options.backup_eligible = flag(name, value)?,
            "defaultBackupState" => options.backup_state = flag(name, value)?,
            // softkey: how new credentials count their signatures.
            "counter" => {
                options.counter_mode = match text(name, value)? {
                    "per-credential" => CounterMode::PerCredential,
                    "global" => CounterMode::Global,
                    "zero" => CounterMode::Zero,
                    other => {
                        return Err(format!("counter {other:?}: per-credential, global or zero"));
                    }
                }
            }
            other => return Err(not_yet(other, &value.to_string())),
        }
    }
    // CDP: protocol "ctap2" with ctap2Version; W3C: "ctap2" alone is 2.0.
    if let Some(version) = version {
        options.ctap_version = version;
    } else if protocol_2_0 {
        options.ctap_version = CtapVersion::Ctap20;
    }
    Ok(options)
}

/// The presence controls (`isUserConsenting`, `automaticPresenceSimulation`,
/// `isUserVerified`), applied to the current policy; absent ones stay.
pub fn presence_changes(body: &Value) -> Result<impl FnOnce(&mut PresencePolicy), String> {
    let mut consenting = None;
    let mut automatic = None;
    let mut verified = None;
    for (name, value) in object(body)? {
        match name.as_str() {
            "isUserConsenting" => consenting = Some(flag(name, value)?),
            "automaticPresenceSimulation" => automatic = Some(flag(name, value)?),
            "isUserVerified" => verified = Some(flag(name, value)?),
            other => return Err(format!("unknown presence control {other:?}")),
        }
    }
    Ok(move |p: &mut PresencePolicy| {
        if let Some(c) = consenting {
            p.consenting = c;
        }
        if let Some(a) = automatic {
            p.automatic = a;
        }
        if let Some(v) = verified {
            p.verified = v;
        }
    })
}

/// The fault controls: `nextStatuses` (CTAP status bytes, 1–255, that
/// answer the next CBOR requests; replaces any left) and `delayMs` (every
/// request waits this long first, at most 60 s); absent ones stay.
pub fn fault_changes(body: &Value) -> Result<impl FnOnce(&mut Faults), String> {
    let mut statuses = None;
    let mut delay = None;
    let mut withhold = None;
    for (name, value) in object(body)? {
        match name.as_str() {
            "nextStatuses" => {
                let list = value
                    .as_array()
                    .ok_or("nextStatuses must be a list of numbers")?;
                let parsed = list
                    .iter()
                    .map(|s| {
                        s.as_u64()
                            .and_then(|n| u8::try_from(n).ok())
                            .filter(|&n| n != 0)
                            .ok_or_else(|| "each status is a CTAP error code, 1 to 255".to_owned())
                    })
                    .collect::<Result<VecDeque<u8>, String>>()?;
                statuses = Some(parsed);
            }
            "withholdKeepalives" => withhold = Some(flag(name, value)?),
            "delayMs" => {
                let ms = value
                    .as_u64()
                    .filter(|&ms| ms <= 60_000)
                    .ok_or("delayMs must be 0 to 60000")?;
                delay = Some(Duration::from_millis(ms));
            }
            other => return Err(format!("unknown fault {other:?}")),
        }
    }
    Ok(move |f: &mut Faults| {
        if let Some(s) = statuses {
            f.next_statuses = s;
        }
        if let Some(d) = delay {
            f.delay = d;
        }
        if let Some(w) = withhold {
            f.withhold_keepalives = w;
        }
    })
}

/// CDP `setResponseOverrideBits`'s parameters; an absent one is false.
pub fn response_overrides(body: &Value) -> Result<ResponseOverrides, String> {
    let mut overrides = ResponseOverrides::default();
    for (name, value) in object(body)? {
        let on = flag(name, value)?;
        match name.as_str() {
            "isBogusSignature" => overrides.bogus_signature = on,
            "isBadUV" => overrides.bad_uv = on,
            "isBadUP" => overrides.bad_up = on,
            other => return Err(format!("unknown response override {other:?}")),
        }
    }
    Ok(overrides)
}

/// How `GET /webauthn/authenticators` shows an authenticator's options.
pub fn describe(options: &Options) -> Value {
    json!({
        "protocol": match (options.u2f_only, options.ctap_version) {
            (true, _) => "ctap1/u2f",
            (false, CtapVersion::Ctap20) => "ctap2",
            (false, CtapVersion::Ctap21) => "ctap2_1",
            (false, CtapVersion::Ctap22) => "ctap2_2",
        },
        "ctap2Version": match options.ctap_version {
            CtapVersion::Ctap20 => "ctap2_0",
            CtapVersion::Ctap21 => "ctap2_1",
            CtapVersion::Ctap22 => "ctap2_2",
        },
        "hasLargeBlob": options.extensions.large_blob,
        "hasCredBlob": options.extensions.cred_blob,
        "hasMinPinLength": options.extensions.min_pin_length,
        "hasHmacSecret": options.extensions.hmac_secret,
        "hasHmacSecretMc": options.extensions.hmac_secret_mc,
        "transport": options.transport,
        "hasResidentKey": options.resident_keys,
        "hasUserVerification": options.built_in_uv,
        "isUserVerified": options.presence.verified,
        "alwaysUv": options.always_uv,
        "isUserConsenting": options.presence.consenting,
        "automaticPresenceSimulation": options.presence.automatic,
        "attestation": options.attestation.to_string(),
        "aaguid": format_aaguid(&options.aaguid),
        "defaultBackupEligibility": options.backup_eligible,
        "defaultBackupState": options.backup_state,
        "counter": match options.counter_mode {
            CounterMode::PerCredential => "per-credential",
            CounterMode::Global => "global",
            CounterMode::Zero => "zero",
        },
        "algorithms": options.algorithms.iter().map(|a| a.name()).collect::<Vec<_>>(),
    })
}

/// Add Credential's parameters, as the backup import validates them, and
/// the credential's counter, backup flags and large blob.
pub fn credential(body: &Value) -> Result<LabCredential, String> {
    let fields = object(body)?;
    let mut credential_id = None;
    let mut rp_id = None;
    let mut private_key = None;
    let mut user_id = None;
    let mut user_name = None;
    let mut user_display_name = None;
    let mut algorithm = None;
    let mut resident = None;
    let mut large_blob = None;
    let mut properties = CredentialProperties {
        counter: SignCounterKind::Own(0),
        ..CredentialProperties::default()
    };
    for (name, value) in fields {
        match name.as_str() {
            "credentialId" => credential_id = Some(base64url(name, value)?),
            "rpId" => rp_id = Some(text(name, value)?.to_owned()),
            "privateKey" => private_key = Some(Zeroizing::new(base64url(name, value)?)),
            "userHandle" => user_id = Some(base64url(name, value)?),
            "userName" => user_name = Some(text(name, value)?.to_owned()),
            "userDisplayName" => user_display_name = Some(text(name, value)?.to_owned()),
            "isResidentCredential" => resident = Some(flag(name, value)?),
            "largeBlob" => large_blob = Some(base64url(name, value)?),
            "signCount" => properties.counter = sign_count(value)?,
            "backupEligibility" => properties.backup_eligible = flag(name, value)?,
            "backupState" => properties.backup_state = flag(name, value)?,
            // softkey: the COSE algorithm, for an RSA key that signs PS256.
            "algorithm" => {
                let cose = value.as_i64().ok_or("algorithm must be a COSE number")?;
                algorithm = Some(Algorithm::from_cose(cose).ok_or_else(|| {
                    format!("COSE algorithm {cose} is not one softkey signs with")
                })?);
            }
            other => return Err(not_yet(other, &value.to_string())),
        }
    }
    let private_key = private_key.ok_or("privateKey is required")?;
    let algorithm = match algorithm {
        Some(algorithm) => algorithm,
        None => BackupAlgorithm::of_pkcs8(&private_key)
            .ok_or("privateKey is not a PKCS#8 key of an algorithm softkey signs with")?,
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let credential = BackupCredential {
        credential_id: credential_id.ok_or("credentialId is required")?,
        rp_id: rp_id.ok_or("rpId is required")?,
        rp_name: None,
        user_id: user_id.ok_or("userHandle is required")?,
        user_name,
        user_display_name,
        created,
        algorithm,
        private_key_pkcs8: private_key,
        cred_protect: 1,
        cred_blob: None,
        large_blob_key: None,
        hmac: None,
        third_party_payment: false,
    };
    Ok(LabCredential {
        credential,
        properties,
        // W3C: required; softkey takes a missing one as true.
        resident: resident.unwrap_or(true),
        large_blob,
    })
}

/// W3C `signCount`: a number is the credential's own counter, null means
/// no counter (every signature reports 0, as synced passkeys do).
fn sign_count(value: &Value) -> Result<SignCounterKind, String> {
    if value.is_null() {
        return Ok(SignCounterKind::Never);
    }
    let n = value.as_u64().ok_or("signCount must be a number or null")?;
    u32::try_from(n)
        .map(SignCounterKind::Own)
        .map_err(|_| "signCount must fit 32 bits".into())
}

/// Set Credential Properties' parameters (`backupEligibility`,
/// `backupState`, `signCount`), applied to the current properties.
pub fn credential_changes(body: &Value) -> Result<impl FnOnce(&mut CredentialProperties), String> {
    let mut counter = None;
    let mut backup_eligible = None;
    let mut backup_state = None;
    for (name, value) in object(body)? {
        match name.as_str() {
            "signCount" => counter = Some(sign_count(value)?),
            "backupEligibility" => backup_eligible = Some(flag(name, value)?),
            "backupState" => backup_state = Some(flag(name, value)?),
            other => return Err(format!("unknown credential property {other:?}")),
        }
    }
    Ok(move |p: &mut CredentialProperties| {
        if let Some(counter) = counter {
            p.counter = counter;
        }
        if let Some(be) = backup_eligible {
            p.backup_eligible = be;
        }
        if let Some(bs) = backup_state {
            p.backup_state = bs;
        }
    })
}

/// How Get Credentials shows a credential (W3C names, plus the algorithm;
/// `signCount` null when it has no counter of its own).
pub fn describe_credential(lab: &LabCredential) -> Value {
    let (c, p) = (&lab.credential, &lab.properties);
    let mut out = json!({
        "credentialId": URL_SAFE_NO_PAD.encode(&c.credential_id),
        "isResidentCredential": lab.resident,
        "rpId": c.rp_id,
        "privateKey": URL_SAFE_NO_PAD.encode(c.private_key_pkcs8.as_slice()),
        "userHandle": URL_SAFE_NO_PAD.encode(&c.user_id),
        "algorithm": c.algorithm.cose(),
        "signCount": match p.counter {
            SignCounterKind::Own(n) => json!(n),
            SignCounterKind::Never | SignCounterKind::Global => Value::Null,
        },
        "backupEligibility": p.backup_eligible,
        "backupState": p.backup_state,
    });
    if let Value::Object(map) = &mut out {
        for (name, value) in [
            ("userName", &c.user_name),
            ("userDisplayName", &c.user_display_name),
        ] {
            if let Some(value) = value {
                map.insert(name.into(), Value::String(value.clone()));
            }
        }
        if let Some(blob) = &lab.large_blob {
            map.insert("largeBlob".into(), URL_SAFE_NO_PAD.encode(blob).into());
        }
    }
    out
}

fn object(body: &Value) -> Result<&Map<String, Value>, String> {
    body.as_object()
        .ok_or_else(|| "the body must be a JSON object".into())
}

fn text<'a>(name: &str, value: &'a Value) -> Result<&'a str, String> {
    value
        .as_str()
        .ok_or_else(|| format!("{name} must be a string"))
}

fn flag(name: &str, value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("{name} must be a boolean"))
}

fn base64url(name: &str, value: &Value) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(text(name, value)?.trim_end_matches('='))
        .map_err(|_| format!("{name} is not base64url"))
}

fn algorithms(value: &Value) -> Result<Vec<Algorithm>, String> {
    let names = value
        .as_array()
        .ok_or("algorithms must be a list of COSE names")?;
    let algorithms = names
        .iter()
        .map(|n| {
            let name = n
                .as_str()
                .ok_or("algorithms must be a list of COSE names")?;
            Algorithm::from_name(name).ok_or_else(|| format!("unknown algorithm {name:?}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    if algorithms.is_empty() {
        return Err("algorithms must name at least one".into());
    }
    Ok(algorithms)
}

/// An AAGUID as a UUID (`8-4-4-4-12` hex digits) or 32 hex digits.
fn aaguid(text: &str) -> Result<[u8; 16], String> {
    let digits: String = text.chars().filter(|c| *c != '-').collect();
    let bad = || format!("aaguid {text:?} is not a UUID");
    if digits.len() != 32 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

pub fn format_aaguid(aaguid: &[u8; 16]) -> String {
    let hex: String = aaguid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        hex.get(..8).unwrap_or_default(),
        hex.get(8..12).unwrap_or_default(),
        hex.get(12..16).unwrap_or_default(),
        hex.get(16..20).unwrap_or_default(),
        hex.get(20..).unwrap_or_default()
    )
}

/// W3C `extensions`: the identifiers the key supports; those of softkey's
/// optional extensions not named are off.
fn extension_list(value: &Value) -> Result<ExtensionSet, String> {
    let names: Vec<&str> = value
        .as_array()
        .ok_or("extensions must be a list of identifiers")?
        .iter()
        .map(|n| n.as_str().ok_or("extensions must be a list of identifiers"))
        .collect::<Result<_, _>>()?;
    let has = |ids: &[&str]| ids.iter().any(|id| names.contains(id));
    Ok(ExtensionSet {
        hmac_secret: has(&["hmac-secret", "prf"]),
        hmac_secret_mc: has(&["hmac-secret-mc"]),
        cred_blob: has(&["credBlob"]),
        large_blob: has(&["largeBlob", "largeBlobKey"]),
        min_pin_length: has(&["minPinLength"]),
    })
}

fn not_yet(name: &str, value: &str) -> String {
    format!("{name} = {value} is not available in the lab yet")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_the_lab_cannot_honour_are_refused_by_name() {
        let ok = authenticator(&json!({"protocol": "ctap2", "transport": "usb",
            "hasResidentKey": true, "isUserConsenting": false, "algorithms": ["ES256", "RS256"]}))
        .unwrap();
        assert!(!ok.presence.consenting && ok.presence.automatic);
        assert!(!ok.built_in_uv && !ok.presence.verified);
        let uv =
            authenticator(&json!({"hasUserVerification": true, "isUserVerified": true})).unwrap();
        assert!(uv.built_in_uv && uv.presence.verified);
        let chosen = authenticator(&json!({"aaguid": "01234567-89ab-cdef-0123-456789abcdef",
            "attestation": "android-key"}))
        .unwrap();
        assert_eq!(
            format_aaguid(&chosen.aaguid),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(chosen.attestation, AttestationMode::AndroidKey);
        assert_eq!(ok.algorithms, [Algorithm::Es256, Algorithm::Rs256]);
        for body in [
            json!({"protocol": "ctap3"}),
            json!({"transport": "carrier-pigeon"}),
            json!({"hasResidentKey": "no"}),
            json!({"hasUserVerification": "yes"}),
            json!({"isUserConsenting": "yes"}),
            json!({"algorithms": ["ES999"]}),
            json!({"algorithms": []}),
            json!({"hasLargeBlob": "yes"}),
            json!({"extensions": "credBlob"}),
            json!({"ctap2Version": "ctap2_3"}),
            json!({"aaguid": "not-a-uuid"}),
            json!({"attestation": "safetynet"}),
            json!({"attestation": "packed"}),
            json!([]),
        ] {
            assert!(authenticator(&body).is_err(), "{body}");
        }
    }

    #[test]
    fn a_credential_needs_its_id_rp_user_and_a_key() {
        let key = "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp-K06_nwoy_HU--CXqI9EdVhC";
        let lab = credential(&json!({"credentialId": "Y3JlZA", "rpId": "rp.example",
            "userHandle": "dQ", "privateKey": key, "isResidentCredential": true,
            "signCount": 7, "userName": "ann", "backupEligibility": true, "largeBlob": "YmxvYg"}))
        .unwrap();
        let (c, p) = (&lab.credential, &lab.properties);
        assert_eq!(lab.large_blob.as_deref(), Some(&b"blob"[..]));
        assert_eq!(c.algorithm, Algorithm::EdDsa);
        assert_eq!(c.user_name.as_deref(), Some("ann"));
        assert_eq!(
            (p.counter, p.backup_eligible, p.backup_state),
            (SignCounterKind::Own(7), true, false)
        );
        let back = describe_credential(&lab);
        assert_eq!(back["largeBlob"], "YmxvYg");
        assert_eq!(back["signCount"], 7);
        assert_eq!(back["privateKey"], key);
        assert_eq!(back["credentialId"], "Y3JlZA");
        for bad in [
            json!({"rpId": "rp.example", "userHandle": "dQ", "privateKey": key}),
            json!({"credentialId": "Y3JlZA", "userHandle": "dQ", "privateKey": key}),
            json!({"credentialId": "Y3JlZA", "rpId": "rp.example", "privateKey": key}),
            json!({"credentialId": "Y3JlZA", "rpId": "rp.example", "userHandle": "dQ"}),
            json!({"credentialId": "!", "rpId": "a", "userHandle": "dQ", "privateKey": key}),
            json!({"credentialId": "Y3JlZA", "rpId": "a", "userHandle": "dQ", "privateKey": "AAAA"}),
            json!({"credentialId": "Y3JlZA", "rpId": "a", "userHandle": "dQ", "privateKey": key,
                   "signCount": -5}),
            json!({"credentialId": "Y3JlZA", "rpId": "a", "userHandle": "dQ", "privateKey": key,
                   "isResidentCredential": "no"}),
            json!({"credentialId": "Y3JlZA", "rpId": "a", "userHandle": "dQ", "privateKey": key,
                   "largeBlob": "!"}),
        ] {
            assert!(credential(&bad).is_err(), "{bad}");
        }
    }
}
