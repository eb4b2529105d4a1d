//! USB/IP wire format: operation packets and URB headers.
//!
//! Implements Linux `Documentation/usb/usbip_protocol.rst` (protocol version 0x0111):
//! OP_REQ/REP_DEVLIST, OP_REQ/REP_IMPORT, the 0x138-byte device record, and the 48-byte
//! `usbip_header` of USBIP_CMD_SUBMIT / RET_SUBMIT / CMD_UNLINK / RET_UNLINK. All fields are
//! big-endian. Encoders are byte-exact; decoders reject anything malformed.

use crate::Error;
use crate::bytes::Cursor;

/// The documented USB/IP version, `0x0111` (v1.1.1).
pub const USBIP_VERSION: u16 = 0x0111;
/// Retrieve the list of exported devices.
pub const OP_REQ_DEVLIST: u16 = 0x8005;
/// Reply with the list of exported devices.
pub const OP_REP_DEVLIST: u16 = 0x0005;
/// Import (attach) a device.
pub const OP_REQ_IMPORT: u16 = 0x8003;
/// Reply to import.
pub const OP_REP_IMPORT: u16 = 0x0003;
/// Submit an URB.
pub const CMD_SUBMIT: u32 = 1;
/// Unlink an URB.
pub const CMD_UNLINK: u32 = 2;
/// Reply to CMD_SUBMIT.
pub const RET_SUBMIT: u32 = 3;
/// Reply to CMD_UNLINK.
pub const RET_UNLINK: u32 = 4;
/// Direction host → device.
pub const DIR_OUT: u32 = 0;
/// Direction device → host.
pub const DIR_IN: u32 = 1;
/// Length of every URB header (`usbip_header`).
pub const HEADER_LEN: usize = 48;
/// Length of the `usbip_usb_device` record in DEVLIST and IMPORT replies.
pub const DEVICE_RECORD_LEN: usize = 0x138;
/// Length of one `usbip_usb_interface` entry in a DEVLIST reply.
pub const INTERFACE_RECORD_LEN: usize = 4;
/// URB status of an unlinked URB (−ECONNRESET).
pub const STATUS_ECONNRESET: i32 = -104;
/// URB status of a STALL (−EPIPE).
pub const STATUS_EPIPE: i32 = -32;
/// `URB_DIR_IN`, which Linux sets in transfer_flags of IN URBs (kernel doc example).
pub const URB_DIR_IN: u32 = 0x0200;
/// number_of_packets of a non-ISO URB, as the protocol document prescribes.
pub const NON_ISO_PACKETS: u32 = 0xFFFF_FFFF;

/// The 8-byte header of every OP_* packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpHeader {
    pub version: u16,
    pub code: u16,
    pub status: u32,
}

impl OpHeader {
    pub fn encode(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&self.version.to_be_bytes());
        b[2..4].copy_from_slice(&self.code.to_be_bytes());
        b[4..].copy_from_slice(&self.status.to_be_bytes());
        b
    }

    pub fn decode(bytes: &[u8; 8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "op header");
        Ok(OpHeader {
            version: c.u16("version")?,
            code: c.u16("code")?,
            status: c.u32("status")?,
        })
    }

    /// Checks version and reply code; the status is the caller's to judge.
    pub fn expect(&self, code: u16) -> Result<(), Error> {
        if self.version != USBIP_VERSION {
            return Err(Error::protocol(format!(
                "reply version 0x{:04x}, expected 0x{USBIP_VERSION:04x}",
                self.version
            )));
        }
        if self.code != code {
            return Err(Error::protocol(format!(
                "reply code 0x{:04x}, expected 0x{code:04x}",
                self.code
            )));
        }
        Ok(())
    }
}

/// OP_REQ_DEVLIST.
pub fn encode_req_devlist() -> [u8; 8] {
    OpHeader {
        version: USBIP_VERSION,
        code: OP_REQ_DEVLIST,
        status: 0,
    }
    .encode()
}

/// OP_REQ_IMPORT with `busid` NUL-padded to 32 bytes (at most 31 bytes + NUL).
pub fn encode_req_import(busid: &str) -> Result<[u8; 40], Error> {
    let id = busid.as_bytes();
    if id.len() > 31 || id.contains(&0) {
        return Err(Error::Usage(format!(
            "bus id {busid:?} does not fit 32 bytes"
        )));
    }
    let mut b = [0u8; 40];
    let head = OpHeader {
        version: USBIP_VERSION,
        code: OP_REQ_IMPORT,
        status: 0,
    }
    .encode();
    // busid is NUL-padded: the zip stops after the id, leaving zeros behind it.
    for (dst, src) in b.iter_mut().zip(head.iter().chain(id.iter())) {
        *dst = *src;
    }
    Ok(b)
}

