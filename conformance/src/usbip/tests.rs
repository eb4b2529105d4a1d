//! UsbipDevice against the scripted fake server: enumeration order, report exchange,
//! pending IN, UNLINK, STALL, and every misbehaviour that must be an error.

use super::*;
use crate::testutil::{Mode, start};

const T: Duration = Duration::from_millis(500);

fn report(tag: u8) -> [u8; 64] {
    let mut r = [0u8; 64];
    r[0] = tag;
    r[63] = tag ^ 0xFF;
    r
}

#[test]
fn devlist_reads_records_and_interfaces() {
    let f = start(Mode::Good);
    let list = devlist(f.addr).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].busid, "1-1");
    assert_eq!(list[0].interfaces, vec![(3, 0, 0)]);
}

#[test]
fn import_enumerates_in_linux_order() {
    let f = start(Mode::Good);
    let d = UsbipDevice::import(f.addr, "1-1").unwrap();
    let setups = f.setups.lock().unwrap().clone();
    let expected: Vec<[u8; 8]> = vec![
        [0x80, 0x06, 0x00, 0x01, 0, 0, 64, 0],
        [0x80, 0x06, 0x00, 0x01, 0, 0, 18, 0],
        [0x80, 0x06, 0x00, 0x02, 0, 0, 9, 0],
        [0x80, 0x06, 0x00, 0x02, 0, 0, 41, 0],
        [0x80, 0x06, 0x00, 0x03, 0, 0, 255, 0],
        [0x80, 0x06, 0x02, 0x03, 0x09, 0x04, 255, 0],
        [0x80, 0x06, 0x01, 0x03, 0x09, 0x04, 255, 0],
        [0x80, 0x06, 0x03, 0x03, 0x09, 0x04, 255, 0],
        [0x00, 0x09, 0x01, 0, 0, 0, 0, 0],
        [0x21, 0x0A, 0, 0, 0, 0, 0, 0],
        [0x81, 0x06, 0x00, 0x22, 0, 0, 34, 0],
    ];
    assert_eq!(setups, expected);
    assert_eq!(d.strings().manufacturer.as_deref(), Some("Fake"));
    assert_eq!(d.strings().product.as_deref(), Some("Fake Key"));
    assert_eq!(d.strings().serial.as_deref(), Some("0001"));
    assert_eq!(d.device_descriptor().vendor_id, 0x1050);
    assert_eq!(
        (d.endpoint_in(), d.endpoint_out(), d.max_packet_size()),
        (0x81, 0x01, 64)
    );
    assert_eq!(d.report_info().usage_page, 0xF1D0);
    assert_eq!(d.report_descriptor().len(), 34);
    assert!(d.pending_in_seqnum().is_some());
    d.close().unwrap();
}

#[test]
fn report_round_trip_and_idle_in_stays_pending() {
    let f = start(Mode::Good);
    let mut d = UsbipDevice::import(f.addr, "1-1").unwrap();
    assert_eq!(d.read_report(Duration::from_millis(100)).unwrap(), None);
    for tag in 1..=3u8 {
        d.write_report(&report(tag)).unwrap();
        assert_eq!(d.read_report(T).unwrap(), Some(report(tag)));
        assert!(d.pending_in_seqnum().is_some(), "IN URB resubmitted");
    }
}

#[test]
fn unlink_of_pending_in_is_econnreset() {
    let f = start(Mode::Good);
    let mut d = UsbipDevice::import(f.addr, "1-1").unwrap();
    assert_eq!(d.unlink_pending_in().unwrap(), STATUS_ECONNRESET);
    assert_eq!(d.pending_in_seqnum(), None);
    d.pump(Duration::from_millis(100)).unwrap();
    d.write_report(&report(9)).unwrap();
    d.pump(Duration::from_millis(100)).unwrap();
    assert_eq!(d.queued_reports(), 0, "no IN URB was pending for the echo");
    assert_eq!(
        d.read_report(T).unwrap(),
        Some(report(9)),
        "delivered once resubmitted"
    );
}

#[test]
fn unsupported_control_request_stalls() {
    let f = start(Mode::Good);
    let mut d = UsbipDevice::import(f.addr, "1-1").unwrap();
    let r = d.control([0xC0, 0x55, 0, 0, 0, 0, 8, 0], &[], 8).unwrap();
    assert_eq!(
        r,
        ControlResult {
            status: STATUS_EPIPE,
            data: vec![]
        }
    );
    let r = d.control([0x80, 0x00, 0, 0, 0, 0, 2, 0], &[], 2).unwrap();
    assert_eq!(
        r,
        ControlResult {
            status: 0,
            data: vec![0, 0]
        }
    );
}

#[test]
fn second_import_is_refused() {
    let f = start(Mode::Good);
    let _a = UsbipDevice::import(f.addr, "1-1").unwrap();
    assert!(matches!(
        UsbipDevice::import(f.addr, "1-1"),
        Err(Error::ImportRefused(1))
    ));
    assert!(matches!(
        UsbipDevice::import(f.addr, "9-9"),
        Err(Error::ImportRefused(1))
    ));
}

fn misbehaves(mode: Mode) -> Error {
    let f = start(mode);
    let mut d = UsbipDevice::import(f.addr, "1-1").unwrap();
    let res = d
        .write_report(&report(1))
        .and_then(|()| d.read_report(T))
        .and_then(|_| d.pump(Duration::from_millis(200)));
    res.unwrap_err()
}

#[test]
fn unknown_seqnum_is_an_error() {
    let e = misbehaves(Mode::UnknownSeq);
    assert!(e.to_string().contains("unknown seqnum"), "{e}");
}

#[test]
fn double_answer_is_an_error() {
    let e = misbehaves(Mode::DoubleAnswer);
    assert!(e.to_string().contains("already answered"), "{e}");
}

#[test]
fn too_many_bytes_is_an_error() {
    let e = misbehaves(Mode::TooLong);
    assert!(
        e.to_string().contains("exceeds transfer_buffer_length"),
        "{e}"
    );
}

#[test]
fn empty_in_completion_is_an_error() {
    let e = misbehaves(Mode::EmptyIn);
    assert!(e.to_string().contains("0 bytes"), "{e}");
}

#[test]
fn completion_after_unlink_is_an_error() {
    let f = start(Mode::CompleteAfterUnlink);
    let mut d = UsbipDevice::import(f.addr, "1-1").unwrap();
    assert_eq!(d.unlink_pending_in().unwrap(), STATUS_ECONNRESET);
    let e = d.pump(Duration::from_millis(200)).unwrap_err();
    assert!(e.to_string().contains("unlinked"), "{e}");
}
