//! authenticatorGetInfo (CTAP 2.1 §6.4): the response's shape, and the
//! facts that other sections require of what it says.

use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::Info;
use crate::ctap2::cbor::{MapView, Value, as_uint};

/// A check on the parsed getInfo: `judge` returns `Ok(detail)` or
/// `Err(what is wrong)`; `None` when it does not apply, with the reason.
fn info_check(
    id: &str,
    spec: &str,
    expects: &str,
    judge: impl Fn(&Info) -> Option<Result<String, String>> + Send + Sync + 'static,
) -> Check {
    Check::in_family(
        Family::GetInfo,
        id,
        spec,
        "authenticatorGetInfo",
        expects,
        move |s: &mut Session| {
            let info = s.info()?;
            Ok(match judge(&info) {
                None => Verdict::NotApplicable("getInfo does not say it has this".into()),
                Some(Ok(detail)) => Verdict::Pass(detail),
                Some(Err(wrong)) => Verdict::Fail(wrong),
            })
        },
    )
}

fn member(info: &Info, key: i64) -> Option<&Value> {
    MapView::new(&info.raw, "getInfo").ok()?.get_int(key)
}

fn v21(info: &Info) -> bool {
    info.versions.iter().any(|v| v == "FIDO_2_1")
}

fn yes(cond: bool, ok: String, wrong: String) -> Option<Result<String, String>> {
    Some(if cond { Ok(ok) } else { Err(wrong) })
}

