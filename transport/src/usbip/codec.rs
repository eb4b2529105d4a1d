//! USB/IP wire format, sans-IO (Linux `Documentation/usb/usbip_protocol.rst`,
//! version 0x0111, all fields big-endian).
//!
//! Server side: parse OP_REQ_DEVLIST / OP_REQ_IMPORT and the 48-byte URB
//! headers of CMD_SUBMIT / CMD_UNLINK, encode the replies. Client side
//! encoders and reply parsers exist for tests and the conformance client.
//! Every parser is total: bad input is a [`CodecError`], never a panic, and
//! lengths are checked before any buffer is sized from them.

use std::fmt;

/// The documented protocol version (`usbip_protocol.rst`, "Protocol Version").
pub const USBIP_VERSION: u16 = 0x0111;
pub const OP_REQ_DEVLIST: u16 = 0x8005;
pub const OP_REP_DEVLIST: u16 = 0x0005;
pub const OP_REQ_IMPORT: u16 = 0x8003;
pub const OP_REP_IMPORT: u16 = 0x0003;
/// version[2] code[2] status[4].
pub const OP_HEADER_LEN: usize = 8;
/// busid[32] after an OP_REQ_IMPORT header.
pub const BUSID_LEN: usize = 32;
/// path[256] … bNumInterfaces: the device record without interfaces.
pub const DEVICE_RECORD_LEN: usize = 0x138;
/// Every URB command and reply header (`usbip_header`).
pub const URB_HEADER_LEN: usize = 48;
pub const USBIP_CMD_SUBMIT: u32 = 1;
pub const USBIP_CMD_UNLINK: u32 = 2;
pub const USBIP_RET_SUBMIT: u32 = 3;
pub const USBIP_RET_UNLINK: u32 = 4;
/// Largest transfer_buffer_length accepted. A FIDO HID device moves 64-byte
/// reports and descriptors under 256 bytes; this bounds per-connection memory.
pub const MAX_TRANSFER_LEN: u32 = 64 * 1024;
/// number_of_packets for non-ISO URBs per the rst; Linux itself sends 0.
pub const NON_ISO_PACKETS: u32 = 0xFFFF_FFFF;

/// A malformed or unsupported peer message. The connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodecError {
    BadVersion(u16),
    UnknownOp(u16),
    UnknownCommand(u32),
    BadDirection(u32),
    TransferTooLarge(u32),
    IsoUnsupported(u32),
    /// Fewer bytes than the fixed layout needs (only from the reply parsers).
    Truncated,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadVersion(v) => write!(f, "unsupported USB/IP version {v:#06x}"),
            Self::UnknownOp(c) => write!(f, "unknown USB/IP operation {c:#06x}"),
            Self::UnknownCommand(c) => write!(f, "unknown USB/IP command {c:#x}"),
            Self::BadDirection(d) => write!(f, "bad URB direction {d}"),
            Self::TransferTooLarge(n) => write!(f, "transfer_buffer_length {n} too large"),
            Self::IsoUnsupported(n) => write!(f, "isochronous URB ({n} packets) unsupported"),
            Self::Truncated => write!(f, "truncated USB/IP message"),
        }
    }
}

impl std::error::Error for CodecError {}

/// An operation request of the connection's first phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpRequest {
    DevList,
    /// OP_REQ_IMPORT; its busid[32] follows the header.
    Import,
}

/// Parses `version code status` (status is unused in requests).
pub fn parse_op_header(header: &[u8; OP_HEADER_LEN]) -> Result<OpRequest, CodecError> {
    let [v0, v1, c0, c1, ..] = *header;
    let version = u16::from_be_bytes([v0, v1]);
    if version != USBIP_VERSION {
        return Err(CodecError::BadVersion(version));
    }
    match u16::from_be_bytes([c0, c1]) {
        OP_REQ_DEVLIST => Ok(OpRequest::DevList),
        OP_REQ_IMPORT => Ok(OpRequest::Import),
        other => Err(CodecError::UnknownOp(other)),
    }
}

