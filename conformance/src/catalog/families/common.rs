//! What the families share: valid requests to vary one member of, CBOR
//! values of each type to put where another is expected, and verdicts on a
//! status byte that name what the key answered.

use crate::Error;
use crate::catalog::{Session, Verdict};
use crate::ctap2::cbor::{Value, int, text};

/// The RP id the checks register under. Non-discoverable credentials leave
/// nothing on a key; discoverable ones are made only by destructive checks.
pub const RP_ID: &str = "conformance.softkey.example";

/// COSE ES256, which every FIDO2 key has (CTAP 2.1 §6.4 algorithms).
pub const ES256: i64 = -7;

/// CBOR major types a member can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bytes,
    Text,
    Map,
    Array,
    Unsigned,
    Bool,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Bytes => "byte string",
            Kind::Text => "text string",
            Kind::Map => "map",
            Kind::Array => "array",
            Kind::Unsigned => "unsigned integer",
            Kind::Bool => "boolean",
        }
    }

    /// Three values of other types, named: what a check puts in place of a
    /// member of this kind.
    pub fn wrong_values(self) -> Vec<(&'static str, Value)> {
        let bytes = ("bytes", Value::Bytes(vec![0x01, 0x02]));
        let txt = ("text", text("x"));
        let map = ("map", Value::Map(vec![]));
        let array = ("array", Value::Array(vec![]));
        let uint = ("uint", Value::Integer(7.into()));
        let negative = ("negative", Value::Integer((-7).into()));
        match self {
            Kind::Bytes => vec![txt, uint, map],
            Kind::Text => vec![bytes, uint, array],
            Kind::Map => vec![txt, bytes, array],
            Kind::Array => vec![map, bytes, txt],
            Kind::Unsigned => vec![txt, bytes, negative],
            Kind::Bool => vec![uint, txt, bytes],
        }
    }
}

/// 32 random bytes.
pub fn client_data_hash() -> Value {
    let mut b = [0u8; 32];
    // The randomness only makes requests distinct; zeros would do.
    let _ = crate::bytes::random_bytes(&mut b);
    Value::Bytes(b.to_vec())
}

pub fn map(pairs: Vec<(Value, Value)>) -> Value {
    Value::Map(pairs)
}

pub fn text_map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (text(k), v)).collect())
}

pub fn rp() -> Value {
    text_map(vec![
        ("id", text(RP_ID)),
        ("name", text("softkey conformance")),
    ])
}

pub fn user() -> Value {
    text_map(vec![
        ("id", Value::Bytes(b"conformance-user".to_vec())),
        ("name", text("conformance")),
        ("displayName", text("Conformance")),
    ])
}

pub fn credential_param(alg: i64) -> Value {
    text_map(vec![("alg", int(alg)), ("type", text("public-key"))])
}

pub fn descriptor(id: &[u8]) -> Value {
    text_map(vec![
        ("id", Value::Bytes(id.to_vec())),
        ("type", text("public-key")),
    ])
}

/// A request map with `base` members, then `changes` applied in order:
/// `Some` sets a member, `None` removes it.
pub fn request(base: Vec<(i64, Value)>, changes: &[(i64, Option<Value>)]) -> Value {
    let mut members = base;
    for (key, change) in changes {
        members.retain(|(k, _)| k != key);
        if let Some(v) = change {
            members.push((*key, v.clone()));
        }
    }
    members.sort_by_key(|(k, _)| *k);
    map(members.into_iter().map(|(k, v)| (int(k), v)).collect())
}

/// A makeCredential for a non-discoverable ES256 credential, members 1–4.
pub fn make_credential_base() -> Vec<(i64, Value)> {
    vec![
        (0x01, client_data_hash()),
        (0x02, rp()),
        (0x03, user()),
        (0x04, Value::Array(vec![credential_param(ES256)])),
    ]
}

/// A getAssertion for [`RP_ID`], members 1–2.
pub fn get_assertion_base() -> Vec<(i64, Value)> {
    vec![(0x01, text(RP_ID)), (0x02, client_data_hash())]
}

