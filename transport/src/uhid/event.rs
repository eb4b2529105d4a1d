//! `struct uhid_event`, the unit of every read and write on `/dev/uhid`
//! (the kernel's uhid ABI, `<linux/uhid.h>`, and its uhid documentation,
//! `Documentation/hid/uhid.rst`), encoded and decoded by hand as bytes.
//!
//! An event is a `__u32` type at offset 0 and a union at offset 4. The
//! struct is packed, but the union holds `struct uhid_start_req` (one
//! unpacked `__u64`), which aligns it to 8 bytes on x86_64: the union's
//! largest member, `uhid_create2_req` (4372 bytes), is padded to 4376, and
//! the event is 4380 bytes. Every field is little-endian on x86_64 (the
//! kernel uses host order; softkey's uhid support is for little-endian
//! Linux). Writes are always a whole event; a read returns the kernel's
//! `sizeof`, which a buffer of [`EVENT_SIZE`] holds.

use std::fmt;

/// `sizeof(struct uhid_event)` on x86_64.
pub const EVENT_SIZE: usize = 4380;
/// Whether this build's target has the layout above: little-endian with 8-byte-aligned `__u64`
/// (x86_64, aarch64). Elsewhere (i386's 4380 is 4376; big-endian orders every field the other
/// way) the relay and `--transport uhid` refuse to start rather than send malformed events.
pub const LAYOUT_MATCHES_TARGET: bool = cfg!(all(
    target_os = "linux",
    target_endian = "little",
    target_pointer_width = "64"
));

/// The error for a target whose `struct uhid_event` is not the one encoded here.
pub fn unsupported_target() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "uhid is supported on 64-bit little-endian Linux only (its event layout is encoded by hand)",
    )
}
/// `UHID_DATA_MAX` (= `HID_MAX_DESCRIPTOR_SIZE`): the data arrays' length.
pub const DATA_MAX: usize = 4096;
/// `BUS_USB` (`<linux/input.h>`): the bus the created device claims. Clients
/// (libfido2, python-fido2, browsers) list hidraw nodes of any bus, and
/// udev's `fido_id` looks only at the report descriptor.
pub const BUS_USB: u16 = 0x03;
/// The `err` that answers a GET_REPORT or SET_REPORT we do not serve; any
/// non-zero value makes the kernel return −EIO to the caller.
pub const EIO: u16 = 5;

/// `enum uhid_event_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum EventType {
    Destroy = 1,
    Start = 2,
    Stop = 3,
    Open = 4,
    Close = 5,
    Output = 6,
    GetReport = 9,
    GetReportReply = 10,
    Create2 = 11,
    Input2 = 12,
    SetReport = 13,
    SetReportReply = 14,
}

/// `enum uhid_report_type`: the `rtype` of OUTPUT, GET_REPORT, SET_REPORT.
pub mod rtype {
    pub const FEATURE: u8 = 0;
    pub const OUTPUT: u8 = 1;
    pub const INPUT: u8 = 2;
}

// Offsets from the start of the event: 4 + offsetof(the union member's field).
/// `u.create2`: name[128], phys[64], uniq[64], rd_size, bus, vendor,
/// product, version, country, rd_data[4096].
const CREATE2_NAME: usize = 4;
const CREATE2_PHYS: usize = 132;
const CREATE2_UNIQ: usize = 196;
const CREATE2_RD_SIZE: usize = 260;
const CREATE2_BUS: usize = 262;
const CREATE2_VENDOR: usize = 264;
const CREATE2_PRODUCT: usize = 268;
const CREATE2_VERSION: usize = 272;
const CREATE2_COUNTRY: usize = 276;
const CREATE2_RD_DATA: usize = 280;
/// `u.input2`: size, data[4096].
const INPUT2_SIZE: usize = 4;
const INPUT2_DATA: usize = 6;
/// `u.output`: data[4096] first, then size and rtype.
const OUTPUT_DATA: usize = 4;
const OUTPUT_SIZE: usize = 4100;
const OUTPUT_RTYPE: usize = 4102;
/// `u.get_report` and `u.set_report`: id, rnum, rtype (set_report: size, data).
const REPORT_ID: usize = 4;
const REPORT_RNUM: usize = 8;
const REPORT_RTYPE: usize = 9;
/// `u.get_report_reply` and `u.set_report_reply`: id, err.
const REPLY_ID: usize = 4;
const REPLY_ERR: usize = 8;
/// `u.start`: dev_flags (`__u64`).
const START_DEV_FLAGS: usize = 4;

