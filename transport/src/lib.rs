//! CTAPHID framing (sans-IO, CTAP 2.1 §11.2) and a USB/IP server
//! (Linux `Documentation/usb/usbip_protocol.rst`) exporting one FIDO HID device.
//!
//! Knows nothing of CBOR beyond the CTAPHID command byte: complete requests
//! go to a [`MessageHandler`] on a worker thread, with KEEPALIVEs sent while
//! it runs.
//!
//! - [`ctaphid`]: the sans-IO CTAPHID state machine (packets in, packets and
//!   requests out, time passed in).
//! - [`usbip`]: the USB/IP codec, the device model and [`Server`].

pub mod ctaphid;
pub mod handler;
pub mod usbip;

pub use handler::{
    KeepaliveStatus, MessageHandler, Refusal, Request, RequestKind, Signals, Winker,
};
pub use usbip::{
    DEFAULT_BUS_ID, DeviceConfig, ExportError, Exports, PeerPolicy, Server, ServerConfig,
    ShutdownHandle,
};
