//! USB descriptors a host reads while enumerating a FIDO HID device.
//!
//! Device, configuration (with interface, HID and endpoint descriptors) and string
//! descriptors per USB 2.0 §9.6, the HID class descriptor per HID 1.11 §6.2.1, and a
//! short-item walk of the report descriptor (HID 1.11 §6.2.2) that finds the FIDO usage
//! page 0xF1D0 / usage 0x01 (CTAP 2.1 §11.2.8.1) and the report sizes.

use crate::Error;

/// USB descriptor type codes (USB 2.0 table 9-5, HID 1.11 §7.1).
pub mod kind {
    pub const DEVICE: u8 = 0x01;
    pub const CONFIGURATION: u8 = 0x02;
    pub const STRING: u8 = 0x03;
    pub const INTERFACE: u8 = 0x04;
    pub const ENDPOINT: u8 = 0x05;
    pub const HID: u8 = 0x21;
    pub const HID_REPORT: u8 = 0x22;
}

/// The FIDO Alliance HID usage page (CTAP 2.1 §11.2.8.1).
pub const FIDO_USAGE_PAGE: u32 = 0xF1D0;
/// The CTAPHID usage on that page.
pub const FIDO_USAGE_CTAPHID: u32 = 0x01;

fn desc_err(msg: impl Into<String>) -> Error {
    Error::Descriptor(msg.into())
}

fn byte(b: &[u8], i: usize, what: &str) -> Result<u8, Error> {
    b.get(i)
        .copied()
        .ok_or_else(|| desc_err(format!("{what} truncated at byte {i}")))
}

fn le16(b: &[u8], i: usize, what: &str) -> Result<u16, Error> {
    Ok(u16::from_le_bytes([
        byte(b, i, what)?,
        byte(b, i + 1, what)?,
    ]))
}

/// The 18-byte device descriptor (USB 2.0 §9.6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDescriptor {
    pub bcd_usb: u16,
    pub device_class: u8,
    pub device_subclass: u8,
    pub device_protocol: u8,
    pub max_packet_size0: u8,
    pub vendor_id: u16,
    pub product_id: u16,
    pub bcd_device: u16,
    pub i_manufacturer: u8,
    pub i_product: u8,
    pub i_serial_number: u8,
    pub num_configurations: u8,
}

impl DeviceDescriptor {
    /// Parses exactly one device descriptor (bLength 18, type 1).
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        const W: &str = "device descriptor";
        if b.len() != 18 || byte(b, 0, W)? != 18 || byte(b, 1, W)? != kind::DEVICE {
            return Err(desc_err(format!(
                "device descriptor is not 18 bytes of type 1: {b:02x?}"
            )));
        }
        let d = DeviceDescriptor {
            bcd_usb: le16(b, 2, W)?,
            device_class: byte(b, 4, W)?,
            device_subclass: byte(b, 5, W)?,
            device_protocol: byte(b, 6, W)?,
            max_packet_size0: byte(b, 7, W)?,
            vendor_id: le16(b, 8, W)?,
            product_id: le16(b, 10, W)?,
            bcd_device: le16(b, 12, W)?,
            i_manufacturer: byte(b, 14, W)?,
            i_product: byte(b, 15, W)?,
            i_serial_number: byte(b, 16, W)?,
            num_configurations: byte(b, 17, W)?,
        };
        // USB 2.0 §9.6.1: bMaxPacketSize0 is 8, 16, 32 or 64 for full speed.
        if ![8, 16, 32, 64].contains(&d.max_packet_size0) {
            return Err(desc_err(format!("bMaxPacketSize0 {}", d.max_packet_size0)));
        }
        if d.bcd_usb == 0 || d.num_configurations == 0 {
            return Err(desc_err("bcdUSB or bNumConfigurations is 0"));
        }
        Ok(d)
    }
}

/// An endpoint descriptor (USB 2.0 §9.6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointDescriptor {
    pub address: u8,
    pub attributes: u8,
    pub max_packet_size: u16,
    pub interval: u8,
}

impl EndpointDescriptor {
    pub fn is_in(&self) -> bool {
        self.address & 0x80 != 0
    }
    pub fn is_interrupt(&self) -> bool {
        self.attributes & 0x03 == 0x03
    }
    /// The endpoint number without the direction bit, as USB/IP's `ep` field wants it.
    pub fn number(&self) -> u8 {
        self.address & 0x0F
    }
}

