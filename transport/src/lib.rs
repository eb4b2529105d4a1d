//! CTAPHID framing (sans-IO, CTAP 2.1 §11.2) and two ways to be a FIDO HID
//! device: a USB/IP server (Linux `Documentation/usb/usbip_protocol.rst`)
//! and a Linux uhid device (`Documentation/hid/uhid.rst`), directly or
//! through a privileged relay.
//!
//! Knows nothing of CBOR beyond the CTAPHID command byte: complete requests
//! go to a [`MessageHandler`] on a worker thread, with KEEPALIVEs sent while
//! it runs.
//!
//! - [`ctaphid`]: the sans-IO CTAPHID state machine (packets in, packets and
//!   requests out, time passed in).
//! - [`usbip`]: the USB/IP codec, the device model and [`Server`].
//! - [`uhid`]: uhid events, the relay ([`Relay`]) and [`UhidDevice`].
//! - `driver`: the worker both run the [`MessageHandler`] on.

pub mod ctaphid;
mod driver;
pub mod handler;
mod lock;
pub mod uhid;
pub mod usbip;
mod wink;

pub use handler::{
    KeepaliveStatus, MessageHandler, Refusal, Request, RequestKind, Signals, Winker,
};
pub use uhid::{Relay, RelayConfig, UhidDevice, UhidShutdown};
pub use usbip::{
    DEFAULT_BUS_ID, DeviceConfig, ExportError, Exports, PeerPolicy, Server, ServerConfig,
    ShutdownHandle,
};
