//! The FIDO HID device as `/dev/uhid` sees it, sans-IO: the one
//! `UHID_CREATE2` it is made with, and what each event from the kernel
//! means for it (the kernel's uhid documentation, `Documentation/hid/uhid.rst`).
//!
//! Both the relay (for an unprivileged `softkey serve`) and a `serve` that
//! opens `/dev/uhid` itself use it, so the device is the same either way:
//! the USB/IP device's report descriptor, VID, PID and name
//! (`usbip::descriptors`), 64-byte reports in and out (CTAP 2.1 §11.2.4),
//! and no report ids.

use super::event::{self, BUS_USB, Create2, EIO, EventError, KernelEvent, rtype};
use crate::ctaphid::{PACKET_SIZE, Packet};
use crate::usbip::descriptors::{DeviceConfig, REPORT_DESCRIPTOR};

/// What an event from the kernel asks of the device's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A 64-byte report from the host (a hidraw write) for the CTAPHID engine.
    Report(Packet),
    /// Write this event back to `/dev/uhid` (an answer the kernel waits for).
    Reply(Vec<u8>),
    /// Nothing to do.
    None,
}

/// `UHID_CREATE2` for a FIDO device described by `config`, with `phys` and
/// `uniq` as given (`uniq` is the serial number hosts see).
pub fn create_event(config: &DeviceConfig, phys: &str, uniq: &str) -> Vec<u8> {
    let name = format!("{} {}", config.manufacturer, config.product);
    event::create2(&Create2 {
        // usbhid names a device "manufacturer product"; so do we, so that
        // `fido2-token -L` shows the same key over uhid as over USB/IP.
        name: &name,
        phys,
        uniq,
        bus: BUS_USB,
        vendor: u32::from(config.vendor_id),
        product: u32::from(config.product_id),
        version: u32::from(config.bcd_device),
        country: 0,
        descriptor: &REPORT_DESCRIPTOR,
    })
}

/// Reads one event and says what to do. START, STOP, OPEN and CLOSE change
/// nothing: a real key is powered once, when it is plugged in, not each
/// time a program opens its hidraw node (docs/linux.md "The uhid transport").
pub fn handle_event(bytes: &[u8]) -> Result<Action, EventError> {
    Ok(match event::decode(bytes)? {
        KernelEvent::Output {
            rtype: rtype::OUTPUT,
            data,
        } => match output_report(data) {
            Some(report) => Action::Report(report),
            None => {
                tracing::debug!(len = data.len(), "uhid output report of the wrong shape");
                Action::None
            }
        },
        KernelEvent::Output { rtype, .. } => {
            tracing::debug!(rtype, "uhid output of an unexpected report type");
            Action::None
        }
        // No feature reports: the kernel waits for an answer (up to 5 s per
        // call), so a caller gets its error at once instead.
        KernelEvent::GetReport { id, .. } => Action::Reply(event::get_report_reply(id, EIO)),
        KernelEvent::SetReport { id, .. } => Action::Reply(event::set_report_reply(id, EIO)),
        other => {
            tracing::debug!(event = ?other, "uhid event");
            Action::None
        }
    })
}

/// The report in a hidraw write: the report number (0, as the descriptor
/// numbers no report) and at most 64 bytes, zero-padded as HID pads a short
/// report to its size. `None` for a numbered or oversized write.
pub fn output_report(data: &[u8]) -> Option<Packet> {
    let (&number, report) = data.split_first()?;
    if number != 0 || report.len() > PACKET_SIZE {
        return None;
    }
    let mut packet = [0u8; PACKET_SIZE];
    packet.get_mut(..report.len())?.copy_from_slice(report);
    Some(packet)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::uhid::event::EVENT_SIZE;

    fn output(data: &[u8], kind: u8) -> Vec<u8> {
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[0] = 6;
        ev[4..4 + data.len()].copy_from_slice(data);
        ev[4100..4102].copy_from_slice(&(data.len() as u16).to_le_bytes());
        ev[4102] = kind;
        ev
    }

    #[test]
    fn the_device_is_the_usbip_one() {
        let ev = create_event(&DeviceConfig::new("SERIAL"), "softkey", "SERIAL");
        assert_eq!(&ev[4..39], b"softkey softkey FIDO2 authenticator");
        assert_eq!(&ev[196..203], b"SERIAL\0");
        assert_eq!(&ev[264..266], &[0x09, 0x12]);
        assert_eq!(&ev[268..270], &[0x0A, 0x00]);
        assert_eq!(&ev[280..314], &REPORT_DESCRIPTOR);
    }

    #[test]
    fn hidraw_writes_become_reports() {
        let mut write = vec![0u8];
        write.extend_from_slice(&[0x11; 64]);
        assert_eq!(
            handle_event(&output(&write, rtype::OUTPUT)),
            Ok(Action::Report([0x11; 64]))
        );
        // Short: zero-padded.
        let Ok(Action::Report(p)) = handle_event(&output(&[0, 1, 2, 3], rtype::OUTPUT)) else {
            panic!("short report dropped");
        };
        assert_eq!(&p[..3], &[1, 2, 3]);
        assert!(p[3..].iter().all(|&b| b == 0));
        // Numbered, oversized, empty or a feature report: dropped.
        write[0] = 1;
        assert_eq!(
            handle_event(&output(&write, rtype::OUTPUT)),
            Ok(Action::None)
        );
        let long = [0u8; 66];
        assert_eq!(
            handle_event(&output(&long, rtype::OUTPUT)),
            Ok(Action::None)
        );
        assert_eq!(handle_event(&output(&[], rtype::OUTPUT)), Ok(Action::None));
        assert_eq!(
            handle_event(&output(&[0, 1], rtype::FEATURE)),
            Ok(Action::None)
        );
    }

    #[test]
    fn feature_requests_are_answered_with_an_error() {
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[0] = 9;
        ev[4] = 77;
        let Ok(Action::Reply(reply)) = handle_event(&ev) else {
            panic!("GET_REPORT not answered");
        };
        assert_eq!(reply, event::get_report_reply(77, EIO));
        ev[0] = 13;
        let Ok(Action::Reply(reply)) = handle_event(&ev) else {
            panic!("SET_REPORT not answered");
        };
        assert_eq!(reply, event::set_report_reply(77, EIO));
        ev[0] = 4;
        assert_eq!(handle_event(&ev), Ok(Action::None), "OPEN is no power-up");
    }
}
