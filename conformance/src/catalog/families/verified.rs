//! What the destructive families share: a pinUvAuthToken under the run's PIN
//! (protocol 2), and makeCredential / getAssertion requests that carry one.

use super::client_pin::ensure_pin;
use super::common::status_text;
use crate::Error;
use crate::catalog::pin::{self, Protocol};
use crate::catalog::{Session, Verdict};
use crate::ctap2::cbor::{Value, int};
use crate::ctap2::{
    Assertion, Attestation, GetAssertionRequest, MakeCredentialRequest, UserEntity,
};

/// What every destructive check needs: a USB/IP target (power cycles),
/// PIN/UV auth protocol 2 and the run's PIN. `Err` with the check's verdict:
/// not applicable, or failed if the key refused the PIN.
pub fn ready(s: &mut Session) -> Result<Result<String, Verdict>, Error> {
    if s.target().usbip_addr().is_none() {
        return Ok(Err(Verdict::NotApplicable(
            "a hidraw target cannot be power-cycled from here".into(),
        )));
    }
    if !s.info()?.pin_uv_auth_protocols.contains(&2) {
        return Ok(Err(Verdict::NotApplicable(
            "getInfo pinUvAuthProtocols lack 2".into(),
        )));
    }
    ensure_pin(s)
}

/// A protocol 2 token with `permissions` (bound to `rp_id`), under the
/// run's PIN. `Err` with the check's verdict: not applicable as [`ready`]
/// says, or failed when the key refuses the token.
pub fn token(
    s: &mut Session,
    permissions: u64,
    rp_id: Option<&str>,
) -> Result<Result<Vec<u8>, Verdict>, Error> {
    let pin_now = match ready(s)? {
        Ok(p) => p,
        Err(verdict) => return Ok(Err(verdict)),
    };
    Ok(
        pin::pin_token(s, Protocol::Two, &pin_now, Some((permissions, rp_id)))?
            .map_err(|st| Verdict::Fail(format!("no token: {}", status_text(st)))),
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
    req.extra
        .extend(pin::pin_uv_members(8, Protocol::Two, token, &cdh));
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
            .extend(pin::pin_uv_members(6, Protocol::Two, t, &cdh));
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