pub fn checks() -> Vec<Check> {
    let s64 = "CTAP 2.1 §6.4";
    let mut checks = vec![Check::new(
        "getinfo.canonical",
        Family::GetInfo,
        "CTAP 2.1 §6.4, §8 (CTAP2 canonical CBOR)",
        "authenticatorGetInfo",
        "a canonical CBOR map with integer keys, versions and aaguid present, each member of its type",
        |s| {
            let body = s.ctap2()?.command(crate::ctap2::command::GET_INFO, &[])?;
            match Info::parse(&body) {
                Ok(info) => Ok(Verdict::Pass(format!(
                    "{} bytes, versions {:?}",
                    body.len(),
                    info.versions
                ))),
                Err(e) => Ok(Verdict::Fail(e.to_string())),
            }
        },
    )];
    checks.extend([
        info_check("versions-fido2", s64, "versions names FIDO_2_0 or FIDO_2_1", |i| {
            yes(
                i.versions.iter().any(|v| v == "FIDO_2_0" || v == "FIDO_2_1"),
                format!("{:?}", i.versions),
                format!("versions {:?} name no FIDO 2 version", i.versions),
            )
        }),
        info_check("aaguid", s64, "a 16-byte aaguid", |i| {
            Some(Ok(crate::hex(&i.aaguid)))
        }),
        info_check("max-msg-size", "CTAP 2.1 §6.4 (maxMsgSize; platforms assume 1024 without it)", "maxMsgSize at least 1024, if present", |i| {
            let m = i.max_msg_size?;
            yes(m >= 1024, format!("{m}"), format!("maxMsgSize {m} is below 1024"))
        }),
        info_check("pin-protocols-known", s64, "pinUvAuthProtocols lists 1 and/or 2 only, if present", |i| {
            if i.pin_uv_auth_protocols.is_empty() {
                return None;
            }
            yes(
                i.pin_uv_auth_protocols.iter().all(|p| *p == 1 || *p == 2),
                format!("{:?}", i.pin_uv_auth_protocols),
                format!("unknown protocols in {:?}", i.pin_uv_auth_protocols),
            )
        }),
        info_check("pin-protocols-with-client-pin", "CTAP 2.1 §6.4 (pinUvAuthProtocols: required when clientPin is present)", "a key with the clientPin option lists its PIN protocols", |i| {
            i.option("clientPin")?;
            yes(
                !i.pin_uv_auth_protocols.is_empty(),
                format!("{:?}", i.pin_uv_auth_protocols),
                "clientPin is offered with no pinUvAuthProtocols".into(),
            )
        }),
        info_check("fido21-protocol-two", "CTAP 2.1 §6.5.7 (PIN/UV auth protocol 2), §6.4", "a FIDO_2_1 key with clientPin offers protocol 2", |i| {
            if !v21(i) || i.option("clientPin").is_none() {
                return None;
            }
            yes(
                i.pin_uv_auth_protocols.contains(&2),
                "protocol 2 offered".into(),
                format!("FIDO_2_1 key offers {:?}", i.pin_uv_auth_protocols),
            )
        }),
        info_check("fido21-pin-uv-auth-token", "CTAP 2.1 §6.4 (pinUvAuthToken: FIDO_2_1 keys with clientPin or uv support tokens)", "pinUvAuthToken true on a FIDO_2_1 key with clientPin or uv", |i| {
            if !v21(i) || (i.option("clientPin").is_none() && i.option("uv").is_none()) {
                return None;
            }
            yes(
                i.option("pinUvAuthToken") == Some(true),
                "pinUvAuthToken: true".into(),
                format!("pinUvAuthToken is {:?}", i.option("pinUvAuthToken")),
            )
        }),
        info_check("always-uv-make-cred-uv-not-rqd", "CTAP 2.1 §7.2.3 (alwaysUv), §6.4 (makeCredUvNotRqd)", "makeCredUvNotRqd is not true while alwaysUv is true", |i| {
            if i.option("alwaysUv") != Some(true) {
                return None;
            }
            yes(
                i.option("makeCredUvNotRqd") != Some(true),
                "consistent".into(),
                "alwaysUv and makeCredUvNotRqd are both true".into(),
            )
        }),
        info_check("max-credential-count", s64, "maxCredentialCountInList at least 1, if present", |i| {
            let n = i.max_credential_count_in_list?;
            yes(n >= 1, format!("{n}"), format!("maxCredentialCountInList {n}"))
        }),
        info_check("max-credential-id-length", "CTAP 2.1 §6.4; WebAuthn §4 (credential IDs have at least 16 bytes)", "maxCredentialIdLength at least 16, if present", |i| {
            let n = i.max_credential_id_length?;
            yes(n >= 16, format!("{n}"), format!("maxCredentialIdLength {n}"))
        }),
        info_check("transports-known", "CTAP 2.1 §6.4 (transports: WebAuthn AuthenticatorTransport values)", "transports holds known values only", |i| {
            if i.transports.is_empty() {
                return None;
            }
            let known = ["usb", "nfc", "ble", "smart-card", "hybrid", "internal"];
            yes(
                i.transports.iter().all(|t| known.contains(&t.as_str())),
                format!("{:?}", i.transports),
                format!("unknown transports in {:?}", i.transports),
            )
        }),
        info_check("algorithms-public-key", "CTAP 2.1 §6.4 (algorithms: PublicKeyCredentialParameters)", "algorithms lists public-key entries", |i| {
            if i.algorithms.is_empty() {
                return None;
            }
            yes(
                i.algorithms.iter().any(|(t, _)| t == "public-key"),
                format!("{} entries", i.algorithms.len()),
                "no public-key algorithm listed".into(),
            )
        }),
        info_check("cred-protect-with-rk", "CTAP 2.1 §12.1 (credProtect is required of FIDO_2_1 keys with discoverable credentials)", "credProtect among the extensions of a FIDO_2_1 key with rk", |i| {
            if !v21(i) || i.option("rk") != Some(true) {
                return None;
            }
            yes(
                i.extensions.iter().any(|e| e == "credProtect"),
                "credProtect listed".into(),
                format!("extensions {:?} lack credProtect", i.extensions),
            )
        }),
        info_check("min-pin-length", "CTAP 2.1 §6.4 (minPINLength, never below 4)", "minPINLength at least 4, if present", |i| {
            let n = member(i, 0x0D).map(|v| as_uint(v, "minPINLength"))?;
            Some(match n {
                Ok(n) if n >= 4 => Ok(format!("{n}")),
                Ok(n) => Err(format!("minPINLength {n}")),
                Err(e) => Err(e.to_string()),
            })
        }),
        info_check("large-blob-array-size", "CTAP 2.1 §6.4 (maxSerializedLargeBlobArray: at least 1024 with largeBlobs)", "maxSerializedLargeBlobArray at least 1024 on a key with largeBlobs", |i| {
            if i.option("largeBlobs") != Some(true) {
                return None;
            }
            let n = member(i, 0x0B).map(|v| as_uint(v, "maxSerializedLargeBlobArray"));
            Some(match n {
                Some(Ok(n)) if n >= 1024 => Ok(format!("{n}")),
                Some(Ok(n)) => Err(format!("maxSerializedLargeBlobArray {n}")),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("largeBlobs without maxSerializedLargeBlobArray".into()),
            })
        }),
        info_check("force-pin-change-bool", s64, "forcePINChange is a boolean, if present", |i| {
            let v = member(i, 0x0C)?;
            yes(
                matches!(v, Value::Bool(_)),
                format!("{v:?}"),
                format!("forcePINChange is {v:?}"),
            )
        }),
    ]);
    checks.push(Check::new(
        "getinfo.stable",
        Family::GetInfo,
        "CTAP 2.1 §6.4 (getInfo describes the key: it does not change between two calls)",
        "authenticatorGetInfo twice",
        "the same versions, extensions, aaguid and options",
        |s: &mut Session| -> Result<Verdict, Error> {
            let a = s.ctap2()?.get_info()?;
            let b = s.ctap2()?.get_info()?;
            Ok(
                if (a.versions == b.versions)
                    && (a.extensions == b.extensions)
                    && (a.aaguid == b.aaguid)
                    && (a.options == b.options)
                {
                    Verdict::Pass("identical".into())
                } else {
                    Verdict::Fail("two answers differ".into())
                },
            )
        },
    ));
    checks
}
