//! The platform side of authenticatorClientPIN for the checks, in both PIN/UV
//! auth protocols (CTAP 2.1 §6.5.6 protocol 1, §6.5.7 protocol 2): key
//! agreement, encrypt / decrypt / authenticate, and the subcommands as raw
//! requests whose status the checks judge.

use super::Session;
use crate::Error;
use crate::ctap2::cbor::{MapView, Value, as_bytes, decode_canonical, int};
use crate::ctap2::command;
pub use crate::ctap2::pin_protocol::{Protocol, Shared, encapsulate, padded, pin_hash};

/// clientPIN subcommands (§6.5.5).
pub mod sub {
    pub const GET_PIN_RETRIES: i64 = 0x01;
    pub const GET_KEY_AGREEMENT: i64 = 0x02;
    pub const SET_PIN: i64 = 0x03;
    pub const CHANGE_PIN: i64 = 0x04;
    pub const GET_PIN_TOKEN: i64 = 0x05;
    pub const GET_UV_RETRIES: i64 = 0x07;
    pub const GET_TOKEN_WITH_PERMISSIONS: i64 = 0x09;
}

/// pinUvAuthToken permissions (§6.5.5.7).
pub mod permission {
    pub const MAKE_CREDENTIAL: u64 = 0x01;
    pub const GET_ASSERTION: u64 = 0x02;
    pub const CREDENTIAL_MANAGEMENT: u64 = 0x04;
    pub const BIO_ENROLLMENT: u64 = 0x08;
    pub const LARGE_BLOB_WRITE: u64 = 0x10;
    pub const AUTHENTICATOR_CONFIG: u64 = 0x20;
}

/// The pinUvAuthParam and pinUvAuthProtocol members a request carries for
/// `token` (makeCredential's keys 8 and 9, getAssertion's 6 and 7: pass the
/// first), over its clientDataHash.
pub fn pin_uv_members(
    param_key: i64,
    p: Protocol,
    token: &[u8],
    client_data_hash: &[u8; 32],
) -> [(Value, Value); 2] {
    [
        (
            int(param_key),
            Value::Bytes(p.authenticate(token, client_data_hash)),
        ),
        (int(param_key + 1), int(p.number())),
    ]
}

/// A clientPIN request with `pairs`: the status and body.
/// The protocol a platform would pick: 2 when getInfo pinUvAuthProtocols (CTAP 2.1 §6.4)
/// lists it, else 1.
pub fn preferred_protocol(s: &mut Session) -> Result<Protocol, Error> {
    Ok(if s.info()?.pin_uv_auth_protocols.contains(&2) {
        Protocol::Two
    } else {
        Protocol::One
    })
}

pub fn client_pin(s: &mut Session, pairs: Vec<(i64, Value)>) -> Result<(u8, Vec<u8>), Error> {
    let map = Value::Map(pairs.into_iter().map(|(k, v)| (int(k), v)).collect());
    s.send(command::CLIENT_PIN, Some(&map))
}

/// The key's keyAgreement key (getKeyAgreement), as its COSE map.
pub fn authenticator_key(s: &mut Session, p: Protocol) -> Result<Value, Error> {
    let (status, body) = client_pin(
        s,
        vec![(1, int(p.number())), (2, int(sub::GET_KEY_AGREEMENT))],
    )?;
    if status != 0 {
        return Err(Error::Ctap(status));
    }
    let value = decode_canonical(&body)?;
    Ok(MapView::new(&value, "getKeyAgreement response")?
        .require_int(1)?
        .clone())
}

/// getKeyAgreement, then the platform half of ECDH (`encapsulate`): the
/// platform's COSE key and the shared secret.
pub fn key_agreement(s: &mut Session, p: Protocol) -> Result<(Value, Shared), Error> {
    let cose = authenticator_key(s, p)?;
    encapsulate(&cose, p)
}

/// setPIN with `new_pin_plain` (already padded as the check wants); the status.
pub fn set_pin_raw(s: &mut Session, p: Protocol, new_pin_plain: &[u8]) -> Result<u8, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let enc = shared.encrypt(new_pin_plain)?;
    let param = shared.authenticate(&enc);
    Ok(client_pin(
        s,
        vec![
            (1, int(p.number())),
            (2, int(sub::SET_PIN)),
            (3, platform),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(enc)),
        ],
    )?
    .0)
}

/// setPIN with `pin` padded to 64 bytes; the status.
pub fn set_pin(s: &mut Session, p: Protocol, pin: &str) -> Result<u8, Error> {
    set_pin_raw(s, p, &padded(pin.as_bytes(), 64))
}

/// changePIN from `current` to `new`; the status.
pub fn change_pin(s: &mut Session, p: Protocol, current: &str, new: &str) -> Result<u8, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let new_enc = shared.encrypt(&padded(new.as_bytes(), 64))?;
    let hash_enc = shared.encrypt(&pin_hash(current))?;
    let param = shared.authenticate(&[new_enc.as_slice(), &hash_enc].concat());
    Ok(client_pin(
        s,
        vec![
            (1, int(p.number())),
            (2, int(sub::CHANGE_PIN)),
            (3, platform),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(new_enc)),
            (6, Value::Bytes(hash_enc)),
        ],
    )?
    .0)
}

/// getPinToken (`None`) or getPinUvAuthTokenUsingPinWithPermissions
/// (`Some((permissions, rp id))`) with `pin`: the decrypted token, or the
/// status.
pub fn pin_token(
    s: &mut Session,
    p: Protocol,
    pin: &str,
    permissions: Option<(u64, Option<&str>)>,
) -> Result<Result<Vec<u8>, u8>, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let hash_enc = shared.encrypt(&pin_hash(pin))?;
    let mut pairs = vec![
        (1, int(p.number())),
        (
            2,
            int(if permissions.is_some() {
                sub::GET_TOKEN_WITH_PERMISSIONS
            } else {
                sub::GET_PIN_TOKEN
            }),
        ),
        (3, platform),
        (6, Value::Bytes(hash_enc)),
    ];
    if let Some((perms, rp)) = permissions {
        pairs.push((9, Value::Integer(perms.into())));
        if let Some(rp) = rp {
            pairs.push((10, crate::ctap2::cbor::text(rp)));
        }
    }
    let (status, body) = client_pin(s, pairs)?;
    if status != 0 {
        return Ok(Err(status));
    }
    let value = decode_canonical(&body)?;
    let enc = as_bytes(
        MapView::new(&value, "token response")?.require_int(2)?,
        "pinUvAuthToken",
    )?;
    Ok(Ok(shared.decrypt(enc)?))
}

/// getPINRetries: pinRetries, or the status.
pub fn pin_retries(s: &mut Session, p: Protocol) -> Result<Result<u64, u8>, Error> {
    let (status, body) = client_pin(
        s,
        vec![(1, int(p.number())), (2, int(sub::GET_PIN_RETRIES))],
    )?;
    if status != 0 {
        return Ok(Err(status));
    }
    let value = decode_canonical(&body)?;
    Ok(Ok(crate::ctap2::cbor::as_uint(
        MapView::new(&value, "getPINRetries response")?.require_int(3)?,
        "pinRetries",
    )?))
}