/// An event the kernel sent that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventError {
    /// Shorter than the fields its type needs.
    Truncated { len: usize },
    /// A size field larger than its data array.
    BadSize(u16),
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => write!(f, "uhid event of {len} bytes is truncated"),
            Self::BadSize(size) => write!(f, "uhid event declares {size} data bytes"),
        }
    }
}

impl std::error::Error for EventError {}

/// What `UHID_CREATE2` says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create2<'a> {
    /// The HID name (`HID_NAME`, what `fido2-token -L` prints); cut to 127 bytes.
    pub name: &'a str,
    /// The physical path (`HID_PHYS`); cut to 63 bytes.
    pub phys: &'a str,
    /// The unique id (`HID_UNIQ`, the serial number); cut to 63 bytes.
    pub uniq: &'a str,
    pub bus: u16,
    pub vendor: u32,
    pub product: u32,
    pub version: u32,
    pub country: u32,
    /// The report descriptor, at most [`DATA_MAX`] bytes.
    pub descriptor: &'a [u8],
}

/// `UHID_CREATE2`, a whole event. A descriptor over [`DATA_MAX`] is cut
/// (ours is 34 bytes).
pub fn create2(c: &Create2<'_>) -> Vec<u8> {
    let mut ev = with_type(EventType::Create2);
    put_str(&mut ev, CREATE2_NAME, CREATE2_PHYS, c.name);
    put_str(&mut ev, CREATE2_PHYS, CREATE2_UNIQ, c.phys);
    put_str(&mut ev, CREATE2_UNIQ, CREATE2_RD_SIZE, c.uniq);
    let descriptor = c.descriptor.get(..DATA_MAX).unwrap_or(c.descriptor);
    let rd_size = u16::try_from(descriptor.len()).unwrap_or(0);
    put(&mut ev, CREATE2_RD_SIZE, &rd_size.to_le_bytes());
    put(&mut ev, CREATE2_BUS, &c.bus.to_le_bytes());
    put(&mut ev, CREATE2_VENDOR, &c.vendor.to_le_bytes());
    put(&mut ev, CREATE2_PRODUCT, &c.product.to_le_bytes());
    put(&mut ev, CREATE2_VERSION, &c.version.to_le_bytes());
    put(&mut ev, CREATE2_COUNTRY, &c.country.to_le_bytes());
    put(&mut ev, CREATE2_RD_DATA, descriptor);
    ev
}

/// `UHID_INPUT2`: one input report from the device, a whole event. A
/// report over [`DATA_MAX`] is cut (ours are 64 bytes).
pub fn input2(report: &[u8]) -> Vec<u8> {
    let mut ev = with_type(EventType::Input2);
    let report = report.get(..DATA_MAX).unwrap_or(report);
    let size = u16::try_from(report.len()).unwrap_or(0);
    put(&mut ev, INPUT2_SIZE, &size.to_le_bytes());
    put(&mut ev, INPUT2_DATA, report);
    ev
}

/// `UHID_DESTROY`: the device is unplugged.
pub fn destroy() -> Vec<u8> {
    with_type(EventType::Destroy)
}

/// `UHID_GET_REPORT_REPLY` to request `id`, with no data.
pub fn get_report_reply(id: u32, err: u16) -> Vec<u8> {
    reply(EventType::GetReportReply, id, err)
}

/// `UHID_SET_REPORT_REPLY` to request `id`.
pub fn set_report_reply(id: u32, err: u16) -> Vec<u8> {
    reply(EventType::SetReportReply, id, err)
}

/// One event from the kernel, borrowing the bytes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelEvent<'a> {
    /// A HID driver bound the device (`dev_flags` says which report kinds
    /// are numbered; none are in ours).
    Start {
        dev_flags: u64,
    },
    Stop,
    /// The first reader opened the device (a hidraw open).
    Open,
    /// The last reader closed it.
    Close,
    /// A report for the device (`rtype` OUTPUT from a hidraw write). `data`
    /// is the buffer as hidraw passed it: the report number first.
    Output {
        rtype: u8,
        data: &'a [u8],
    },
    /// A GET_REPORT on the control channel; must be answered.
    GetReport {
        id: u32,
        rnum: u8,
        rtype: u8,
    },
    /// A SET_REPORT on the control channel; must be answered.
    SetReport {
        id: u32,
        rnum: u8,
        rtype: u8,
    },
    /// A type this module does not know (the legacy ones, future ones).
    Other(u32),
}

