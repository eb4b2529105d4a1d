//! The one error type of the conformance client.
//!
//! Every variant names who is at fault: `Io`/`Timeout` are the transport, `Protocol`,
//! `Descriptor`, `Cbor`, `NonCanonical` and `Verify` are things the *device* did wrong
//! (each is what makes a real host drop or distrust a device), `HidError` and `Ctap` are
//! well-formed error answers from the device.

use std::fmt;

/// Errors of the USB/IP, CTAPHID and CTAP2 clients.
#[derive(Debug)]
pub enum Error {
    /// The TCP connection failed or was closed.
    Io(std::io::Error),
    /// Nothing arrived in time; the text says what was awaited.
    Timeout(String),
    /// The device broke the USB/IP or CTAPHID framing rules.
    Protocol(String),
    /// OP_REP_IMPORT carried a non-zero status.
    ImportRefused(u32),
    /// A USB descriptor is malformed or not a FIDO HID device.
    Descriptor(String),
    /// A control transfer the host needs failed with this URB status (e.g. −32 STALL).
    ControlFailed { request: &'static str, status: i32 },
    /// A CTAPHID_ERROR packet (CTAP 2.1 §11.2.9.1.6) with this error code.
    HidError(u8),
    /// A CTAP2 response with a non-zero status byte (CTAP 2.1 §8.2).
    Ctap(u8),
    /// The device sent CBOR that does not decode or has the wrong shape.
    Cbor(String),
    /// The device sent CBOR that is not in CTAP2 canonical form (CTAP 2.1 §8).
    NonCanonical(String),
    /// A signature, hash or authenticator-data check failed.
    Verify(String),
    /// The caller asked for something this client does not do.
    Usage(String),
}

impl Error {
    /// The CTAP2 status byte, if this is a CTAP2 error answer.
    pub fn ctap_status(&self) -> Option<u8> {
        match self {
            Error::Ctap(s) => Some(*s),
            _ => None,
        }
    }

    /// The CTAPHID error code, if this is a CTAPHID_ERROR answer.
    pub fn hid_error(&self) -> Option<u8> {
        match self {
            Error::HidError(c) => Some(*c),
            _ => None,
        }
    }

    pub(crate) fn protocol(msg: impl Into<String>) -> Self {
        Error::Protocol(msg.into())
    }

    pub(crate) fn cbor(msg: impl Into<String>) -> Self {
        Error::Cbor(msg.into())
    }

    pub(crate) fn verify(msg: impl Into<String>) -> Self {
        Error::Verify(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o error: {e}"),
            Error::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Error::Protocol(m) => write!(f, "protocol violation by the device: {m}"),
            Error::ImportRefused(s) => write!(f, "OP_REP_IMPORT refused with status {s}"),
            Error::Descriptor(m) => write!(f, "bad USB descriptor: {m}"),
            Error::ControlFailed { request, status } => {
                write!(
                    f,
                    "control request {request} failed with URB status {status}"
                )
            }
            Error::HidError(c) => write!(f, "CTAPHID_ERROR 0x{c:02X}"),
            Error::Ctap(s) => write!(f, "CTAP2 status 0x{s:02X}"),
            Error::Cbor(m) => write!(f, "bad CBOR from the device: {m}"),
            Error::NonCanonical(m) => write!(f, "non-canonical CBOR from the device: {m}"),
            Error::Verify(m) => write!(f, "verification failed: {m}"),
            Error::Usage(m) => write!(f, "unsupported use: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
