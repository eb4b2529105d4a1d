//! An attached device with an interrupt-IN URB outstanding and no traffic
//! must cost no CPU (no polling loop, no empty completions). Alone in its
//! own test binary so that only this server's threads are measured.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::time::Duration;

use common::*;

/// Context switches (voluntary + involuntary) of this process's server
/// threads (connection and worker threads are named `usbip-*`). A thread
/// blocked in `read` makes none; any polling loop makes one per wake-up.
#[cfg(target_os = "linux")]
fn server_wakeups() -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(path.join("comm")) else {
            continue;
        };
        if !comm.starts_with("usbip-") {
            continue;
        }
        let status = std::fs::read_to_string(path.join("status")).unwrap();
        for line in status.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap();
            }
        }
    }
    total
}

#[cfg(target_os = "linux")]
#[test]
fn attached_idle_device_uses_no_cpu() {
    let srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    hid.ping(cid, b"warm up");
    // `Hid` resubmitted an interrupt-IN URB after the reply: one is pending.
    let before = server_wakeups();
    assert!(before > 0, "server threads not found");
    assert!(
        hid.u.quiet_for(Duration::from_secs(1)),
        "no completion while idle"
    );
    let after = server_wakeups();
    // Blocking costs no wake-ups; a 10 ms poll would cost ~100.
    assert!(
        after - before <= 2,
        "server threads woke {} times idle",
        after - before
    );
    hid.ping(cid, b"still alive");
}