/// The HID interface of a configuration with its HID and endpoint descriptors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HidInterface {
    pub number: u8,
    pub alternate_setting: u8,
    pub class: u8,
    pub subclass: u8,
    pub protocol: u8,
    pub bcd_hid: u16,
    /// wDescriptorLength of the report descriptor (HID 1.11 §6.2.1).
    pub report_descriptor_length: u16,
    pub endpoint_in: EndpointDescriptor,
    pub endpoint_out: EndpointDescriptor,
}

/// A full configuration descriptor set (USB 2.0 §9.6.3, §9.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigDescriptor {
    pub total_length: u16,
    pub num_interfaces: u8,
    pub configuration_value: u8,
    pub attributes: u8,
    pub max_power: u8,
    /// The first HID (class 3) interface.
    pub hid: HidInterface,
    /// The raw bytes, wTotalLength long.
    pub raw: Vec<u8>,
}

impl ConfigDescriptor {
    /// wTotalLength from the 9-byte configuration header.
    pub fn total_length_of(header: &[u8]) -> Result<u16, Error> {
        const W: &str = "configuration descriptor";
        if byte(header, 0, W)? != 9 || byte(header, 1, W)? != kind::CONFIGURATION {
            return Err(desc_err(format!("configuration header {header:02x?}")));
        }
        let total = le16(header, 2, W)?;
        if total < 9 {
            return Err(desc_err("wTotalLength below 9"));
        }
        Ok(total)
    }

    /// Parses the whole set; requires a HID interface with one interrupt IN and one
    /// interrupt OUT endpoint (CTAP 2.1 §11.2.4).
    pub fn parse(b: &[u8]) -> Result<Self, Error> {
        const W: &str = "configuration descriptor";
        let total_length = Self::total_length_of(b)?;
        if usize::from(total_length) != b.len() {
            return Err(desc_err(format!(
                "wTotalLength {total_length} but {} bytes",
                b.len()
            )));
        }
        let mut hid: Option<HidInterface> = None;
        let mut current: Option<(u8, u8, u8, u8, u8)> = None; // interface being read
        let mut hid_desc: Option<(u16, u16)> = None;
        let mut eps: Vec<EndpointDescriptor> = Vec::new();
        let mut pos = 9usize;
        while pos < b.len() {
            let len = usize::from(byte(b, pos, W)?);
            let ty = byte(b, pos + 1, W)?;
            let d = b
                .get(pos..pos + len)
                .filter(|_| len >= 2)
                .ok_or_else(|| desc_err(format!("descriptor at {pos} has bLength {len}")))?;
            match ty {
                kind::INTERFACE if len >= 9 => {
                    if hid.is_none() {
                        hid = finish_interface(current.take(), hid_desc.take(), &mut eps)?;
                    }
                    let class = byte(d, 5, W)?;
                    current = (class == 0x03 && hid.is_none()).then_some((
                        byte(d, 2, W)?,
                        byte(d, 3, W)?,
                        class,
                        byte(d, 6, W)?,
                        byte(d, 7, W)?,
                    ));
                    eps.clear();
                    hid_desc = None;
                }
                kind::HID if current.is_some() && len >= 9 => {
                    // HID 1.11 §6.2.1: bcdHID, bCountryCode, bNumDescriptors, then
                    // (bDescriptorType, wDescriptorLength) pairs; find the report one.
                    let n = usize::from(byte(d, 5, W)?);
                    let mut report_len = None;
                    for i in 0..n {
                        if byte(d, 6 + 3 * i, W)? == kind::HID_REPORT {
                            report_len = Some(le16(d, 7 + 3 * i, W)?);
                        }
                    }
                    let report_len =
                        report_len.ok_or_else(|| desc_err("HID descriptor names no report"))?;
                    hid_desc = Some((le16(d, 2, W)?, report_len));
                }
                kind::ENDPOINT if current.is_some() && len >= 7 => {
                    eps.push(EndpointDescriptor {
                        address: byte(d, 2, W)?,
                        attributes: byte(d, 3, W)?,
                        max_packet_size: le16(d, 4, W)?,
                        interval: byte(d, 6, W)?,
                    });
                }
                kind::INTERFACE | kind::ENDPOINT | kind::HID if current.is_some() => {
                    return Err(desc_err(format!("descriptor type {ty:#04x} too short")));
                }
                _ => {}
            }
            pos += len;
        }
        if hid.is_none() {
            hid = finish_interface(current.take(), hid_desc.take(), &mut eps)?;
        }
        let hid = hid.ok_or_else(|| desc_err("no HID interface (class 3)"))?;
        Ok(ConfigDescriptor {
            total_length,
            num_interfaces: byte(b, 4, W)?,
            configuration_value: byte(b, 5, W)?,
            attributes: byte(b, 7, W)?,
            max_power: byte(b, 8, W)?,
            hid,
            raw: b.to_vec(),
        })
    }
}

