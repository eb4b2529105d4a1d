//! CTAPHID framing (sans-IO, CTAP 2.1 §11.2) and a USB/IP server
//! (Linux `Documentation/usb/usbip_protocol.rst`) exporting one FIDO HID device.
//!
//! Knows nothing of CBOR beyond the CTAPHID command byte: complete requests
//! go to a [`MessageHandler`].

pub mod handler;

pub use handler::{KeepaliveStatus, MessageHandler, Request, RequestKind, Signals};
