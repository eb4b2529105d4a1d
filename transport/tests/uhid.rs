//! `UhidDevice`, the uhid side of `softkey serve`, end to end without a
//! kernel: over a relay socket (a Unix stream pair, 64-byte reports) and
//! over a stand-in for `/dev/uhid` (a SOCK_SEQPACKET pair speaking uhid's
//! events), with the same test handler as the USB/IP tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use softkey_transport::uhid::event::EVENT_SIZE;
use softkey_transport::{DeviceConfig, UhidDevice};

use common::{BROADCAST, Probe, SLOW, TestHandler};

/// The host side of one report pipe.
trait Host {
    fn send(&mut self, report: &[u8; 64]);
    fn recv(&mut self) -> [u8; 64];
}

struct RelayHost(UnixStream);

impl Host for RelayHost {
    fn send(&mut self, report: &[u8; 64]) {
        self.0.write_all(report).unwrap();
    }
    fn recv(&mut self) -> [u8; 64] {
        let mut r = [0u8; 64];
        self.0.read_exact(&mut r).unwrap();
        r
    }
}

/// The kernel's side of `/dev/uhid`.
struct Kernel(File);

impl Kernel {
    fn read_event(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; EVENT_SIZE];
        let n = self.0.read(&mut buf).unwrap();
        buf.truncate(n);
        buf
    }
}

impl Host for Kernel {
    fn send(&mut self, report: &[u8; 64]) {
        // A hidraw write: report number 0, then the report.
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[0] = 6; // UHID_OUTPUT
        ev[5..69].copy_from_slice(report);
        ev[4100..4102].copy_from_slice(&65u16.to_le_bytes());
        ev[4102] = 1; // UHID_OUTPUT_REPORT
        self.0.write_all(&ev).unwrap();
    }
    fn recv(&mut self) -> [u8; 64] {
        let ev = self.read_event();
        assert_eq!(ev[0], 12, "UHID_INPUT2");
        assert_eq!(&ev[4..6], &[64, 0]);
        ev[6..70].try_into().unwrap()
    }
}

fn init_packet(cid: u32, cmd: u8, payload: &[u8]) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[0..4].copy_from_slice(&cid.to_be_bytes());
    p[4] = 0x80 | cmd;
    p[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[7..7 + payload.len()].copy_from_slice(payload);
    p
}

/// INIT on the broadcast channel; returns the new channel id.
fn init(host: &mut dyn Host) -> u32 {
    let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
    host.send(&init_packet(BROADCAST, 0x06, &nonce));
    let r = host.recv();
    assert_eq!(&r[0..4], &BROADCAST.to_be_bytes());
    assert_eq!(r[4], 0x86);
    assert_eq!(&r[7..15], &nonce);
    u32::from_be_bytes(r[15..19].try_into().unwrap())
}

/// PING, a CBOR request and a CANCELled one with its KEEPALIVEs, a second
/// channel told CHANNEL_BUSY meanwhile.
fn exercise(host: &mut dyn Host, probe: &Probe) {
    let cid = init(host);
    let other = init(host);
    assert_ne!(cid, other);

    host.send(&init_packet(cid, 0x01, b"ping"));
    let r = host.recv();
    assert_eq!(
        &r[0..7],
        &[&cid.to_be_bytes()[..], &[0x81, 0, 4]].concat()[..]
    );
    assert_eq!(&r[7..11], b"ping");

    host.send(&init_packet(cid, 0x10, &[0x04]));
    let r = host.recv();
    assert_eq!(r[4], 0x90);
    assert_eq!(&r[7..9], &[0x00, 0x04], "status 0 then the echoed byte");

    host.send(&init_packet(cid, 0x10, &[SLOW]));
    let started = Instant::now();
    let mut keepalives = Vec::new();
    while keepalives.len() < 4 {
        let r = host.recv();
        assert_eq!(r[4], 0xBB, "KEEPALIVE while the request runs");
        keepalives.push(r[7]);
    }
    assert!(
        keepalives.contains(&0x02),
        "UPNEEDED once the handler asks: {keepalives:?}"
    );
    host.send(&init_packet(other, 0x01, b"x"));
    let r = host.recv();
    let r = if r[4] == 0xBB { host.recv() } else { r };
    assert_eq!(
        (r[4], r[7]),
        (0xBF, 0x06),
        "ERR_CHANNEL_BUSY on the other channel"
    );
    host.send(&init_packet(cid, 0x11, &[]));
    let answer = loop {
        let r = host.recv();
        if r[4] != 0xBB {
            break r;
        }
    };
    assert_eq!((answer[4], answer[7]), (0x90, 0x2D), "KEEPALIVE_CANCEL");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(probe.cancelled.load(Ordering::SeqCst), 1);
    assert_eq!(
        probe.attached.load(Ordering::SeqCst),
        1,
        "one power-up: the plug-in"
    );
}

#[test]
fn a_key_over_the_relay_socket() {
    let (relay, host) = UnixStream::pair().unwrap();
    host.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let device = UhidDevice::relay_stream(relay).unwrap();
    let stop = device.shutdown_handle();
    let probe = Probe::default();
    let handler = TestHandler(probe.clone());
    let served = thread::spawn(move || device.run(&DeviceConfig::new("S"), handler));
    let mut host = RelayHost(host);
    exercise(&mut host, &probe);

    // A frame in pieces is one report; a graceful stop ends `run`.
    let p = init_packet(BROADCAST, 0x06, &[9; 8]);
    host.0.write_all(&p[..20]).unwrap();
    thread::sleep(Duration::from_millis(20));
    host.0.write_all(&p[20..]).unwrap();
    assert_eq!(&host.recv()[7..15], &[9; 8]);
    stop.shutdown_gracefully(Duration::from_secs(1));
    served.join().unwrap().unwrap();
}

#[test]
fn the_relay_going_away_ends_the_key_with_an_error() {
    let (relay, host) = UnixStream::pair().unwrap();
    let device = UhidDevice::relay_stream(relay).unwrap();
    let served =
        thread::spawn(move || device.run(&DeviceConfig::new("S"), TestHandler(Probe::default())));
    drop(host);
    assert!(served.join().unwrap().is_err());
}

#[test]
fn a_key_on_dev_uhid_itself() {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let mut kernel = Kernel(File::from(b));
    let device = UhidDevice::direct_file(File::from(a)).unwrap();
    let stop = device.shutdown_handle();
    let probe = Probe::default();
    let handler = TestHandler(probe.clone());
    let served = thread::spawn(move || device.run(&DeviceConfig::new("SERIAL1"), handler));
    let create = kernel.read_event();
    assert_eq!(create.len(), EVENT_SIZE);
    assert_eq!(create[0], 11, "UHID_CREATE2");
    assert_eq!(&create[196..204], b"SERIAL1\0", "the vault's serial number");
    // The kernel's bookkeeping events change nothing.
    for kind in [2u8, 4, 5, 4] {
        let mut ev = vec![0u8; EVENT_SIZE];
        ev[0] = kind;
        kernel.0.write_all(&ev).unwrap();
    }
    exercise(&mut kernel, &probe);
    stop.shutdown();
    served.join().unwrap().unwrap();
    assert_eq!(kernel.read_event()[0], 1, "UHID_DESTROY at the end");
}