fn finish_interface(
    current: Option<(u8, u8, u8, u8, u8)>,
    hid_desc: Option<(u16, u16)>,
    eps: &mut Vec<EndpointDescriptor>,
) -> Result<Option<HidInterface>, Error> {
    let Some((number, alternate_setting, class, subclass, protocol)) = current else {
        return Ok(None);
    };
    let (bcd_hid, report_descriptor_length) =
        hid_desc.ok_or_else(|| desc_err("HID interface without a HID descriptor"))?;
    let find = |want_in: bool| {
        eps.iter()
            .copied()
            .find(|e| e.is_interrupt() && e.is_in() == want_in)
            .ok_or_else(|| {
                desc_err(format!(
                    "no interrupt {} endpoint",
                    if want_in { "IN" } else { "OUT" }
                ))
            })
    };
    let iface = HidInterface {
        number,
        alternate_setting,
        class,
        subclass,
        protocol,
        bcd_hid,
        report_descriptor_length,
        endpoint_in: find(true)?,
        endpoint_out: find(false)?,
    };
    eps.clear();
    Ok(Some(iface))
}

/// The language IDs of string descriptor 0 (USB 2.0 §9.6.7).
pub fn parse_langids(b: &[u8]) -> Result<Vec<u16>, Error> {
    let units = string_units(b)?;
    if units.is_empty() {
        return Err(desc_err("string descriptor 0 lists no language"));
    }
    Ok(units)
}

/// A UNICODE string descriptor as a Rust string (UTF-16LE, USB 2.0 §9.6.7).
pub fn parse_string(b: &[u8]) -> Result<String, Error> {
    String::from_utf16(&string_units(b)?).map_err(|_| desc_err("string is not valid UTF-16"))
}

