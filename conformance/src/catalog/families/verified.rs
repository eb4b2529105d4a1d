//! What the destructive families share: a pinUvAuthToken under the run's PIN
//! (protocol 2), and makeCredential / getAssertion requests that carry one.

use super::client_pin::ensure_pin;
use super::common::status_text;
use crate::Error;
use crate::catalog::Session;
use crate::catalog::pin::{self, Protocol};
use crate::ctap2::cbor::{Value, int};
use crate::ctap2::{
    Assertion, Attestation, GetAssertionRequest, MakeCredentialRequest, UserEntity,
};

/// A protocol 2 token with `permissions` (bound to `rp_id`), under the
/// run's PIN; `Err` with the reason there is none.
pub fn token(
    s: &mut Session,
    permissions: u64,
    rp_id: Option<&str>,
) -> Result<Result<Vec<u8>, String>, Error> {
    if s.target().usbip_addr().is_none() {
        return Ok(Err(
            "destructive checks need a USB/IP target (power cycles)".into(),
        ));
    }
    if !s.info()?.pin_uv_auth_protocols.contains(&2) {
        return Ok(Err("getInfo pinUvAuthProtocols lack 2".into()));
    }
    let pin_now = match ensure_pin(s)? {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    Ok(
        pin::pin_token(s, Protocol::Two, &pin_now, Some((permissions, rp_id)))?
            .map_err(|st| format!("no token: {}", status_text(st))),
    )
}

fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    crate::bytes::random_bytes(&mut b)?;
    Ok(b)
}

/// makeCredential of a discoverable credential for (`rp_id`, `user_id`,
/// `name`) with `token` and these extensions; the verified answer, or the
/// status.
pub fn make_discoverable(
    s: &mut Session,
    token: &[u8],
    rp_id: &str,
    user_id: &[u8],
    name: &str,
    extensions: Option<Value>,
) -> Result<Result<Attestation, u8>, Error> {
    let cdh = random32()?;
    let mut req = MakeCredentialRequest::new(cdh, rp_id, user_id);
    req.user = UserEntity {
        id: user_id.to_vec(),
        name: Some(name.into()),
        display_name: Some(format!("{name} (conformance)")),
    };
    req.rk = Some(true);
    req.extra.push((
        int(8),
        Value::Bytes(Protocol::Two.authenticate(token, &cdh)),
    ));
    req.extra.push((int(9), int(2)));
    if let Some(ext) = extensions {
        req.extra.push((int(6), ext));
    }
    super::common::send_make_credential(s, &req)
}

/// getAssertion for `rp_id` (with `allow`, a `token`, extensions); the
/// parsed answer, or the status.
pub fn get_assertion(
    s: &mut Session,
    rp_id: &str,
    allow: &[Vec<u8>],
    token: Option<&[u8]>,
    extensions: Option<Value>,
) -> Result<Result<Assertion, u8>, Error> {
    let cdh = random32()?;
    let mut req = GetAssertionRequest::new(rp_id, cdh);
    req.allow_list = allow.to_vec();
    if let Some(t) = token {
        req.extra
            .push((int(6), Value::Bytes(Protocol::Two.authenticate(t, &cdh))));
        req.extra.push((int(7), int(2)));
    }
    if let Some(ext) = extensions {
        req.extra.push((int(4), ext));
    }
    Ok(match s.ctap2()?.get_assertion(&req) {
        Ok(a) => Ok(a),
        Err(Error::Ctap(st)) => Err(st),
        Err(e) => return Err(e),
    })
}

/// getNextAssertion on the same connection: the answer, or the status.
pub fn get_next(s: &mut Session) -> Result<Result<Assertion, u8>, Error> {
    Ok(match s.ctap2()?.get_next_assertion() {
        Ok(a) => Ok(a),
        Err(Error::Ctap(st)) => Err(st),
        Err(e) => return Err(e),
    })
}
