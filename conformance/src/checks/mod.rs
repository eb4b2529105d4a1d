//! Conformance checks against a USB/IP FIDO device at a target address.
//!
//! Each check is a plain `fn(SocketAddr) -> CheckReport` that opens its own
//! connection(s), waits only with bounded timeouts, and never panics; the device's bus
//! id is found with OP_REQ_DEVLIST (the first exported device with a HID interface).
//! Expected answers come from usbip_protocol.rst, CTAP 2.1 §11.2 and, for malformed input,
//! transport/README.md "CTAPHID rules" and ARCHITECTURE.md "Malformed requests".

pub mod ctap2_checks;
pub mod ctaphid_checks;
pub mod usbip_checks;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::Error;
use crate::ctaphid::CtapHid;
use crate::usbip::{UsbipDevice, devlist};

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub name: &'static str,
    pub passed: bool,
    /// What was observed (on success) or what went wrong (on failure).
    pub detail: String,
    pub elapsed: Duration,
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "PASS" } else { "FAIL" };
        write!(
            f,
            "{verdict} {} ({} ms): {}",
            self.name,
            self.elapsed.as_millis(),
            self.detail
        )
    }
}

/// A check: target address in, report out.
pub type Check = fn(SocketAddr) -> CheckReport;

/// Every check, in the order `run_all` runs them.
pub const ALL: &[(&str, Check)] = &[
    ("devlist", usbip_checks::devlist_lists_fido_device),
    ("enumeration", usbip_checks::enumeration),
    ("control_stall", usbip_checks::unsupported_control_stalls),
    (
        "in_urb_pending_while_idle",
        usbip_checks::in_urb_pending_while_idle,
    ),
    ("unlink_pending_in", usbip_checks::unlink_pending_in),
    (
        "devlist_while_attached",
        usbip_checks::devlist_while_attached,
    ),
    ("second_import_refused", usbip_checks::second_import_refused),
    ("reattach", usbip_checks::reattach),
    ("ctaphid_init", ctaphid_checks::init),
    ("ctaphid_ping_1000", ctaphid_checks::ping_1000),
    ("ctaphid_cid_zero", ctaphid_checks::cid_zero),
    (
        "ctaphid_broadcast_non_init",
        ctaphid_checks::broadcast_non_init,
    ),
    ("ctaphid_unallocated_cid", ctaphid_checks::unallocated_cid),
    ("ctaphid_bad_seq", ctaphid_checks::bad_seq),
    ("ctaphid_bcnt_too_large", ctaphid_checks::bcnt_too_large),
    ("ctaphid_unknown_command", ctaphid_checks::unknown_command),
    ("ctaphid_channel_busy", ctaphid_checks::channel_busy),
    ("ctaphid_msg_timeout", ctaphid_checks::msg_timeout),
    (
        "ctaphid_spurious_continuation",
        ctaphid_checks::spurious_continuation,
    ),
    ("ctaphid_init_resync", ctaphid_checks::init_resync),
    ("ctap2_get_info", ctap2_checks::get_info),
    ("ctap2_malformed", ctap2_checks::malformed),
    (
        "ctap2_make_credential_get_assertion",
        ctap2_checks::make_credential_get_assertion,
    ),
    ("ctap2_cancel", ctap2_checks::cancel),
];

/// Runs every check in [`ALL`], each on its own connection(s).
pub fn run_all(addr: SocketAddr) -> Vec<CheckReport> {
    ALL.iter().map(|(_, check)| check(addr)).collect()
}

/// Runs `body` and turns its outcome into a report.
fn run(name: &'static str, body: impl FnOnce() -> Result<String, Error>) -> CheckReport {
    let start = Instant::now();
    let outcome = body();
    let elapsed = start.elapsed();
    match outcome {
        Ok(detail) => CheckReport {
            name,
            passed: true,
            detail,
            elapsed,
        },
        Err(e) => CheckReport {
            name,
            passed: false,
            detail: e.to_string(),
            elapsed,
        },
    }
}

/// A failed expectation.
fn fail<T>(msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::Verify(msg.into()))
}

/// Fails with `msg` unless `cond`.
fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Error> {
    if cond { Ok(()) } else { fail(msg()) }
}

/// The bus id of the first exported device with a HID interface (else the first device).
pub fn find_busid(addr: SocketAddr) -> Result<String, Error> {
    let list = devlist(addr)?;
    let hid = list
        .iter()
        .find(|d| d.interfaces.iter().any(|i| i.0 == 0x03));
    match hid.or(list.first()) {
        Some(d) => Ok(d.busid.clone()),
        None => fail("OP_REP_DEVLIST lists no device"),
    }
}

/// Imports the target device.
fn import(addr: SocketAddr) -> Result<UsbipDevice, Error> {
    UsbipDevice::import(addr, &find_busid(addr)?)
}

/// Imports the target and allocates a CTAPHID channel (short timeouts).
fn open_hid(addr: SocketAddr) -> Result<CtapHid<UsbipDevice>, Error> {
    let mut hid = CtapHid::init(import(addr)?)?;
    hid.set_timeouts(Duration::from_secs(3), Duration::from_secs(10));
    Ok(hid)
}

fn random<const N: usize>() -> Result<[u8; N], Error> {
    let mut b = [0u8; N];
    crate::bytes::random_bytes(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests;
