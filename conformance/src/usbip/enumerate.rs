//! Enumeration of an imported device, in the order Linux 6.1 (hub driver + usbhid) sends
//! it over vhci (transport/README.md "Control requests from Linux"):
//! GET_DESCRIPTOR device (64, then 18), configuration (9, then wTotalLength), string 0 and
//! each string index with wLength 255, SET_CONFIGURATION, SET_IDLE, and the HID report
//! descriptor (USB 2.0 §9.4, HID 1.11 §7.1–7.2).

use super::descriptors::{
    ConfigDescriptor, DeviceDescriptor, ReportInfo, kind, parse_langids, parse_report_descriptor,
    parse_string,
};
use super::urb::Urbs;
use crate::Error;

/// The strings the device names itself with (None where the index is 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Strings {
    pub langids: Vec<u16>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial: Option<String>,
}

/// Everything enumeration learned.
#[derive(Debug, Clone)]
pub struct Enumeration {
    pub device: DeviceDescriptor,
    pub config: ConfigDescriptor,
    pub strings: Strings,
    pub report_descriptor: Vec<u8>,
    pub report: ReportInfo,
    /// SET_IDLE's URB status: many devices STALL it (−32), which Linux ignores.
    pub set_idle_status: i32,
}

/// A standard GET_DESCRIPTOR setup packet (USB 2.0 §9.4.3).
pub fn get_descriptor_setup(
    request_type: u8,
    ty: u8,
    index: u8,
    w_index: u16,
    len: u16,
) -> [u8; 8] {
    let [li, hi] = w_index.to_le_bytes();
    let [ll, hl] = len.to_le_bytes();
    [request_type, 0x06, index, ty, li, hi, ll, hl]
}

fn get_descriptor(urbs: &mut Urbs, name: &'static str, setup: [u8; 8]) -> Result<Vec<u8>, Error> {
    let len = u32::from(u16::from_le_bytes([setup[6], setup[7]]));
    let r = urbs.control(setup, &[], len)?;
    if r.status != 0 {
        return Err(Error::ControlFailed {
            request: name,
            status: r.status,
        });
    }
    Ok(r.data)
}

fn get_string(urbs: &mut Urbs, index: u8, langid: u16) -> Result<Option<String>, Error> {
    if index == 0 {
        return Ok(None);
    }
    let setup = get_descriptor_setup(0x80, kind::STRING, index, langid, 255);
    let reply = get_descriptor(urbs, "GET_DESCRIPTOR string", setup)?;
    parse_string(declared_part(&reply)).map(Some)
}

/// The first bLength bytes of a string descriptor reply. A device should send no more
/// (USB 2.0 §9.3.5), but some virtual keys pad every control reply to wLength; Linux's
/// `usb_string` trusts bLength the same way, so such keys still enumerate.
fn declared_part(reply: &[u8]) -> &[u8] {
    let declared = reply.first().map_or(0, |&len| usize::from(len));
    reply.get(..declared).unwrap_or(reply)
}