/// The busid string of an OP_REQ_IMPORT: bytes up to the first NUL.
pub fn parse_busid(raw: &[u8; BUSID_LEN]) -> &[u8] {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(BUSID_LEN);
    raw.get(..end).unwrap_or_default()
}

/// One interface entry of OP_REP_DEVLIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceRecord {
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
}

/// The exported device as OP_REP_DEVLIST and OP_REP_IMPORT describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub path: String,
    pub busid: String,
    pub busnum: u32,
    pub devnum: u32,
    /// USB speed enum: 1 low, 2 full, 3 high.
    pub speed: u32,
    pub id_vendor: u16,
    pub id_product: u16,
    pub bcd_device: u16,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub configuration_value: u8,
    pub num_configurations: u8,
    pub interfaces: Vec<InterfaceRecord>,
}

impl DeviceRecord {
    /// `devid` as the client puts it in URB headers: `busnum << 16 | devnum`.
    pub fn devid(&self) -> u32 {
        (self.busnum << 16) | (self.devnum & 0xFFFF)
    }

    /// Appends the 0x138-byte record; with `interfaces`, the 4-byte
    /// interface entries of OP_REP_DEVLIST follow.
    pub fn encode(&self, out: &mut Vec<u8>, interfaces: bool) {
        put_fixed_str(out, &self.path, 256);
        put_fixed_str(out, &self.busid, BUSID_LEN);
        out.extend_from_slice(&self.busnum.to_be_bytes());
        out.extend_from_slice(&self.devnum.to_be_bytes());
        out.extend_from_slice(&self.speed.to_be_bytes());
        out.extend_from_slice(&self.id_vendor.to_be_bytes());
        out.extend_from_slice(&self.id_product.to_be_bytes());
        out.extend_from_slice(&self.bcd_device.to_be_bytes());
        let num_interfaces = u8::try_from(self.interfaces.len()).unwrap_or(u8::MAX);
        out.extend_from_slice(&[
            self.device_class,
            self.device_subclass,
            self.device_protocol,
            self.configuration_value,
            self.num_configurations,
            num_interfaces,
        ]);
        if interfaces {
            for i in self.interfaces.iter().take(usize::from(num_interfaces)) {
                out.extend_from_slice(&[i.class, i.subclass, i.protocol, 0]);
            }
        }
    }
}

/// Zero-padded string field; always leaves a terminating NUL.
fn put_fixed_str(out: &mut Vec<u8>, s: &str, len: usize) {
    let bytes = s.as_bytes();
    let n = bytes.len().min(len - 1);
    out.extend_from_slice(bytes.get(..n).unwrap_or_default());
    out.resize(out.len() + (len - n), 0);
}

fn put_op_header(out: &mut Vec<u8>, code: u16, status: u32) {
    out.extend_from_slice(&USBIP_VERSION.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&status.to_be_bytes());
}

/// OP_REP_DEVLIST with every device and its interfaces.
pub fn encode_devlist_reply(out: &mut Vec<u8>, devices: &[DeviceRecord]) {
    put_op_header(out, OP_REP_DEVLIST, 0);
    let n = u32::try_from(devices.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    for d in devices {
        d.encode(out, true);
    }
}

/// OP_REP_IMPORT: status 0 and the record, or status 1 alone.
pub fn encode_import_reply(out: &mut Vec<u8>, device: Option<&DeviceRecord>) {
    match device {
        Some(d) => {
            put_op_header(out, OP_REP_IMPORT, 0);
            d.encode(out, false);
        }
        None => put_op_header(out, OP_REP_IMPORT, 1),
    }
}

/// Client side: OP_REQ_DEVLIST, or OP_REQ_IMPORT when `busid` is given.
pub fn encode_op_request(out: &mut Vec<u8>, import_busid: Option<&str>) {
    match import_busid {
        None => put_op_header(out, OP_REQ_DEVLIST, 0),
        Some(busid) => {
            put_op_header(out, OP_REQ_IMPORT, 0);
            put_fixed_str(out, busid, BUSID_LEN);
        }
    }
}

/// Transfer direction of a URB (`usbip_header_basic.direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Out = 0,
    In = 1,
}

