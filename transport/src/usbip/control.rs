//! Control requests on endpoint 0 (USB 2.0 §9.4 standard requests, HID 1.11
//! §7.1–7.2 class requests) for the one HID interface.
//!
//! Anything not listed is answered with a STALL, which is how a device says
//! "request not supported" (USB 2.0 §9.2.7); `lsusb -v` relies on that.

use super::descriptors::{
    CONFIGURATION_VALUE, DESCRIPTOR_CONFIGURATION, DESCRIPTOR_DEVICE, DESCRIPTOR_HID,
    DESCRIPTOR_REPORT, DESCRIPTOR_STRING, Descriptors, EP_IN, EP_OUT, HID_DESCRIPTOR,
    REPORT_DESCRIPTOR,
};
use crate::ctaphid::{PACKET_SIZE, Packet};

const GET_STATUS: u8 = 0x00;
const CLEAR_FEATURE: u8 = 0x01;
const SET_ADDRESS: u8 = 0x05;
const GET_DESCRIPTOR: u8 = 0x06;
const GET_CONFIGURATION: u8 = 0x08;
const SET_CONFIGURATION: u8 = 0x09;
const GET_INTERFACE: u8 = 0x0A;
const SET_INTERFACE: u8 = 0x0B;
const HID_GET_IDLE: u8 = 0x02;
const HID_GET_PROTOCOL: u8 = 0x03;
const HID_SET_REPORT: u8 = 0x09;
const HID_SET_IDLE: u8 = 0x0A;
const HID_SET_PROTOCOL: u8 = 0x0B;
const FEATURE_ENDPOINT_HALT: u16 = 0;
const REPORT_TYPE_OUTPUT: u16 = 2;

/// The 8-byte SETUP packet (USB 2.0 §9.3), little-endian fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub request_type: u8,
    pub request: u8,
    pub value: u16,
    pub index: u16,
    pub length: u16,
}

impl Setup {
    pub fn parse(raw: &[u8; 8]) -> Self {
        let [request_type, request, v0, v1, i0, i1, l0, l1] = *raw;
        Self {
            request_type,
            request,
            value: u16::from_le_bytes([v0, v1]),
            index: u16::from_le_bytes([i0, i1]),
            length: u16::from_le_bytes([l0, l1]),
        }
    }

    /// Data stage from device to host (bmRequestType bit 7).
    pub fn is_in(&self) -> bool {
        self.request_type & 0x80 != 0
    }
}

/// What a control request produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlOutcome {
    /// IN data stage; the caller truncates it to wLength and the URB buffer.
    Data(Vec<u8>),
    /// Accepted, no data to return.
    Ack,
    /// SET_REPORT(Output) carried a HID report: a CTAPHID packet.
    Report(Packet),
    /// Not supported: RET_SUBMIT status −EPIPE.
    Stall,
}

/// Device state that control requests read and change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ep0State {
    pub configuration: u8,
    pub idle_rate: u8,
    /// 1 = report protocol (HID 1.11 §7.2.6).
    pub protocol: u8,
}

impl Ep0State {
    pub fn new() -> Self {
        Self {
            configuration: 0,
            idle_rate: 0,
            protocol: 1,
        }
    }
}

fn valid_endpoint(index: u16) -> bool {
    matches!(index, 0x00 | 0x80) || index == u16::from(EP_IN) || index == u16::from(EP_OUT)
}

