//! USB/IP as Linux speaks it (usbip_protocol.rst; Linux drivers/usb/usbip):
//! the crate's long-standing checks, for a USB/IP target only. A hidraw
//! target reaches its key through the kernel, which has done all this.

use std::net::SocketAddr;

use crate::catalog::{Check, Family, Verdict};
use crate::checks::{CheckReport, usbip_checks as old};

fn wrap(id: &str, sends: &str, expects: &str, check: fn(SocketAddr) -> CheckReport) -> Check {
    Check::in_family(
        Family::Usbip,
        id,
        "Linux Documentation/usb/usbip_protocol.rst",
        sends,
        expects,
        move |s| {
            let Some(addr) = s.target().usbip_addr() else {
                return Ok(Verdict::NotApplicable(
                    "the target is a hidraw node, not a USB/IP server".into(),
                ));
            };
            let report = check(addr);
            Ok(if report.passed {
                Verdict::Pass(report.detail)
            } else {
                Verdict::Fail(report.detail)
            })
        },
    )
}

pub fn checks() -> Vec<Check> {
    vec![
        wrap(
            "devlist",
            "OP_REQ_DEVLIST",
            "a FIDO HID device listed with its interface",
            old::devlist_lists_fido_device,
        ),
        wrap(
            "enumeration",
            "OP_REQ_IMPORT, then the descriptors a host reads",
            "a HID interface with a FIDO usage page and 64-byte reports",
            old::enumeration,
        ),
        wrap(
            "control-stall",
            "an unsupported control request",
            "a STALL (-EPIPE)",
            old::unsupported_control_stalls,
        ),
        wrap(
            "in-urb-pending-while-idle",
            "an interrupt-IN URB with nothing to send",
            "no completion until there is a report",
            old::in_urb_pending_while_idle,
        ),
        wrap(
            "unlink-pending-in",
            "USBIP_CMD_UNLINK of a pending IN URB",
            "RET_UNLINK with -ECONNRESET",
            old::unlink_pending_in,
        ),
        wrap(
            "devlist-while-attached",
            "OP_REQ_DEVLIST while another connection holds the device",
            "the device still listed",
            old::devlist_while_attached,
        ),
        wrap(
            "second-import-refused",
            "a second OP_REQ_IMPORT of an imported device",
            "a non-zero status",
            old::second_import_refused,
        ),
        wrap(
            "reattach",
            "an import, a disconnect, another import",
            "the second import works",
            old::reattach,
        ),
    ]
}