/// One exported device as DEVLIST and IMPORT describe it (`struct usbip_usb_device`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedDevice {
    pub path: String,
    pub busid: String,
    pub busnum: u32,
    pub devnum: u32,
    pub speed: u32,
    pub vendor_id: u16,
    pub product_id: u16,
    pub bcd_device: u16,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub configuration_value: u8,
    pub num_configurations: u8,
    pub num_interfaces: u8,
    /// (class, subclass, protocol) per interface; only DEVLIST carries these.
    pub interfaces: Vec<(u8, u8, u8)>,
}

impl ExportedDevice {
    /// The devid a client puts in URB headers: `(busnum << 16) | devnum`.
    pub fn devid(&self) -> u32 {
        (self.busnum << 16) | (self.devnum & 0xFFFF)
    }

    /// Decodes the 0x138-byte record (no interface entries).
    pub fn decode_record(bytes: &[u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "device record");
        let path = c_string(c.take(256, "path")?, "path")?;
        let busid = c_string(c.take(32, "busid")?, "busid")?;
        Ok(ExportedDevice {
            path,
            busid,
            busnum: c.u32("busnum")?,
            devnum: c.u32("devnum")?,
            speed: c.u32("speed")?,
            vendor_id: c.u16("idVendor")?,
            product_id: c.u16("idProduct")?,
            bcd_device: c.u16("bcdDevice")?,
            device_class: c.u8("bDeviceClass")?,
            device_subclass: c.u8("bDeviceSubClass")?,
            device_protocol: c.u8("bDeviceProtocol")?,
            configuration_value: c.u8("bConfigurationValue")?,
            num_configurations: c.u8("bNumConfigurations")?,
            num_interfaces: c.u8("bNumInterfaces")?,
            interfaces: Vec::new(),
        })
    }

    /// Decodes the `bNumInterfaces` 4-byte interface entries that follow a DEVLIST record.
    pub fn decode_interfaces(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let mut c = Cursor::new(bytes, "interface record");
        for _ in 0..self.num_interfaces {
            let class = c.u8("bInterfaceClass")?;
            let subclass = c.u8("bInterfaceSubClass")?;
            let protocol = c.u8("bInterfaceProtocol")?;
            let _padding = c.u8("padding")?;
            self.interfaces.push((class, subclass, protocol));
        }
        if !c.is_empty() {
            return Err(Error::protocol(
                "interface records longer than bNumInterfaces",
            ));
        }
        Ok(())
    }
}

/// A NUL-terminated, NUL-padded string field.
fn c_string(field: &[u8], name: &str) -> Result<String, Error> {
    let end = field
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| Error::protocol(format!("{name} is not NUL-terminated")))?;
    let s = field.get(..end).unwrap_or_default();
    String::from_utf8(s.to_vec()).map_err(|_| Error::protocol(format!("{name} is not UTF-8")))
}

/// USBIP_CMD_SUBMIT header fields (usbip_protocol.rst "USBIP_CMD_SUBMIT").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CmdSubmit {
    pub seqnum: u32,
    pub devid: u32,
    pub direction: u32,
    pub ep: u32,
    pub transfer_flags: u32,
    pub transfer_buffer_length: u32,
    pub start_frame: u32,
    pub number_of_packets: u32,
    pub interval: u32,
    pub setup: [u8; 8],
}

impl CmdSubmit {
    /// Header followed by `data` (the OUT transfer buffer; empty for IN).
    pub fn encode(&self, data: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + data.len());
        for v in [
            CMD_SUBMIT,
            self.seqnum,
            self.devid,
            self.direction,
            self.ep,
            self.transfer_flags,
            self.transfer_buffer_length,
            self.start_frame,
            self.number_of_packets,
            self.interval,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        b.extend_from_slice(&self.setup);
        b.extend_from_slice(data);
        b
    }
}

/// USBIP_CMD_UNLINK (usbip_protocol.rst "USBIP_CMD_UNLINK"); ep and direction are 0.
pub fn encode_cmd_unlink(seqnum: u32, devid: u32, unlink_seqnum: u32) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    let fields = [CMD_UNLINK, seqnum, devid, 0, 0, unlink_seqnum];
    for (dst, src) in b
        .iter_mut()
        .zip(fields.iter().flat_map(|v| v.to_be_bytes()))
    {
        *dst = src;
    }
    b
}

