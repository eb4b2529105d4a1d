//! The real `Server` on 127.0.0.1:0 driven by the raw USB/IP client of
//! `common`: enumeration, pending IN URBs, UNLINK, CTAPHID, keepalives,
//! CANCEL, attach exclusivity and malformed input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn devlist_describes_the_device_and_closes() {
    let srv = Running::start();
    let r = devlist(srv.addr);
    assert_eq!(r.len(), 12 + 0x138 + 4);
    assert_eq!(&r[..8], &[0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0]);
    assert_eq!(be32(&r, 8), 1);
    assert_eq!(&r[0x10C..0x110], b"1-1\0");
    assert_eq!(&r[0x138..0x13C], &[0x12, 0x09, 0x00, 0x0A]);
    assert_eq!(&r[0x144..0x148], &[3, 0, 0, 0], "HID interface");
    // Also while a client has the device attached.
    let _attached = Usbip::attach(srv.addr);
    assert_eq!(devlist(srv.addr).len(), r.len());
}

#[test]
fn enumeration_and_ctaphid_round_trip() {
    let srv = Running::start();
    let mut u = Usbip::attach(srv.addr);
    // Device descriptor, first 8 bytes then all of it (Linux enumeration).
    let (st, d) = u.control_in([0x80, 6, 0, 1, 0, 0, 8, 0], 64);
    assert_eq!((st, d.len()), (0, 8));
    let (_, d) = u.control_in([0x80, 6, 0, 1, 0, 0, 18, 0], 18);
    assert_eq!(&d[8..12], &[0x09, 0x12, 0x0A, 0x00]);
    let (_, c) = u.control_in([0x80, 6, 0, 2, 0, 0, 9, 0], 9);
    assert_eq!(c.len(), 9);
    let total = u16::from_le_bytes([c[2], c[3]]);
    let (_, c) = u.control_in([0x80, 6, 0, 2, 0, 0, 0xFF, 0], 255);
    assert_eq!(c.len(), total as usize);
    let (_, s0) = u.control_in([0x80, 6, 0, 3, 0, 0, 0xFF, 0], 255);
    assert_eq!(s0, [4, 3, 0x09, 0x04]);
    let (_, s3) = u.control_in([0x80, 6, 3, 3, 0x09, 0x04, 0xFF, 0], 255);
    let serial: Vec<u16> = s3[2..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(String::from_utf16(&serial).unwrap(), "TEST0001");
    assert_eq!(
        u.control_out([0, 9, 1, 0, 0, 0, 0, 0]),
        0,
        "SET_CONFIGURATION"
    );
    assert_eq!(u.control_out([0x21, 0x0A, 0, 0, 0, 0, 0, 0]), 0, "SET_IDLE");
    let (_, rd) = u.control_in([0x81, 6, 0, 0x22, 0, 0, 0x22, 0], 0x22);
    assert_eq!(&rd[..3], &[0x06, 0xD0, 0xF1]);
    assert_eq!(rd.len(), 34);
    // GET_STATUS and the DEBUG descriptor that `lsusb -v` asks for.
    assert_eq!(
        u.control_in([0x80, 0, 0, 0, 0, 0, 2, 0], 2),
        (0, vec![0, 0])
    );
    assert_eq!(
        u.control_in([0x80, 6, 0, 0x0A, 0, 0, 4, 0], 4),
        (-32, vec![])
    );
    assert_eq!(
        u.control_in([0xC0, 0x33, 0, 0, 0, 0, 4, 0], 4),
        (-32, vec![])
    );
    assert_eq!(attach_count(&srv, 1), 1);

    // An IN URB stays pending: nothing at all arrives while idle.
    let mut hid = Hid::new(u);
    assert!(hid.u.quiet_for(Duration::from_millis(300)));

    let cid = hid.init();
    hid.ping(cid, b"hello");
    let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    hid.ping(cid, &big);
    hid.send(cid, 0x10, &[0x04, 0xA0]);
    let m = hid.recv();
    assert_eq!(
        (m.cid, m.cmd, m.payload),
        (cid, 0x10, vec![0x00, 0x04, 0xA0])
    );
    hid.send(cid, 0x03, &[0x00, 0x03, 0x00, 0x00]);
    assert_eq!(hid.recv().payload, vec![0x00, 0x03, 0x00, 0x00, 0x90, 0x00]);
    hid.send(cid, 0x08, &[]);
    assert_eq!(hid.recv().cmd, 0x08);
    // Unknown command and a bad channel.
    hid.send(cid, 0x55, &[]);
    assert_eq!(hid.recv().payload, vec![0x01]);
    hid.send(0x0BAD_0BAD, 0x01, &[1]);
    assert_eq!(hid.recv().payload, vec![0x0B]);
    assert!(hid.u.quiet_for(Duration::from_millis(100)));
    assert_eq!(srv.probe.winks.load(Ordering::SeqCst), 1);
}

#[test]
fn unlink_of_pending_in_is_econnreset_and_final() {
    let srv = Running::start();
    let mut u = Usbip::attach(srv.addr);
    let pending = u.submit(1, true, 64, [0; 8], &[]);
    let unlink = u.unlink(pending);
    match u.reply() {
        Reply::Unlink { seq, status } => assert_eq!((seq, status), (unlink, -104)),
        other => panic!("{other:?}"),
    }
    u.is_in.remove(&pending);
    // A report is produced now; the unlinked URB must never carry it.
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&BROADCAST.to_be_bytes());
    p[4] = 0x86;
    p[6] = 8;
    let out = u.submit(1, false, 64, [0; 8], &p);
    match u.reply() {
        Reply::Submit { seq, status, .. } => assert_eq!((seq, status), (out, 0)),
        other => panic!("{other:?}"),
    }
    assert!(
        u.quiet_for(Duration::from_millis(200)),
        "no RET_SUBMIT for the unlinked URB"
    );
    let next = u.submit(1, true, 64, [0; 8], &[]);
    match u.reply() {
        Reply::Submit { seq, status, data } => {
            assert_eq!((seq, status, data.len()), (next, 0, 64));
            assert_eq!(data[4], 0x86);
        }
        other => panic!("{other:?}"),
    }
    // Unlink of a completed URB: status 0.
    let again = u.unlink(next);
    match u.reply() {
        Reply::Unlink { seq, status } => assert_eq!((seq, status), (again, 0)),
        other => panic!("{other:?}"),
    }
}

