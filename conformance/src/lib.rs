//! softkey-conformance: a client that reaches a FIDO device over USB/IP the way a Linux
//! host does (USB/IP import and enumeration, CTAPHID, CTAP2), and conformance checks
//! built on it. It works against any USB/IP FIDO device, not only softkey.
//!
//! Layers: [`usbip`] (usbip_protocol.rst) → [`ctaphid`] (CTAP 2.1 §11.2) → [`ctap2`]
//! (CTAP 2.1 §6, §8); [`checks`] runs them against a target address.

mod bytes;
pub mod catalog;
pub mod checks;
pub mod ctap2;
pub mod ctaphid;
mod error;
#[cfg(test)]
mod testutil;
pub mod usbip;

pub use bytes::hex;
pub use error::Error;
