//! The checks against the scripted fake server: the USB/IP-level ones pass against a
//! well-behaved device and fail against a naive one; `run_all` stays bounded.

use super::*;
use crate::testutil::{Mode, start};

fn assert_passes(r: CheckReport) {
    assert!(r.passed, "{r}");
}

#[test]
fn usbip_checks_pass_against_a_well_behaved_device() {
    let f = start(Mode::Good);
    assert_passes(usbip_checks::devlist_lists_fido_device(f.addr));
    assert_passes(usbip_checks::enumeration(f.addr));
    assert_passes(usbip_checks::unsupported_control_stalls(f.addr));
    assert_passes(usbip_checks::in_urb_pending_while_idle(f.addr));
    assert_passes(usbip_checks::unlink_pending_in(f.addr));
    assert_passes(usbip_checks::devlist_while_attached(f.addr));
    assert_passes(usbip_checks::second_import_refused(f.addr));
    assert_passes(usbip_checks::reattach(f.addr));
    assert_passes(ctaphid_checks::ping_1000(f.addr));
}

#[test]
fn eager_empty_completions_fail_the_idle_and_unlink_checks() {
    let f = start(Mode::EagerEmptyIn);
    let r = usbip_checks::in_urb_pending_while_idle(f.addr);
    assert!(!r.passed, "{r}");
    assert!(r.detail.contains("0 bytes"), "{r}");
    assert!(!usbip_checks::unlink_pending_in(f.addr).passed);
}

#[test]
fn error_checks_fail_against_an_echoing_device() {
    let f = start(Mode::Good);
    let r = ctaphid_checks::cid_zero(f.addr);
    assert!(!r.passed, "{r}");
    assert!(r.detail.contains("instead of ERROR"), "{r}");
    assert!(!ctap2_checks::get_info(f.addr).passed);
}

#[test]
fn nothing_listens_is_a_failed_report_not_a_panic() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let r = usbip_checks::devlist_lists_fido_device(addr);
    assert!(!r.passed);
    assert_eq!(r.name, "devlist");
}

#[test]
fn all_checks_have_unique_names_matching_their_reports() {
    let mut names: Vec<&str> = ALL.iter().map(|(n, _)| *n).collect();
    let f = start(Mode::Good);
    for (name, check) in &ALL[..8] {
        assert_eq!(check(f.addr).name, *name);
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ALL.len());
}