/// Runs the enumeration sequence and configures the interrupt endpoints of `urbs`.
pub(crate) fn enumerate(urbs: &mut Urbs) -> Result<Enumeration, Error> {
    // Linux first asks for 64 bytes of the device descriptor (the "old scheme" probe),
    // then exactly 18.
    let first = get_descriptor(
        urbs,
        "GET_DESCRIPTOR device (64)",
        get_descriptor_setup(0x80, kind::DEVICE, 0, 0, 64),
    )?;
    let device_bytes = get_descriptor(
        urbs,
        "GET_DESCRIPTOR device (18)",
        get_descriptor_setup(0x80, kind::DEVICE, 0, 0, 18),
    )?;
    let device = DeviceDescriptor::parse(&device_bytes)?;
    // A device should answer the 64-byte request with its 18-byte descriptor (USB 2.0 §9.3.5:
    // never more than bLength). Some virtual keys pad the reply to 64 bytes; Linux reads only
    // bMaxPacketSize0 from this probe and accepts them, so a matching prefix is enough here.
    if !first.starts_with(&device_bytes) {
        return Err(Error::Descriptor(format!(
            "GET_DESCRIPTOR device (64) returned {first:02x?}, the 18-byte read {device_bytes:02x?}"
        )));
    }

    let header = get_descriptor(
        urbs,
        "GET_DESCRIPTOR configuration (9)",
        get_descriptor_setup(0x80, kind::CONFIGURATION, 0, 0, 9),
    )?;
    let total = ConfigDescriptor::total_length_of(&header)?;
    let config = ConfigDescriptor::parse(&get_descriptor(
        urbs,
        "GET_DESCRIPTOR configuration (full)",
        get_descriptor_setup(0x80, kind::CONFIGURATION, 0, 0, total),
    )?)?;

    let mut strings = Strings::default();
    if device.i_manufacturer != 0 || device.i_product != 0 || device.i_serial_number != 0 {
        let langs = get_descriptor(
            urbs,
            "GET_DESCRIPTOR string 0",
            get_descriptor_setup(0x80, kind::STRING, 0, 0, 255),
        )?;
        strings.langids = parse_langids(declared_part(&langs))?;
        let lang = strings.langids.first().copied().unwrap_or(0x0409);
        strings.product = get_string(urbs, device.i_product, lang)?;
        strings.manufacturer = get_string(urbs, device.i_manufacturer, lang)?;
        strings.serial = get_string(urbs, device.i_serial_number, lang)?;
    }

    // SET_CONFIGURATION (USB 2.0 §9.4.7).
    let r = urbs.control(
        [0x00, 0x09, config.configuration_value, 0, 0, 0, 0, 0],
        &[],
        0,
    )?;
    if r.status != 0 {
        return Err(Error::ControlFailed {
            request: "SET_CONFIGURATION",
            status: r.status,
        });
    }

    let iface = u16::from(config.hid.number);
    let [il, ih] = iface.to_le_bytes();
    // SET_IDLE(0, 0) (HID 1.11 §7.2.4); usbhid ignores a STALL here.
    let set_idle_status = urbs
        .control([0x21, 0x0A, 0, 0, il, ih, 0, 0], &[], 0)?
        .status;

    let report_descriptor = get_descriptor(
        urbs,
        "GET_DESCRIPTOR HID report",
        get_descriptor_setup(
            0x81,
            kind::HID_REPORT,
            0,
            iface,
            config.hid.report_descriptor_length,
        ),
    )?;
    if report_descriptor.len() != usize::from(config.hid.report_descriptor_length) {
        return Err(Error::Descriptor(format!(
            "report descriptor is {} bytes, the HID descriptor says {}",
            report_descriptor.len(),
            config.hid.report_descriptor_length
        )));
    }
    let report = parse_report_descriptor(&report_descriptor)?;

    let (ep_in, ep_out) = (config.hid.endpoint_in, config.hid.endpoint_out);
    if ep_in.max_packet_size != 64 || ep_out.max_packet_size != 64 {
        return Err(Error::Descriptor(
            "CTAPHID endpoints must have wMaxPacketSize 64".into(),
        ));
    }
    urbs.endpoints.in_ep = u32::from(ep_in.number());
    urbs.endpoints.in_len = u32::from(ep_in.max_packet_size);
    urbs.endpoints.in_interval = u32::from(ep_in.interval);
    urbs.endpoints.out_ep = u32::from(ep_out.number());
    urbs.endpoints.out_interval = u32::from(ep_out.interval);

    Ok(Enumeration {
        device,
        config,
        strings,
        report_descriptor,
        report,
        set_idle_status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_packets_match_what_linux_sends() {
        assert_eq!(
            get_descriptor_setup(0x80, kind::DEVICE, 0, 0, 64),
            [0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x40, 0x00]
        );
        assert_eq!(
            get_descriptor_setup(0x80, kind::STRING, 2, 0x0409, 255),
            [0x80, 0x06, 0x02, 0x03, 0x09, 0x04, 0xFF, 0x00]
        );
        assert_eq!(
            get_descriptor_setup(0x81, kind::HID_REPORT, 0, 0, 34),
            [0x81, 0x06, 0x00, 0x22, 0x00, 0x00, 0x22, 0x00]
        );
    }

    #[test]
    fn a_string_reply_padded_to_wlength_is_read_up_to_blength() {
        let mut padded = vec![6, kind::STRING, b'o', 0, b'k', 0];
        padded.resize(255, 0);
        assert_eq!(parse_string(declared_part(&padded)).unwrap(), "ok");
        // A reply shorter than its bLength stays whole, for the parser to refuse.
        let short = [8, kind::STRING, b'o', 0];
        assert_eq!(declared_part(&short), &short);
        assert!(parse_string(declared_part(&short)).is_err());
    }
}
