//! What keeps the server serving its owner on a shared machine: the attach
//! gate by uid, the cap on connections that have not imported, one deadline
//! for the whole opening phase, and WINKs that neither queue nor wait
//! behind a request.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::Ordering;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::*;
use softkey_transport::PeerPolicy;

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn the_gate_closes_connections_of_other_uids_before_reading_a_byte() {
    let stranger = my_uid().wrapping_add(4242);
    let srv = Running::start_with(PeerPolicy::LocalUids(vec![stranger]));
    let mut s = connect(srv.addr);
    s.write_all(&op_request(0x8005, None)).unwrap_or(());
    assert!(
        closes(&mut s),
        "a connection of a uid not allowed is closed"
    );
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert!(reply.is_empty(), "no DEVLIST for it: {reply:?}");
    // Its own user is served.
    let srv = Running::start_with(PeerPolicy::LocalUids(vec![0, my_uid()]));
    let reply = devlist(srv.addr);
    assert_eq!(be32(&reply, 8), 1, "one device");
    Usbip::attach(srv.addr);
}

#[test]
fn trickling_clients_cannot_keep_a_real_attach_out() {
    let srv = Running::start();
    // Far more connections than may be opening at once, each sending one
    // byte of a request now and then.
    let mut tricklers: Vec<_> = (0..64).map(|_| connect(srv.addr)).collect();
    for s in &mut tricklers {
        let _ = s.write_all(&[0x01]);
    }
    // A real import still gets in at once (the oldest opening ones are
    // evicted to make room).
    let started = Instant::now();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    hid.ping(cid, b"still here");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // At most the cap of the tricklers is still open; the rest were closed.
    let open = tricklers
        .iter_mut()
        .map(still_open)
        .filter(|&open| open)
        .count();
    assert!(open <= 16, "{open} tricklers still open");
}

/// Whether the server has not closed `s` (a read would block).
fn still_open(s: &mut std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut b = [0u8; 1];
    matches!(
        s.read(&mut b),
        Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}

#[test]
fn the_opening_phase_has_one_deadline_however_slowly_bytes_come() {
    let srv = Running::start();
    let mut s = connect(srv.addr);
    let request = op_request(0x8003, Some("1-1"));
    let started = Instant::now();
    // A byte every second: each read alone would be quick enough.
    for byte in &request {
        if s.write_all(&[*byte]).is_err() {
            break;
        }
        sleep(Duration::from_secs(1));
        if started.elapsed() > Duration::from_secs(14) {
            break;
        }
    }
    assert!(closes(&mut s), "dropped at the deadline");
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(16)).contains(&took),
        "closed after {took:?}, not at the 10 s deadline"
    );
}

#[test]
fn a_wink_flood_neither_queues_nor_holds_up_requests() {
    let srv = Running::start();
    // Showing a wink is slow (a terminal that blocks, say): 200 ms each.
    srv.probe.wink_ms.store(200, Ordering::SeqCst);
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    for _ in 0..200 {
        hid.send(cid, 0x08, &[]);
        assert_eq!(hid.recv().cmd, 0x08, "each WINK is answered at once");
    }
    // The next request is answered at once, not after 200 × 200 ms.
    let started = Instant::now();
    hid.send(cid, 0x10, &[0x04]);
    assert_eq!(hid.recv().payload, vec![0x00, 0x04]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    // The 200 WINKs were merged: a few shown, not 200 queued.
    sleep(Duration::from_millis(700));
    let shown = srv.probe.winks.load(Ordering::SeqCst);
    assert!((1..=5).contains(&shown), "{shown} winks shown");
}