fn attach_eventually(addr: SocketAddr) -> Usbip {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (u, status) = Usbip::import(addr, "1-1");
        if status == 0 {
            return u;
        }
        assert!(Instant::now() < deadline, "device never freed");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn second_import_is_refused_and_disconnect_frees_the_device() {
    let srv = Running::start();
    let first = Usbip::attach(srv.addr);
    let (mut second, status) = Usbip::import(srv.addr, "1-1");
    assert_eq!(status, 1);
    assert!(closes(&mut second.s));
    let (mut unknown, status) = Usbip::import(srv.addr, "2-1");
    assert_eq!(status, 1);
    assert!(closes(&mut unknown.s));
    drop(first);
    let mut hid = Hid::new(attach_eventually(srv.addr));
    let cid = hid.init();
    hid.ping(cid, b"again");
    assert_eq!(attach_count(&srv, 2), 2);
}

#[test]
fn malformed_input_closes_only_that_connection() {
    let srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();

    let mut bad_op = connect(srv.addr);
    bad_op.write_all(&op_request(0x8007, None)).unwrap();
    assert!(closes(&mut bad_op));
    let mut bad_version = connect(srv.addr);
    bad_version
        .write_all(&[0x01, 0x06, 0x80, 0x05, 0, 0, 0, 0])
        .unwrap();
    assert!(closes(&mut bad_version));
    let mut garbage = connect(srv.addr);
    garbage.write_all(&[0xAB; 100]).unwrap();
    assert!(closes(&mut garbage));
    let mut short = connect(srv.addr);
    short.write_all(&[0x01]).unwrap();
    drop(short);
    hid.ping(cid, b"still served");

    // URB phase: an absurd transfer length closes the attached connection.
    let mut u = hid.u;
    let mut m = Vec::new();
    for v in [1u32, 99, DEVID, 0, 1, 0, 0xFFFF_FFF0, 0, 0, 0, 0, 0] {
        m.extend_from_slice(&v.to_be_bytes());
    }
    u.s.write_all(&m).unwrap();
    assert!(closes(&mut u.s));

    // The device is free again; garbage in the URB phase closes too.
    let mut u = attach_eventually(srv.addr);
    u.s.write_all(&[0x5A; 48]).unwrap();
    assert!(closes(&mut u.s));

    // Client leaves mid-URB (half a header).
    let mut u = attach_eventually(srv.addr);
    u.s.write_all(&[0, 0, 0, 1, 0, 0]).unwrap();
    drop(u);

    let mut hid = Hid::new(attach_eventually(srv.addr));
    let cid = hid.init();
    hid.ping(cid, b"served after all that");
}

#[test]
fn keepalives_while_waiting_and_cancel_ends_with_2d() {
    let srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    let sent = Instant::now();
    hid.send(cid, 0x10, &[SLOW]);
    let mut last = sent;
    let mut statuses = Vec::new();
    let mut gaps = Vec::new();
    while last.duration_since(sent) < Duration::from_millis(700) {
        let m = hid.recv();
        assert_eq!((m.cid, m.cmd), (cid, 0x3B), "keepalive");
        let now = Instant::now();
        gaps.push(now - last);
        last = now;
        statuses.push(m.payload[0]);
    }
    // ≤ 100 ms by design (80 ms period); the slack absorbs a loaded test machine.
    let worst = gaps.iter().max().unwrap();
    assert!(*worst <= Duration::from_millis(150), "gaps {gaps:?}");
    assert!(
        gaps[0] <= Duration::from_millis(120),
        "first keepalive {:?}",
        gaps[0]
    );
    assert_eq!(statuses[0], 1, "PROCESSING first");
    assert_eq!(
        *statuses.last().unwrap(),
        2,
        "UPNEEDED once the prompt is open"
    );

    // CANCEL: no reply of its own; the request ends with 0x2D.
    let cancelled_at = Instant::now();
    hid.send(cid, 0x11, &[]);
    let m = loop {
        let m = hid.recv();
        if m.cmd != 0x3B {
            break m;
        }
    };
    assert_eq!((m.cid, m.cmd, m.payload), (cid, 0x10, vec![0x2D]));
    assert!(cancelled_at.elapsed() < Duration::from_millis(500));
    assert!(
        hid.u.quiet_for(Duration::from_millis(300)),
        "no keepalive after the response"
    );
    assert_eq!(srv.probe.cancelled.load(Ordering::SeqCst), 1);
    // Channel busy check while the next slow request runs, from another channel.
    let other = hid.init();
    hid.send(cid, 0x10, &[SLOW]);
    hid.send(other, 0x01, &[1]);
    let m = loop {
        let m = hid.recv();
        if m.cmd != 0x3B {
            break m;
        }
    };
    assert_eq!((m.cid, m.cmd, m.payload), (other, 0x3F, vec![0x06]));
}

#[test]
fn disconnect_mid_request_cancels_it() {
    let srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    hid.send(cid, 0x10, &[SLOW]);
    assert_eq!(hid.recv().cmd, 0x3B);
    drop(hid);
    let deadline = Instant::now() + Duration::from_secs(3);
    while srv.probe.cancelled.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "in-flight request not cancelled");
        thread::sleep(Duration::from_millis(10));
    }
    let mut hid = Hid::new(attach_eventually(srv.addr));
    let cid = hid.init();
    hid.ping(cid, b"next client");
}