/// USBIP_CMD_SUBMIT header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdSubmit {
    pub seqnum: u32,
    pub devid: u32,
    pub direction: Direction,
    pub ep: u32,
    pub transfer_flags: u32,
    pub transfer_buffer_length: u32,
    pub start_frame: u32,
    pub number_of_packets: u32,
    pub interval: u32,
    pub setup: [u8; 8],
}

impl CmdSubmit {
    /// Bytes of OUT data that follow the header (none for IN).
    pub fn out_len(&self) -> usize {
        match self.direction {
            Direction::Out => self.transfer_buffer_length as usize,
            Direction::In => 0,
        }
    }
}

/// USBIP_CMD_UNLINK header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdUnlink {
    pub seqnum: u32,
    pub devid: u32,
    pub direction: Direction,
    pub ep: u32,
    pub unlink_seqnum: u32,
}

/// A command of the URB phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrbCommand {
    Submit(CmdSubmit),
    Unlink(CmdUnlink),
}

/// Big-endian field reader over a fixed header.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u32(&mut self) -> Result<u32, CodecError> {
        let (v, rest) = self
            .0
            .split_first_chunk::<4>()
            .ok_or(CodecError::Truncated)?;
        self.0 = rest;
        Ok(u32::from_be_bytes(*v))
    }

    fn bytes8(&mut self) -> Result<[u8; 8], CodecError> {
        let (v, rest) = self
            .0
            .split_first_chunk::<8>()
            .ok_or(CodecError::Truncated)?;
        self.0 = rest;
        Ok(*v)
    }
}

/// Parses a 48-byte URB header, bounding the transfer length and rejecting
/// ISO transfers before anything is allocated.
pub fn parse_urb_header(header: &[u8; URB_HEADER_LEN]) -> Result<UrbCommand, CodecError> {
    let mut f = Fields(header);
    let command = f.u32()?;
    let seqnum = f.u32()?;
    let devid = f.u32()?;
    let direction = match f.u32()? {
        0 => Direction::Out,
        1 => Direction::In,
        d => return Err(CodecError::BadDirection(d)),
    };
    let ep = f.u32()?;
    match command {
        USBIP_CMD_SUBMIT => {
            let transfer_flags = f.u32()?;
            let transfer_buffer_length = f.u32()?;
            let start_frame = f.u32()?;
            let number_of_packets = f.u32()?;
            let interval = f.u32()?;
            let setup = f.bytes8()?;
            if transfer_buffer_length > MAX_TRANSFER_LEN {
                return Err(CodecError::TransferTooLarge(transfer_buffer_length));
            }
            if number_of_packets != 0 && number_of_packets != NON_ISO_PACKETS {
                return Err(CodecError::IsoUnsupported(number_of_packets));
            }
            Ok(UrbCommand::Submit(CmdSubmit {
                seqnum,
                devid,
                direction,
                ep,
                transfer_flags,
                transfer_buffer_length,
                start_frame,
                number_of_packets,
                interval,
                setup,
            }))
        }
        USBIP_CMD_UNLINK => Ok(UrbCommand::Unlink(CmdUnlink {
            seqnum,
            devid,
            direction,
            ep,
            unlink_seqnum: f.u32()?,
        })),
        other => Err(CodecError::UnknownCommand(other)),
    }
}

/// Incremental framing over a receive buffer: `Ok(Some((command, frame_len)))`
/// once the header and its OUT data are complete (data is
/// `buf[URB_HEADER_LEN..frame_len]`), `Ok(None)` if more bytes are needed.
/// The header is validated as soon as it is complete, so a huge length is
/// refused without waiting for (or buffering) its data.
pub fn decode_urb(buf: &[u8]) -> Result<Option<(UrbCommand, usize)>, CodecError> {
    let Some(header) = buf.first_chunk::<URB_HEADER_LEN>() else {
        return Ok(None);
    };
    let cmd = parse_urb_header(header)?;
    let frame_len = URB_HEADER_LEN
        + match &cmd {
            UrbCommand::Submit(s) => s.out_len(),
            UrbCommand::Unlink(_) => 0,
        };
    Ok((buf.len() >= frame_len).then_some((cmd, frame_len)))
}