/// Reads one event as the kernel wrote it.
pub fn decode(ev: &[u8]) -> Result<KernelEvent<'_>, EventError> {
    let truncated = EventError::Truncated { len: ev.len() };
    let kind = le_u32(ev, 0).ok_or(truncated)?;
    let event = match kind {
        k if k == EventType::Start as u32 => KernelEvent::Start {
            dev_flags: le_u64(ev, START_DEV_FLAGS).ok_or(truncated)?,
        },
        k if k == EventType::Stop as u32 => KernelEvent::Stop,
        k if k == EventType::Open as u32 => KernelEvent::Open,
        k if k == EventType::Close as u32 => KernelEvent::Close,
        k if k == EventType::Output as u32 => {
            let size = le_u16(ev, OUTPUT_SIZE).ok_or(truncated)?;
            let rtype = *ev.get(OUTPUT_RTYPE).ok_or(truncated)?;
            if usize::from(size) > DATA_MAX {
                return Err(EventError::BadSize(size));
            }
            let data = ev
                .get(OUTPUT_DATA..OUTPUT_DATA + usize::from(size))
                .ok_or(truncated)?;
            KernelEvent::Output { rtype, data }
        }
        k if k == EventType::GetReport as u32 || k == EventType::SetReport as u32 => {
            let id = le_u32(ev, REPORT_ID).ok_or(truncated)?;
            let rnum = *ev.get(REPORT_RNUM).ok_or(truncated)?;
            let rtype = *ev.get(REPORT_RTYPE).ok_or(truncated)?;
            if k == EventType::GetReport as u32 {
                KernelEvent::GetReport { id, rnum, rtype }
            } else {
                KernelEvent::SetReport { id, rnum, rtype }
            }
        }
        other => KernelEvent::Other(other),
    };
    Ok(event)
}

fn with_type(kind: EventType) -> Vec<u8> {
    let mut ev = vec![0u8; EVENT_SIZE];
    put(&mut ev, 0, &(kind as u32).to_le_bytes());
    ev
}

fn reply(kind: EventType, id: u32, err: u16) -> Vec<u8> {
    let mut ev = with_type(kind);
    put(&mut ev, REPLY_ID, &id.to_le_bytes());
    put(&mut ev, REPLY_ERR, &err.to_le_bytes());
    ev
}