#[test]
fn shutdown_returns_promptly_with_a_client_attached() {
    let mut srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    hid.send(cid, 0x10, &[SLOW]);
    assert_eq!(hid.recv().cmd, 0x3B);
    let t = Instant::now();
    srv.stop.shutdown();
    srv.thread.take().unwrap().join().unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(closes(&mut hid.u.s));
    assert!(srv.stop.is_shutdown());
}

#[test]
fn graceful_shutdown_cancels_the_request_and_delivers_its_answer() {
    let mut srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    hid.send(cid, 0x10, &[SLOW]);
    assert_eq!(hid.recv().cmd, 0x3B);
    let stop = srv.stop.clone();
    let t = Instant::now();
    let stopper = thread::spawn(move || stop.shutdown_gracefully(Duration::from_secs(5)));
    // Keepalives may still arrive before the handler's answer.
    let answer = loop {
        let m = hid.recv();
        if m.cmd != 0x3B {
            break m;
        }
    };
    assert_eq!((answer.cid, answer.cmd), (cid, 0x10));
    assert_eq!(answer.payload, [0x2D], "the host gets the cancelled answer");
    stopper.join().unwrap();
    srv.thread.take().unwrap().join().unwrap().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(srv.probe.cancelled.load(Ordering::SeqCst), 1);
    assert!(closes(&mut hid.u.s));
}

#[test]
fn ping_round_trip_is_fast() {
    let srv = Running::start();
    let mut hid = Hid::new(Usbip::attach(srv.addr));
    let cid = hid.init();
    let mut times = Vec::new();
    for _ in 0..300 {
        let t = Instant::now();
        hid.ping(cid, &[0x5A; 16]);
        times.push(t.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "PING 16 B round trip: median {median:?}, p90 {:?}",
        times[times.len() * 9 / 10]
    );
    // Client and server share this process (debug build): generous bound that
    // still catches a Nagle delay (~40 ms) or a polling loop.
    assert!(median < Duration::from_millis(5), "median {median:?}");
}

/// How many times `attached()` ran, once it reached `expected` or 5 s passed.
/// It runs as the worker's first job (before any request it serves), not in
/// step with the IMPORT reply or with PING, which the connection thread answers.
fn attach_count(srv: &Running, expected: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = srv.probe.attached.load(Ordering::SeqCst);
        if n >= expected || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
