//! USB/IP-level checks: DEVLIST, enumeration, control-pipe robustness, the pending
//! interrupt-IN URB, UNLINK semantics (usbip_protocol.rst), single import, re-attach.

use std::net::SocketAddr;
use std::time::Duration;

use super::{CheckReport, ensure, fail, find_busid, import, run};
use crate::Error;
use crate::ctaphid::CtapHid;
use crate::usbip::{STATUS_ECONNRESET, STATUS_EPIPE, UsbipDevice, devlist, get_descriptor_setup};

/// The device still answers CTAPHID: a fresh channel and a PING.
fn still_alive(dev: UsbipDevice) -> Result<(), Error> {
    let mut hid = CtapHid::init(dev)?;
    hid.set_timeouts(Duration::from_secs(3), Duration::from_secs(10));
    let echo = hid.ping(b"alive")?;
    ensure(echo == b"alive", || format!("PING echoed {echo:02x?}"))
}

/// DEVLIST answers with at least one device, one of which has a HID interface.
pub fn devlist_lists_fido_device(addr: SocketAddr) -> CheckReport {
    run("devlist", || {
        let list = devlist(addr)?;
        let Some(d) = list
            .iter()
            .find(|d| d.interfaces.iter().any(|i| i.0 == 0x03))
        else {
            return fail(format!("no exported device has a HID interface: {list:?}"));
        };
        ensure(!d.busid.is_empty(), || "empty bus id".into())?;
        ensure(usize::from(d.num_interfaces) == d.interfaces.len(), || {
            "interface count".into()
        })?;
        Ok(format!(
            "{} device(s); {} {:04x}:{:04x} interfaces {:?}",
            list.len(),
            d.busid,
            d.vendor_id,
            d.product_id,
            d.interfaces
        ))
    })
}

/// Linux-order enumeration succeeds; descriptors agree with the IMPORT record.
pub fn enumeration(addr: SocketAddr) -> CheckReport {
    run("enumeration", || {
        let dev = import(addr)?;
        let (x, d) = (dev.exported(), dev.device_descriptor());
        ensure(
            (x.vendor_id, x.product_id, x.bcd_device) == (d.vendor_id, d.product_id, d.bcd_device),
            || format!("IMPORT record {x:?} disagrees with the device descriptor {d:?}"),
        )?;
        ensure(
            x.configuration_value == dev.config().configuration_value,
            || "IMPORT bConfigurationValue differs from the configuration descriptor".into(),
        )?;
        ensure(d.bcd_usb >= 0x0110, || format!("bcdUSB {:#06x}", d.bcd_usb))?;
        let idle = dev.enumeration().set_idle_status;
        ensure(idle == 0 || idle == STATUS_EPIPE, || {
            format!("SET_IDLE status {idle}")
        })?;
        let s = dev.strings().clone();
        let detail = format!(
            "{:04x}:{:04x} manufacturer {:?} product {:?} serial {:?}, EP IN {:#04x} OUT {:#04x}, SET_IDLE {idle}",
            d.vendor_id,
            d.product_id,
            s.manufacturer,
            s.product,
            s.serial,
            dev.endpoint_in(),
            dev.endpoint_out()
        );
        dev.close()?;
        Ok(detail)
    })
}

/// Vendor and unknown standard requests STALL; GET_STATUS and a DEBUG descriptor request
/// (both sent by `lsusb -v`) are answered or stalled; the control pipe stays in step.
pub fn unsupported_control_stalls(addr: SocketAddr) -> CheckReport {
    run("control_stall", || {
        let mut dev = import(addr)?;
        let vendor = dev.control([0xC0, 0x01, 0, 0, 0, 0, 8, 0], &[], 8)?;
        ensure(vendor.status == STATUS_EPIPE, || {
            format!("vendor request: {vendor:?}")
        })?;
        let unknown = dev.control([0x80, 0xFF, 0, 0, 0, 0, 4, 0], &[], 4)?;
        ensure(unknown.status == STATUS_EPIPE, || {
            format!("bRequest 0xFF: {unknown:?}")
        })?;
        let debug = dev.control(get_descriptor_setup(0x80, 0x0A, 0, 0, 4), &[], 4)?;
        ensure(debug.status == STATUS_EPIPE || debug.status == 0, || {
            format!("DEBUG: {debug:?}")
        })?;
        let st = dev.control([0x80, 0x00, 0, 0, 0, 0, 2, 0], &[], 2)?;
        ensure(st.status == 0 && st.data.len() == 2, || {
            format!("GET_STATUS: {st:?}")
        })?;
        let again = dev.control(get_descriptor_setup(0x80, 0x01, 0, 0, 18), &[], 18)?;
        let first = dev.device_descriptor().clone();
        ensure(again.status == 0 && again.data.len() == 18, || {
            format!("re-read: {again:?}")
        })?;
        let reparsed = crate::usbip::DeviceDescriptor::parse(&again.data)?;
        ensure(reparsed == first, || {
            "device descriptor changed after the STALLs".into()
        })?;
        still_alive(dev)?;
        Ok(format!(
            "vendor/unknown STALL, DEBUG status {}, GET_STATUS {:02x?}",
            debug.status, st.data
        ))
    })
}