/// Copies `bytes` to `at`; the callers' offsets and lengths fit the event.
fn put(ev: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = ev.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

/// A NUL-terminated string in the field `start..end`, cut to fit (on a
/// character boundary).
fn put_str(ev: &mut [u8], start: usize, end: usize, text: &str) {
    let mut len = text.len().min(end - start - 1);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    put(ev, start, text.as_bytes().get(..len).unwrap_or_default());
}

fn le_u16(ev: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(ev.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(ev: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(ev.get(at..at + 4)?.try_into().ok()?))
}

fn le_u64(ev: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(ev.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn create2_puts_each_field_at_its_uhid_h_offset() {
        let descriptor = [0x06, 0xD0, 0xF1, 0xC0];
        let ev = create2(&Create2 {
            name: "softkey softkey FIDO2 authenticator",
            phys: "softkey",
            uniq: "ABC",
            bus: BUS_USB,
            vendor: 0x1209,
            product: 0x000A,
            version: 0x0100,
            country: 0,
            descriptor: &descriptor,
        });
        assert_eq!(ev.len(), EVENT_SIZE);
        assert_eq!(&ev[0..4], &[11, 0, 0, 0], "UHID_CREATE2 = 11");
        assert_eq!(&ev[4..39], b"softkey softkey FIDO2 authenticator");
        assert_eq!(ev[39], 0, "name is NUL-terminated");
        assert_eq!(&ev[132..140], b"softkey\0");
        assert_eq!(&ev[196..200], b"ABC\0");
        assert_eq!(&ev[260..262], &[4, 0], "rd_size");
        assert_eq!(&ev[262..264], &[3, 0], "bus");
        assert_eq!(&ev[264..268], &[0x09, 0x12, 0, 0], "vendor");
        assert_eq!(&ev[268..272], &[0x0A, 0, 0, 0], "product");
        assert_eq!(&ev[272..276], &[0, 1, 0, 0], "version");
        assert_eq!(&ev[276..280], &[0, 0, 0, 0], "country");
        assert_eq!(&ev[280..284], &descriptor, "rd_data");
        assert!(ev[284..].iter().all(|&b| b == 0));
    }

    #[test]
    fn long_strings_are_cut_and_stay_terminated() {
        let name = "é".repeat(100); // 200 bytes of two-byte characters
        let ev = create2(&Create2 {
            name: &name,
            phys: "",
            uniq: "",
            bus: BUS_USB,
            vendor: 0,
            product: 0,
            version: 0,
            country: 0,
            descriptor: &[],
        });
        // 127 bytes would split a character: 126 are kept, then NULs.
        assert_eq!(&ev[4..130], "é".repeat(63).as_bytes());
        assert_eq!(&ev[130..132], &[0, 0]);
        assert_eq!(ev[132], 0, "phys untouched");
    }

    #[test]
    fn input2_destroy_and_replies() {
        let report = [0xAB; 64];
        let ev = input2(&report);
        assert_eq!(ev.len(), EVENT_SIZE);
        assert_eq!(&ev[0..4], &[12, 0, 0, 0], "UHID_INPUT2 = 12");
        assert_eq!(&ev[4..6], &[64, 0], "size");
        assert_eq!(&ev[6..70], &report);
        assert_eq!(ev[70], 0);

        let ev = destroy();
        assert_eq!(ev.len(), EVENT_SIZE);
        assert_eq!(&ev[0..4], &[1, 0, 0, 0], "UHID_DESTROY = 1");

        let ev = get_report_reply(0x0102_0304, EIO);
        assert_eq!(&ev[0..4], &[10, 0, 0, 0], "UHID_GET_REPORT_REPLY = 10");
        assert_eq!(&ev[4..8], &[4, 3, 2, 1], "id");
        assert_eq!(&ev[8..10], &[5, 0], "err");
        let ev = set_report_reply(7, EIO);
        assert_eq!(&ev[0..4], &[14, 0, 0, 0], "UHID_SET_REPORT_REPLY = 14");
        assert_eq!(&ev[4..8], &[7, 0, 0, 0]);
    }

    fn kernel(kind: u32) -> Vec<u8> {
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[0..4].copy_from_slice(&kind.to_le_bytes());
        ev
    }

    #[test]
    fn decodes_output_from_its_offsets() {
        let mut ev = kernel(6);
        ev[4] = 0x00; // report number
        ev[5..69].copy_from_slice(&[0x5A; 64]);
        ev[4100..4102].copy_from_slice(&65u16.to_le_bytes());
        ev[4102] = rtype::OUTPUT;
        let KernelEvent::Output { rtype, data } = decode(&ev).unwrap() else {
            panic!("not an output event");
        };
        assert_eq!(rtype, rtype::OUTPUT);
        assert_eq!(data.len(), 65);
        assert_eq!(data[0], 0);
        assert_eq!(&data[1..], &[0x5A; 64]);
    }

    #[test]
    fn decodes_the_control_events() {
        let mut ev = kernel(2);
        ev[4..12].copy_from_slice(&4u64.to_le_bytes());
        assert_eq!(decode(&ev), Ok(KernelEvent::Start { dev_flags: 4 }));
        assert_eq!(decode(&kernel(3)), Ok(KernelEvent::Stop));
        assert_eq!(decode(&kernel(4)), Ok(KernelEvent::Open));
        assert_eq!(decode(&kernel(5)), Ok(KernelEvent::Close));
        let mut ev = kernel(9);
        ev[4..8].copy_from_slice(&42u32.to_le_bytes());
        ev[8] = 3;
        ev[9] = rtype::FEATURE;
        assert_eq!(
            decode(&ev),
            Ok(KernelEvent::GetReport {
                id: 42,
                rnum: 3,
                rtype: rtype::FEATURE
            })
        );
        ev[0] = 13;
        assert_eq!(
            decode(&ev),
            Ok(KernelEvent::SetReport {
                id: 42,
                rnum: 3,
                rtype: rtype::FEATURE
            })
        );
        assert_eq!(decode(&kernel(7)), Ok(KernelEvent::Other(7)));
    }

    #[test]
    fn refuses_short_events_and_oversized_data() {
        assert_eq!(decode(&[6, 0]), Err(EventError::Truncated { len: 2 }));
        // A short read of the kernel's own size still decodes.
        assert_eq!(decode(&kernel(4)[..4]), Ok(KernelEvent::Open));
        assert!(
            decode(&kernel(6)[..100]).is_err(),
            "OUTPUT without its size"
        );
        assert!(decode(&kernel(2)[..8]).is_err(), "START without its flags");
        let mut ev = kernel(6);
        ev[4100..4102].copy_from_slice(&4097u16.to_le_bytes());
        assert_eq!(decode(&ev), Err(EventError::BadSize(4097)));
    }
}
