//! authenticatorReset (CTAP 2.1 §6.6), destructive: within 10 s of power-up
//! and with a touch it erases every credential and the PIN; later it is
//! refused. The first destructive check of a run, so the PIN checks after it
//! start from a key without a PIN. Power cycles need a USB/IP target.

use std::time::Duration;

use super::common::{RP_ID, expect_status};
use super::make_credential_options::fresh_credential;
use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::{GetAssertionRequest, command, status};

/// §6.6: reset is allowed only this soon after power-up.
const RESET_WINDOW: Duration = Duration::from_secs(10);

/// A power cycle, then authenticatorReset; the status. `None` on a target
/// that cannot be power-cycled.
pub fn reset_after_power_cycle(s: &mut Session) -> Result<Option<u8>, Error> {
    if !s.power_cycle() {
        return Ok(None);
    }
    let status = s.send(command::RESET, None)?.0;
    if status == status::SUCCESS {
        s.pin = None;
        s.forget_info();
    }
    Ok(Some(status))
}

fn not_power_cyclable() -> Verdict {
    Verdict::NotApplicable("a hidraw target cannot be power-cycled from here".into())
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "reset.after-power-up",
            Family::Reset,
            "CTAP 2.1 §6.6 (within 10 s of power-up, after a test of presence: every credential and the PIN erased)",
            "a non-discoverable credential, a power cycle, authenticatorReset, then a getAssertion naming the credential",
            "reset 0x00 after a touch; the credential gone (0x2E), no PIN",
            |s| {
                if s.target().usbip_addr().is_none() {
                    return Ok(not_power_cyclable());
                }
                let id = fresh_credential(s, RP_ID)?;
                let Some(status) = reset_after_power_cycle(s)? else {
                    return Ok(not_power_cyclable());
                };
                if status != status::SUCCESS {
                    return Ok(expect_status(status, &[status::SUCCESS]));
                }
                let mut cdh = [0u8; 32];
                crate::bytes::random_bytes(&mut cdh)?;
                let mut req = GetAssertionRequest::new(RP_ID, cdh);
                req.allow_list = vec![id];
                let params = crate::ctap2::cbor::decode_canonical(&req.encode())?;
                let after = s.get_assertion_status(&params)?;
                if after != status::NO_CREDENTIALS {
                    return Ok(Verdict::Fail(format!(
                        "the credential made before the reset still answers: {}",
                        super::common::status_text(after)
                    )));
                }
                Ok(match s.info()?.option("clientPin") {
                    Some(true) => Verdict::Fail("getInfo still says clientPin: true".into()),
                    _ => Verdict::Pass("reset; the old credential gone; no PIN".into()),
                })
            },
        )
        .with_presence()
        .destructive(),
        Check::new(
            "reset.too-late",
            Family::Reset,
            "CTAP 2.1 §6.6 (more than 10 s after power-up: CTAP2_ERR_NOT_ALLOWED)",
            "a power cycle, 10.5 s of waiting, authenticatorReset",
            "0x30 CTAP2_ERR_NOT_ALLOWED",
            |s| {
                if !s.power_cycle() {
                    return Ok(not_power_cyclable());
                }
                // Power-up is the attach: make it now, then wait.
                s.ctap2()?;
                std::thread::sleep(RESET_WINDOW + Duration::from_millis(500));
                Ok(expect_status(s.send(command::RESET, None)?.0, &[status::NOT_ALLOWED]))
            },
        )
        .destructive(),
    ]
}