fn put_basic(out: &mut Vec<u8>, command: u32, seqnum: u32, devid: u32, dir: u32, ep: u32) {
    for v in [command, seqnum, devid, dir, ep] {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// USBIP_RET_SUBMIT with `data` (IN data; empty for OUT). `status` is 0 or
/// −errno. Non-ISO, so start_frame, number_of_packets (0, as the Linux stub
/// driver sends) and error_count are 0. devid, direction and ep are 0 from
/// the server.
pub fn encode_ret_submit(
    out: &mut Vec<u8>,
    seqnum: u32,
    status: i32,
    actual_length: u32,
    data: &[u8],
) {
    put_basic(out, USBIP_RET_SUBMIT, seqnum, 0, 0, 0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&actual_length.to_be_bytes());
    out.extend_from_slice(&[0; 20]); // start_frame, number_of_packets, error_count, padding[8]
    out.extend_from_slice(data);
}

/// USBIP_RET_UNLINK: −ECONNRESET if the URB was unlinked, 0 if it had completed.
pub fn encode_ret_unlink(out: &mut Vec<u8>, seqnum: u32, status: i32) {
    put_basic(out, USBIP_RET_UNLINK, seqnum, 0, 0, 0);
    out.extend_from_slice(&status.to_be_bytes());
    out.extend_from_slice(&[0; 24]);
}

/// Client side: USBIP_CMD_SUBMIT followed by `data` for OUT transfers.
pub fn encode_cmd_submit(out: &mut Vec<u8>, cmd: &CmdSubmit, data: &[u8]) {
    put_basic(
        out,
        USBIP_CMD_SUBMIT,
        cmd.seqnum,
        cmd.devid,
        cmd.direction as u32,
        cmd.ep,
    );
    for v in [
        cmd.transfer_flags,
        cmd.transfer_buffer_length,
        cmd.start_frame,
        cmd.number_of_packets,
        cmd.interval,
    ] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&cmd.setup);
    out.extend_from_slice(data);
}

/// Client side: USBIP_CMD_UNLINK.
pub fn encode_cmd_unlink(out: &mut Vec<u8>, cmd: &CmdUnlink) {
    put_basic(
        out,
        USBIP_CMD_UNLINK,
        cmd.seqnum,
        cmd.devid,
        cmd.direction as u32,
        cmd.ep,
    );
    out.extend_from_slice(&cmd.unlink_seqnum.to_be_bytes());
    out.extend_from_slice(&[0; 24]);
}

/// A reply of the URB phase as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrbReply {
    /// `actual_length` bytes of IN data follow an IN reply.
    Submit {
        seqnum: u32,
        status: i32,
        actual_length: u32,
    },
    Unlink {
        seqnum: u32,
        status: i32,
    },
}

/// Client side: parses a RET_SUBMIT / RET_UNLINK header.
pub fn parse_reply_header(header: &[u8; URB_HEADER_LEN]) -> Result<UrbReply, CodecError> {
    let mut f = Fields(header);
    let command = f.u32()?;
    let seqnum = f.u32()?;
    let _devid_dir_ep = (f.u32()?, f.u32()?, f.u32()?);
    let status = f.u32()?.cast_signed();
    match command {
        USBIP_RET_SUBMIT => {
            let actual_length = f.u32()?;
            if actual_length > MAX_TRANSFER_LEN {
                return Err(CodecError::TransferTooLarge(actual_length));
            }
            Ok(UrbReply::Submit {
                seqnum,
                status,
                actual_length,
            })
        }
        USBIP_RET_UNLINK => Ok(UrbReply::Unlink { seqnum, status }),
        other => Err(CodecError::UnknownCommand(other)),
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