/// Answers one control request. `data` is the OUT data stage, if any.
pub fn handle(
    descriptors: &Descriptors,
    state: &mut Ep0State,
    setup: &Setup,
    data: &[u8],
) -> ControlOutcome {
    use ControlOutcome::{Ack, Data, Report, Stall};
    let [desc_index, desc_type] = setup.value.to_le_bytes();
    match (setup.request_type, setup.request) {
        // USB 2.0 §9.4.3, device recipient. Device qualifier (6) and other
        // speed (7) STALL: a full-speed-only device has none (§9.6.2).
        (0x80, GET_DESCRIPTOR) => match desc_type {
            DESCRIPTOR_DEVICE => Data(descriptors.device.to_vec()),
            DESCRIPTOR_CONFIGURATION if desc_index == 0 => Data(descriptors.configuration.to_vec()),
            DESCRIPTOR_STRING => descriptors
                .string(desc_index)
                .map_or(Stall, |s| Data(s.to_vec())),
            _ => Stall,
        },
        // HID 1.11 §7.1.1: class descriptors are asked of the interface.
        (0x81, GET_DESCRIPTOR) if setup.index == 0 => match desc_type {
            DESCRIPTOR_HID => Data(HID_DESCRIPTOR.to_vec()),
            DESCRIPTOR_REPORT => Data(REPORT_DESCRIPTOR.to_vec()),
            _ => Stall,
        },
        (0x00, SET_CONFIGURATION) => match u8::try_from(setup.value) {
            Ok(v @ (0 | CONFIGURATION_VALUE)) => {
                state.configuration = v;
                Ack
            }
            _ => Stall,
        },
        (0x80, GET_CONFIGURATION) => Data(vec![state.configuration]),
        // vhci-hcd normally handles SET_ADDRESS itself; accept it if it comes.
        (0x00, SET_ADDRESS) => Ack,
        // §9.4.5: bus powered, no remote wakeup; interface: reserved zeros;
        // endpoint: never halted.
        (0x80, GET_STATUS) => Data(vec![0, 0]),
        (0x81, GET_STATUS) if setup.index == 0 => Data(vec![0, 0]),
        (0x82, GET_STATUS) if valid_endpoint(setup.index) => Data(vec![0, 0]),
        (0x02, CLEAR_FEATURE)
            if setup.value == FEATURE_ENDPOINT_HALT && valid_endpoint(setup.index) =>
        {
            Ack
        }
        (0x81, GET_INTERFACE) if setup.index == 0 => Data(vec![0]),
        (0x01, SET_INTERFACE) if setup.index == 0 && setup.value == 0 => Ack,
        // HID 1.11 §7.2.4: the upper byte of wValue is the idle duration.
        (0x21, HID_SET_IDLE) if setup.index == 0 => {
            state.idle_rate = desc_type;
            Ack
        }
        (0xA1, HID_GET_IDLE) if setup.index == 0 => Data(vec![state.idle_rate]),
        (0x21, HID_SET_PROTOCOL) if setup.index == 0 && setup.value <= 1 => {
            state.protocol = desc_index;
            Ack
        }
        (0xA1, HID_GET_PROTOCOL) if setup.index == 0 => Data(vec![state.protocol]),
        // HID 1.11 §7.2.2: an output report over the control pipe; hosts
        // without the interrupt OUT pipe send CTAPHID packets this way.
        (0x21, HID_SET_REPORT)
            if setup.index == 0
                && u16::from(desc_type) == REPORT_TYPE_OUTPUT
                && data.len() <= PACKET_SIZE =>
        {
            let mut packet = [0u8; PACKET_SIZE];
            if let Some(dst) = packet.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            Report(packet)
        }
        _ => Stall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usbip::descriptors::DeviceConfig;

    fn setup(rt: u8, req: u8, value: u16, index: u16, length: u16) -> Setup {
        Setup {
            request_type: rt,
            request: req,
            value,
            index,
            length,
        }
    }

    fn run(s: Setup) -> ControlOutcome {
        let d = Descriptors::new(&DeviceConfig::new("1"));
        handle(&d, &mut Ep0State::new(), &s, &[])
    }

    #[test]
    fn parses_setup_little_endian() {
        let s = Setup::parse(&[0x81, 0x06, 0x00, 0x22, 0x00, 0x00, 0x22, 0x00]);
        assert_eq!(s, setup(0x81, 6, 0x2200, 0, 0x22));
        assert!(s.is_in());
    }

    #[test]
    fn descriptors_are_served() {
        let d = Descriptors::new(&DeviceConfig::new("1"));
        assert_eq!(
            run(setup(0x80, 6, 0x0100, 0, 18)),
            ControlOutcome::Data(d.device.to_vec())
        );
        assert_eq!(
            run(setup(0x80, 6, 0x0200, 0, 255)),
            ControlOutcome::Data(d.configuration.to_vec())
        );
        assert_eq!(
            run(setup(0x80, 6, 0x0300, 0, 255)),
            ControlOutcome::Data(vec![4, 3, 9, 4])
        );
        assert_eq!(
            run(setup(0x81, 6, 0x2100, 0, 9)),
            ControlOutcome::Data(HID_DESCRIPTOR.to_vec())
        );
        assert_eq!(
            run(setup(0x81, 6, 0x2200, 0, 0x22)),
            ControlOutcome::Data(REPORT_DESCRIPTOR.to_vec())
        );
    }

    #[test]
    fn unsupported_requests_stall() {
        for s in [
            setup(0x80, 6, 0x0600, 0, 10),    // device qualifier
            setup(0x80, 6, 0x0A00, 0, 4),     // DEBUG (lsusb -v)
            setup(0x80, 6, 0x0304, 0, 255),   // no string 4
            setup(0x81, 6, 0x2200, 1, 34),    // no interface 1
            setup(0x00, 9, 2, 0, 0),          // no configuration 2
            setup(0xA1, 0x01, 0x0100, 0, 64), // GET_REPORT
            setup(0x40, 0x55, 0, 0, 0),       // vendor
            setup(0x82, 0, 0, 0x85, 2),       // no endpoint 5
        ] {
            assert_eq!(run(s), ControlOutcome::Stall, "{s:?}");
        }
    }

    #[test]
    fn state_changing_requests() {
        let d = Descriptors::new(&DeviceConfig::new("1"));
        let mut st = Ep0State::new();
        let go = |s: Setup, st: &mut Ep0State| handle(&d, st, &s, &[]);
        assert_eq!(
            go(setup(0x80, 8, 0, 0, 1), &mut st),
            ControlOutcome::Data(vec![0])
        );
        assert_eq!(go(setup(0x00, 9, 1, 0, 0), &mut st), ControlOutcome::Ack);
        assert_eq!(
            go(setup(0x80, 8, 0, 0, 1), &mut st),
            ControlOutcome::Data(vec![1])
        );
        assert_eq!(
            go(setup(0x21, 0x0A, 0x0400, 0, 0), &mut st),
            ControlOutcome::Ack
        );
        assert_eq!(
            go(setup(0xA1, 0x02, 0, 0, 1), &mut st),
            ControlOutcome::Data(vec![4])
        );
        assert_eq!(go(setup(0x21, 0x0B, 0, 0, 0), &mut st), ControlOutcome::Ack);
        assert_eq!(
            go(setup(0xA1, 0x03, 0, 0, 1), &mut st),
            ControlOutcome::Data(vec![0])
        );
        assert_eq!(
            go(setup(0x80, 0, 0, 0, 2), &mut st),
            ControlOutcome::Data(vec![0, 0])
        );
        assert_eq!(
            go(setup(0x81, 0, 0, 0, 2), &mut st),
            ControlOutcome::Data(vec![0, 0])
        );
        assert_eq!(
            go(setup(0x82, 0, 0, 0x81, 2), &mut st),
            ControlOutcome::Data(vec![0, 0])
        );
        assert_eq!(go(setup(0x02, 1, 0, 0x81, 0), &mut st), ControlOutcome::Ack);
    }

    #[test]
    fn set_report_carries_a_ctaphid_packet() {
        let d = Descriptors::new(&DeviceConfig::new("1"));
        let data = [0xFFu8; 64];
        let out = handle(
            &d,
            &mut Ep0State::new(),
            &setup(0x21, 9, 0x0200, 0, 64),
            &data,
        );
        assert_eq!(out, ControlOutcome::Report(data));
        let out = handle(
            &d,
            &mut Ep0State::new(),
            &setup(0x21, 9, 0x0200, 0, 65),
            &[0; 65],
        );
        assert_eq!(out, ControlOutcome::Stall);
    }
}
