//! USB/IP server side (Linux `Documentation/usb/usbip_protocol.rst`) for
//! FIDO HID devices, one or several per server: the wire codec, the
//! descriptors, the device model, the exported-device table and the
//! threaded TCP server that drives them.

pub mod codec;
mod connection;
pub mod control;
pub mod descriptors;
pub mod device;
mod exports;
pub mod peer;
mod registry;
mod server;

pub use descriptors::{DEFAULT_BUS_ID, DeviceConfig};
pub use device::{Device, DeviceError};
pub use exports::ExportError;
pub use peer::PeerPolicy;
pub use server::{Exports, Server, ServerConfig, ShutdownHandle};