fn string_units(b: &[u8]) -> Result<Vec<u16>, Error> {
    let len = usize::from(byte(b, 0, "string descriptor")?);
    if len != b.len() || len % 2 != 0 || byte(b, 1, "string descriptor")? != kind::STRING {
        return Err(desc_err(format!(
            "string descriptor bLength {len}, got {} bytes",
            b.len()
        )));
    }
    Ok(b.get(2..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|c| {
            u16::from_le_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
        .collect())
}

/// What the report descriptor declares (the parts a FIDO host looks at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportInfo {
    pub usage_page: u32,
    pub usage: u32,
    /// Input report size in bytes (report size × count / 8).
    pub input_len: u32,
    /// Output report size in bytes.
    pub output_len: u32,
}

/// Walks the short items of a report descriptor (HID 1.11 §6.2.2.2) and returns the first
/// usage page, first usage, and the first Input/Output report sizes. Fails unless the
/// descriptor declares the FIDO usage page 0xF1D0 with usage 0x01 and 64-byte reports.
pub fn parse_report_descriptor(b: &[u8]) -> Result<ReportInfo, Error> {
    let (mut usage_page, mut usage) = (None, None);
    let (mut size, mut count) = (0u32, 0u32);
    let (mut input_len, mut output_len) = (None, None);
    let mut pos = 0usize;
    while pos < b.len() {
        let prefix = byte(b, pos, "report descriptor")?;
        if prefix == 0xFE {
            // Long item: bDataSize, bLongItemTag, data (HID 1.11 §6.2.2.3).
            let n = usize::from(byte(b, pos + 1, "report descriptor")?);
            pos += 3 + n;
            continue;
        }
        let n = match prefix & 0x03 {
            3 => 4,
            n => usize::from(n),
        };
        let data = b
            .get(pos + 1..pos + 1 + n)
            .ok_or_else(|| desc_err(format!("report item at {pos} truncated")))?;
        let mut v = [0u8; 4];
        v.get_mut(..n).unwrap_or_default().copy_from_slice(data);
        let value = u32::from_le_bytes(v);
        match prefix & 0xFC {
            0x04 => usage_page = usage_page.or(Some(value)),
            0x08 => usage = usage.or(Some(value)),
            0x74 => size = value,
            0x94 => count = value,
            0x80 => input_len = input_len.or(Some(size.saturating_mul(count) / 8)),
            0x90 => output_len = output_len.or(Some(size.saturating_mul(count) / 8)),
            _ => {}
        }
        pos += 1 + n;
    }
    let info = ReportInfo {
        usage_page: usage_page.ok_or_else(|| desc_err("no Usage Page item"))?,
        usage: usage.ok_or_else(|| desc_err("no Usage item"))?,
        input_len: input_len.ok_or_else(|| desc_err("no Input item"))?,
        output_len: output_len.ok_or_else(|| desc_err("no Output item"))?,
    };
    if info.usage_page != FIDO_USAGE_PAGE || info.usage != FIDO_USAGE_CTAPHID {
        return Err(desc_err(format!(
            "usage page 0x{:04X} usage 0x{:02X} is not FIDO CTAPHID (0xF1D0/0x01)",
            info.usage_page, info.usage
        )));
    }
    if info.input_len != 64 || info.output_len != 64 {
        return Err(desc_err(format!(
            "report sizes in {} out {}, CTAPHID needs 64",
            info.input_len, info.output_len
        )));
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{FIDO_REPORT, config_bytes};

    #[test]
    fn device_descriptor_parses() {
        let b = [
            18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x50, 0x10, 0x07, 0x04, 0x00, 0x01, 1, 2, 3, 1,
        ];
        let d = DeviceDescriptor::parse(&b).unwrap();
        assert_eq!(d.bcd_usb, 0x0200);
        assert_eq!(
            (d.vendor_id, d.product_id, d.bcd_device),
            (0x1050, 0x0407, 0x0100)
        );
        assert_eq!(
            (d.i_manufacturer, d.i_product, d.i_serial_number),
            (1, 2, 3)
        );
        assert!(DeviceDescriptor::parse(&b[..17]).is_err());
        let mut bad = b;
        bad[7] = 65;
        assert!(DeviceDescriptor::parse(&bad).is_err());
    }

    #[test]
    fn config_set_parses_hid_interface() {
        let c = config_bytes();
        assert_eq!(ConfigDescriptor::total_length_of(&c[..9]).unwrap(), 41);
        let cfg = ConfigDescriptor::parse(&c).unwrap();
        assert_eq!(cfg.configuration_value, 1);
        assert_eq!(cfg.hid.number, 0);
        assert_eq!(cfg.hid.bcd_hid, 0x0111);
        assert_eq!(cfg.hid.report_descriptor_length, 34);
        assert_eq!(cfg.hid.endpoint_in.address, 0x81);
        assert_eq!(cfg.hid.endpoint_out.address, 0x01);
        assert_eq!(cfg.hid.endpoint_in.max_packet_size, 64);
        assert_eq!(cfg.hid.endpoint_in.interval, 5);
    }

    #[test]
    fn config_set_rejects_bad_lengths_and_missing_parts() {
        let c = config_bytes();
        assert!(ConfigDescriptor::parse(&c[..40]).is_err());
        let mut zero_len = c.clone();
        zero_len[9] = 0;
        assert!(ConfigDescriptor::parse(&zero_len).is_err());
        let mut no_out = c.clone();
        no_out.truncate(34);
        no_out[2] = 34;
        assert!(ConfigDescriptor::parse(&no_out).is_err());
        let mut not_hid = c;
        not_hid[14] = 0xFF;
        assert!(ConfigDescriptor::parse(&not_hid).is_err());
    }

    #[test]
    fn strings_decode_utf16le() {
        assert_eq!(parse_langids(&[4, 3, 0x09, 0x04]).unwrap(), vec![0x0409]);
        assert_eq!(
            parse_string(&[8, 3, b's', 0, b'k', 0, 0xE9, 0]).unwrap(),
            "sk\u{e9}"
        );
        assert!(parse_string(&[9, 3, b's', 0, b'k', 0, 0xE9, 0, 0]).is_err());
        assert!(parse_string(&[4, 3, 0x00, 0xD8]).is_err()); // lone surrogate
        assert!(parse_langids(&[2, 3]).is_err());
    }

    #[test]
    fn fido_report_descriptor_is_recognised() {
        let r = parse_report_descriptor(&FIDO_REPORT).unwrap();
        assert_eq!(
            r,
            ReportInfo {
                usage_page: 0xF1D0,
                usage: 1,
                input_len: 64,
                output_len: 64
            }
        );
    }

    #[test]
    fn non_fido_or_truncated_report_descriptor_is_rejected() {
        let mut kbd = FIDO_REPORT;
        kbd[1] = 0x01;
        kbd[2] = 0x00;
        assert!(parse_report_descriptor(&kbd).is_err());
        assert!(parse_report_descriptor(&FIDO_REPORT[..2]).is_err());
        let mut small = FIDO_REPORT;
        small[17] = 0x20;
        assert!(parse_report_descriptor(&small).is_err());
    }
}