/// The name of a CTAP status (CTAP 2.1 §8.2) for reports.
pub fn status_name(code: u8) -> &'static str {
    match code {
        0x00 => "CTAP2_OK",
        0x01 => "CTAP1_ERR_INVALID_COMMAND",
        0x02 => "CTAP1_ERR_INVALID_PARAMETER",
        0x03 => "CTAP1_ERR_INVALID_LENGTH",
        0x04 => "CTAP1_ERR_INVALID_SEQ",
        0x05 => "CTAP1_ERR_TIMEOUT",
        0x06 => "CTAP1_ERR_CHANNEL_BUSY",
        0x0A => "CTAP1_ERR_LOCK_REQUIRED",
        0x0B => "CTAP1_ERR_INVALID_CHANNEL",
        0x11 => "CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
        0x12 => "CTAP2_ERR_INVALID_CBOR",
        0x14 => "CTAP2_ERR_MISSING_PARAMETER",
        0x15 => "CTAP2_ERR_LIMIT_EXCEEDED",
        0x17 => "CTAP2_ERR_FP_DATABASE_FULL",
        0x18 => "CTAP2_ERR_LARGE_BLOB_STORAGE_FULL",
        0x19 => "CTAP2_ERR_CREDENTIAL_EXCLUDED",
        0x21 => "CTAP2_ERR_PROCESSING",
        0x22 => "CTAP2_ERR_INVALID_CREDENTIAL",
        0x23 => "CTAP2_ERR_USER_ACTION_PENDING",
        0x24 => "CTAP2_ERR_OPERATION_PENDING",
        0x25 => "CTAP2_ERR_NO_OPERATIONS",
        0x26 => "CTAP2_ERR_UNSUPPORTED_ALGORITHM",
        0x27 => "CTAP2_ERR_OPERATION_DENIED",
        0x28 => "CTAP2_ERR_KEY_STORE_FULL",
        0x2B => "CTAP2_ERR_UNSUPPORTED_OPTION",
        0x2C => "CTAP2_ERR_INVALID_OPTION",
        0x2D => "CTAP2_ERR_KEEPALIVE_CANCEL",
        0x2E => "CTAP2_ERR_NO_CREDENTIALS",
        0x2F => "CTAP2_ERR_USER_ACTION_TIMEOUT",
        0x30 => "CTAP2_ERR_NOT_ALLOWED",
        0x31 => "CTAP2_ERR_PIN_INVALID",
        0x32 => "CTAP2_ERR_PIN_BLOCKED",
        0x33 => "CTAP2_ERR_PIN_AUTH_INVALID",
        0x34 => "CTAP2_ERR_PIN_AUTH_BLOCKED",
        0x35 => "CTAP2_ERR_PIN_NOT_SET",
        0x36 => "CTAP2_ERR_PUAT_REQUIRED",
        0x37 => "CTAP2_ERR_PIN_POLICY_VIOLATION",
        0x39 => "CTAP2_ERR_REQUEST_TOO_LARGE",
        0x3A => "CTAP2_ERR_ACTION_TIMEOUT",
        0x3B => "CTAP2_ERR_UP_REQUIRED",
        0x3C => "CTAP2_ERR_UV_BLOCKED",
        0x3D => "CTAP2_ERR_INTEGRITY_FAILURE",
        0x3E => "CTAP2_ERR_INVALID_SUBCOMMAND",
        0x3F => "CTAP2_ERR_UV_INVALID",
        0x40 => "CTAP2_ERR_UNAUTHORIZED_PERMISSION",
        0x7F => "CTAP1_ERR_OTHER",
        _ => "an unknown status",
    }
}

/// `0x11 CTAP2_ERR_CBOR_UNEXPECTED_TYPE`.
pub fn status_text(code: u8) -> String {
    format!("0x{code:02X} {}", status_name(code))
}

/// Pass with `ok` when `cond` holds, else fail with `wrong`.
pub fn pass_if(cond: bool, ok: impl Into<String>, wrong: impl Into<String>) -> Verdict {
    if cond {
        Verdict::Pass(ok.into())
    } else {
        Verdict::Fail(wrong.into())
    }
}

/// Sends `req` (whose `extra` members a check added); the verified answer,
/// or the status.
pub fn send_make_credential(
    session: &mut Session,
    req: &crate::ctap2::MakeCredentialRequest,
) -> Result<Result<crate::ctap2::Attestation, u8>, Error> {
    let params = crate::ctap2::cbor::decode_canonical(&req.encode())?;
    let (st, body) = session.send(crate::ctap2::command::MAKE_CREDENTIAL, Some(&params))?;
    if st != crate::ctap2::status::SUCCESS {
        return Ok(Err(st));
    }
    Ok(Ok(crate::ctap2::Attestation::parse(&body, req)?))
}

/// Pass when a request the key must refuse was refused with `want`.
pub fn refused<T>(answer: Result<T, u8>, want: u8) -> Verdict {
    match answer {
        Ok(_) => Verdict::Fail(format!("answered, where {} was due", status_text(want))),
        Err(st) => expect_status(st, &[want]),
    }
}

/// Pass when the key answered one of `want`.
pub fn expect_status(got: u8, want: &[u8]) -> Verdict {
    if want.contains(&got) {
        Verdict::Pass(format!("answered {}", status_text(got)))
    } else {
        let wanted: Vec<String> = want.iter().map(|w| status_text(*w)).collect();
        Verdict::Fail(format!(
            "answered {}, not {}",
            status_text(got),
            wanted.join(" or ")
        ))
    }
}

/// The makeCredential status of `params`, judged against `want`.
pub fn make_credential_expecting(
    session: &mut Session,
    params: &Value,
    want: &[u8],
) -> Result<Verdict, Error> {
    Ok(expect_status(session.make_credential_status(params)?, want))
}

/// The getAssertion status of `params`, judged against `want`.
pub fn get_assertion_expecting(
    session: &mut Session,
    params: &Value,
    want: &[u8],
) -> Result<Verdict, Error> {
    Ok(expect_status(session.get_assertion_status(params)?, want))
}
