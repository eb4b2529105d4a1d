//! CTAPHID, the USB HID transport of CTAP 2.1 (§11.2), sans-IO.
//!
//! [`Ctaphid`] is fed 64-byte HID reports and the current time, and is drained
//! for outgoing reports, handler events and its next timer, in the style of
//! quinn-proto: no sockets, no threads, no OS clock. The USB/IP device model
//! (or a future uhid backend) drives it.

mod channels;
mod engine;
pub mod packet;

pub use channels::ChannelTable;
pub use engine::{Ctaphid, CtaphidConfig, Dispatch, Event, TransactionId};
pub use packet::Packet;

/// HID report size of the FIDO interface (CTAP 2.1 §11.2.4).
pub const PACKET_SIZE: usize = 64;
/// Payload bytes in an initialization packet (64 − CID 4 − CMD 1 − BCNT 2).
pub const INIT_DATA_SIZE: usize = 57;
/// Payload bytes in a continuation packet (64 − CID 4 − SEQ 1).
pub const CONT_DATA_SIZE: usize = 59;
/// Highest continuation sequence number + 1 (SEQ is 0..=127, CTAP 2.1 §11.2.4).
pub const MAX_CONT_PACKETS: usize = 128;
/// Largest message one transaction can carry: 57 + 128 × 59 (CTAP 2.1 §11.2.4).
pub const MAX_MESSAGE_SIZE: usize = INIT_DATA_SIZE + MAX_CONT_PACKETS * CONT_DATA_SIZE;
/// Reserved channel id (CTAP 2.1 §11.2.3: "CID 0 is reserved").
pub const RESERVED_CID: u32 = 0;
/// Broadcast channel id, valid only for CTAPHID_INIT (CTAP 2.1 §11.2.3).
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// CTAPHID protocol version reported by INIT (CTAP 2.1 §11.2.9.1.3).
pub const PROTOCOL_VERSION: u8 = 2;

/// Capability flag: implements CTAPHID_WINK.
pub const CAPABILITY_WINK: u8 = 0x01;
/// Capability flag: implements CTAPHID_CBOR.
pub const CAPABILITY_CBOR: u8 = 0x04;
/// Capability flag: does NOT implement CTAPHID_MSG.
pub const CAPABILITY_NMSG: u8 = 0x08;

/// CTAPHID command codes (CTAP 2.1 §11.2.9), without the 0x80 init-packet bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Command {
    Ping = 0x01,
    Msg = 0x03,
    Lock = 0x04,
    Init = 0x06,
    Wink = 0x08,
    Cbor = 0x10,
    Cancel = 0x11,
    Keepalive = 0x3B,
    Error = 0x3F,
}

impl Command {
    /// The command for a code, `None` for codes this transport does not know.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0x01 => Self::Ping,
            0x03 => Self::Msg,
            0x04 => Self::Lock,
            0x06 => Self::Init,
            0x08 => Self::Wink,
            0x10 => Self::Cbor,
            0x11 => Self::Cancel,
            0x3B => Self::Keepalive,
            0x3F => Self::Error,
            _ => return None,
        })
    }
}

/// CTAPHID_ERROR codes (CTAP 2.1 §11.2.9.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ErrorCode {
    InvalidCmd = 0x01,
    InvalidPar = 0x02,
    InvalidLen = 0x03,
    InvalidSeq = 0x04,
    MsgTimeout = 0x05,
    ChannelBusy = 0x06,
    LockRequired = 0x0A,
    InvalidChannel = 0x0B,
    Other = 0x7F,
}

#[cfg(test)]
mod tests;