/// With nothing to say, the device keeps the IN URB pending (no empty completions).
pub fn in_urb_pending_while_idle(addr: SocketAddr) -> CheckReport {
    run("in_urb_pending_while_idle", || {
        let mut dev = import(addr)?;
        let seq = dev.pending_in_seqnum();
        if let Some(r) = dev.read_report(Duration::from_millis(300))? {
            return fail(format!("a report arrived while idle: {r:02x?}"));
        }
        ensure(dev.pending_in_seqnum() == seq, || {
            "the IN URB completed while idle".into()
        })?;
        dev.close()?;
        Ok("no IN completion within 300 ms".into())
    })
}

/// UNLINK of the pending IN URB is answered −ECONNRESET and the URB never completes.
pub fn unlink_pending_in(addr: SocketAddr) -> CheckReport {
    run("unlink_pending_in", || {
        let mut dev = import(addr)?;
        let status = dev.unlink_pending_in()?;
        ensure(status == STATUS_ECONNRESET, || {
            format!("RET_UNLINK status {status}, expected -104")
        })?;
        // A RET_SUBMIT for the unlinked URB would make `pump` fail.
        dev.pump(Duration::from_millis(500))?;
        dev.submit_in()?;
        still_alive(dev)?;
        Ok("RET_UNLINK -104, no later RET_SUBMIT, device usable after resubmit".into())
    })
}

/// DEVLIST on a second connection still answers while the device is attached.
pub fn devlist_while_attached(addr: SocketAddr) -> CheckReport {
    run("devlist_while_attached", || {
        let dev = import(addr)?;
        let list = devlist(addr)?;
        still_alive(dev)?;
        Ok(format!(
            "DEVLIST answered with {} device(s) while attached",
            list.len()
        ))
    })
}

/// A second IMPORT of an attached device is refused, and the first stays usable.
pub fn second_import_refused(addr: SocketAddr) -> CheckReport {
    run("second_import_refused", || {
        let busid = find_busid(addr)?;
        let first = UsbipDevice::import(addr, &busid)?;
        match UsbipDevice::import(addr, &busid) {
            Err(Error::ImportRefused(status)) => {
                still_alive(first)?;
                Ok(format!("second OP_REQ_IMPORT refused with status {status}"))
            }
            Ok(_) => fail("a second IMPORT of an attached device succeeded"),
            Err(e) => fail(format!("second IMPORT failed without a refusal: {e}")),
        }
    })
}

/// Detach (UNLINK + close) and attach again: the device works both times.
pub fn reattach(addr: SocketAddr) -> CheckReport {
    run("reattach", || {
        let busid = find_busid(addr)?;
        for round in 1..=5u8 {
            // `usbip detach` closes the socket and `usbip attach` may follow at
            // once; Linux does not retry a refused import, so neither do we.
            let dev = UsbipDevice::import(addr, &busid).map_err(|e| match e {
                Error::ImportRefused(status) => Error::protocol(format!(
                    "round {round}: IMPORT right after a detach refused (status {status})"
                )),
                other => other,
            })?;
            let mut hid = CtapHid::init(dev)?;
            hid.set_timeouts(Duration::from_secs(3), Duration::from_secs(10));
            let echo = hid.ping(&[round; 16])?;
            ensure(echo == [round; 16], || {
                format!("round {round}: bad PING echo")
            })?;
            hid.into_device().close()?;
        }
        Ok("attached, used and detached 5 times, each attach accepted the first time".into())
    })
}