/// A decoded reply header from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetHeader {
    Submit(RetSubmit),
    Unlink(RetUnlink),
}

/// USBIP_RET_SUBMIT header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetSubmit {
    pub seqnum: u32,
    pub devid: u32,
    pub direction: u32,
    pub ep: u32,
    pub status: i32,
    pub actual_length: u32,
    pub start_frame: u32,
    pub number_of_packets: u32,
    pub error_count: u32,
}

/// USBIP_RET_UNLINK header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetUnlink {
    pub seqnum: u32,
    pub devid: u32,
    pub direction: u32,
    pub ep: u32,
    pub status: i32,
}

impl RetHeader {
    /// Decodes a 48-byte reply header; any command other than RET_SUBMIT/RET_UNLINK is a
    /// protocol error (a server never sends CMD_*).
    pub fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "usbip_header");
        let command = c.u32("command")?;
        let seqnum = c.u32("seqnum")?;
        let devid = c.u32("devid")?;
        let direction = c.u32("direction")?;
        let ep = c.u32("ep")?;
        let status = c.i32("status")?;
        match command {
            RET_SUBMIT => Ok(RetHeader::Submit(RetSubmit {
                seqnum,
                devid,
                direction,
                ep,
                status,
                actual_length: c.u32("actual_length")?,
                start_frame: c.u32("start_frame")?,
                number_of_packets: c.u32("number_of_packets")?,
                error_count: c.u32("error_count")?,
            })),
            RET_UNLINK => Ok(RetHeader::Unlink(RetUnlink {
                seqnum,
                devid,
                direction,
                ep,
                status,
            })),
            other => Err(Error::protocol(format!(
                "unexpected usbip command 0x{other:08x}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn req_devlist_bytes() {
        assert_eq!(encode_req_devlist(), [0x01, 0x11, 0x80, 0x05, 0, 0, 0, 0]);
    }

    #[test]
    fn req_import_bytes() {
        let b = encode_req_import("1-1").unwrap();
        assert_eq!(&b[..8], &[0x01, 0x11, 0x80, 0x03, 0, 0, 0, 0]);
        assert_eq!(&b[8..11], b"1-1");
        assert!(b[11..].iter().all(|&x| x == 0));
        assert!(encode_req_import(&"x".repeat(32)).is_err());
        assert!(encode_req_import(&"x".repeat(31)).is_ok());
    }

    #[test]
    fn op_header_checks_version_and_code() {
        let h = OpHeader::decode(&[0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            h,
            OpHeader {
                version: 0x0111,
                code: OP_REP_IMPORT,
                status: 1
            }
        );
        assert!(h.expect(OP_REP_IMPORT).is_ok());
        assert!(h.expect(OP_REP_DEVLIST).is_err());
        let old = OpHeader::decode(&[0x01, 0x06, 0x00, 0x03, 0, 0, 0, 0]).unwrap();
        assert!(old.expect(OP_REP_IMPORT).is_err());
    }

    fn record(busid: &str) -> Vec<u8> {
        let mut r = vec![0u8; DEVICE_RECORD_LEN];
        r[..9].copy_from_slice(b"/sys/x/y\0");
        r[256..256 + busid.len()].copy_from_slice(busid.as_bytes());
        r[0x120..0x124].copy_from_slice(&1u32.to_be_bytes()); // busnum
        r[0x124..0x128].copy_from_slice(&2u32.to_be_bytes()); // devnum
        r[0x128..0x12C].copy_from_slice(&2u32.to_be_bytes()); // speed
        r[0x12C..0x12E].copy_from_slice(&0x1050u16.to_be_bytes());
        r[0x12E..0x130].copy_from_slice(&0x0407u16.to_be_bytes());
        r[0x130..0x132].copy_from_slice(&0x0100u16.to_be_bytes());
        r[0x135] = 1; // bConfigurationValue
        r[0x136] = 1; // bNumConfigurations
        r[0x137] = 1; // bNumInterfaces
        r
    }

    #[test]
    fn device_record_decodes_and_interfaces_follow() {
        let mut d = ExportedDevice::decode_record(&record("1-1")).unwrap();
        assert_eq!(d.path, "/sys/x/y");
        assert_eq!(d.busid, "1-1");
        assert_eq!((d.busnum, d.devnum, d.speed), (1, 2, 2));
        assert_eq!(
            (d.vendor_id, d.product_id, d.bcd_device),
            (0x1050, 0x0407, 0x0100)
        );
        assert_eq!(
            (
                d.configuration_value,
                d.num_configurations,
                d.num_interfaces
            ),
            (1, 1, 1)
        );
        assert_eq!(d.devid(), 0x0001_0002);
        d.decode_interfaces(&[3, 0, 0, 0]).unwrap();
        assert_eq!(d.interfaces, vec![(3, 0, 0)]);
    }

    #[test]
    fn device_record_rejects_truncation_and_unterminated_strings() {
        assert!(ExportedDevice::decode_record(&record("1-1")[..0x137]).is_err());
        let mut r = record("1-1");
        r[256..288].fill(b'a');
        assert!(ExportedDevice::decode_record(&r).is_err());
        let mut d = ExportedDevice::decode_record(&record("1-1")).unwrap();
        assert!(d.decode_interfaces(&[3, 0, 0]).is_err());
        assert!(d.decode_interfaces(&[3, 0, 0, 0, 9]).is_err());
    }

    // The CmdIntrOUT / RetIntrIn pair of the kernel document's EXAMPLE section (a CTAPHID
    // INIT captured on the wire), reproduced field by field.
    #[test]
    fn kernel_example_cmd_intr_out_is_byte_exact() {
        let expected = unhex(
            "00000001 00000d06 0001000f 00000000 00000001 00000000 00000040 ffffffff
             00000000 00000004 00000000 00000000
             ffffffff860008a784ce5ae212376300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
        );
        let mut data = [0u8; 64];
        data[..15].copy_from_slice(&unhex("ffffffff860008a784ce5ae2123763"));
        let cmd = CmdSubmit {
            seqnum: 0xd06,
            devid: 0x0001_000f,
            direction: DIR_OUT,
            ep: 1,
            transfer_flags: 0,
            transfer_buffer_length: 64,
            start_frame: 0xffff_ffff,
            number_of_packets: 0,
            interval: 4,
            setup: [0; 8],
        };
        assert_eq!(cmd.encode(&data), expected);
    }

    #[test]
    fn kernel_example_cmd_intr_in_is_byte_exact() {
        let expected = unhex(
            "00000001 00000d05 0001000f 00000001 00000001 00000200 00000040 ffffffff
             00000000 00000004 00000000 00000000",
        );
        let cmd = CmdSubmit {
            seqnum: 0xd05,
            devid: 0x0001_000f,
            direction: DIR_IN,
            ep: 1,
            transfer_flags: URB_DIR_IN,
            transfer_buffer_length: 64,
            start_frame: 0xffff_ffff,
            number_of_packets: 0,
            interval: 4,
            setup: [0; 8],
        };
        assert_eq!(cmd.encode(&[]), expected);
    }

    #[test]
    fn kernel_example_ret_intr_in_decodes() {
        let bytes = unhex(
            "00000003 00000d05 00000000 00000000 00000000 00000000 00000040 ffffffff
             00000000 00000000 00000000 00000000",
        );
        let h = RetHeader::decode(&bytes.try_into().unwrap()).unwrap();
        assert_eq!(
            h,
            RetHeader::Submit(RetSubmit {
                seqnum: 0xd05,
                devid: 0,
                direction: 0,
                ep: 0,
                status: 0,
                actual_length: 64,
                start_frame: 0xffff_ffff,
                number_of_packets: 0,
                error_count: 0,
            })
        );
    }

    #[test]
    fn unlink_bytes_and_ret_unlink_status() {
        let b = encode_cmd_unlink(7, 0x0001_0002, 6);
        let expected = unhex(
            "00000002 00000007 00010002 00000000 00000000 00000006 00000000 00000000
             00000000 00000000 00000000 00000000",
        );
        assert_eq!(b.to_vec(), expected);
        let mut r = [0u8; HEADER_LEN];
        r[3] = 4;
        r[7] = 7;
        r[20..24].copy_from_slice(&(-104i32).to_be_bytes());
        assert_eq!(
            RetHeader::decode(&r).unwrap(),
            RetHeader::Unlink(RetUnlink {
                seqnum: 7,
                devid: 0,
                direction: 0,
                ep: 0,
                status: STATUS_ECONNRESET
            })
        );
        r[3] = 1; // a CMD_SUBMIT from the server side is nonsense
        assert!(RetHeader::decode(&r).is_err());
    }
}
