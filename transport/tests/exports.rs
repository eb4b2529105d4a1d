//! Several devices on one server (the exported-device table): each listed
//! in DEVLIST with its own bus id, imported and driven on its own, added and
//! removed while the server runs; removing an imported device closes its
//! host's connection, as an unplug would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use softkey_transport::{DeviceConfig, ExportError, PeerPolicy, Server, ServerConfig};

/// The device with bus id `1-N`: busnum 1, devnum N + 1, its own serial.
fn device(n: u32) -> DeviceConfig {
    DeviceConfig {
        bus_id: format!("1-{n}"),
        devnum: n + 1,
        ..DeviceConfig::new(format!("LAB{n:04}"))
    }
}

/// The bus ids a DEVLIST reply lists, in order.
fn listed(addr: SocketAddr) -> Vec<String> {
    let r = devlist(addr);
    let count = be32(&r, 8) as usize;
    // Each record is 0x138 bytes plus 4 per interface (one here).
    (0..count)
        .map(|i| {
            let at = 12 + i * (0x138 + 4) + 0x100;
            let raw = &r[at..at + 32];
            let end = raw.iter().position(|&b| b == 0).unwrap();
            String::from_utf8(raw[..end].to_vec()).unwrap()
        })
        .collect()
}

#[test]
fn devices_come_and_go_and_each_is_its_own_key() {
    let server = Server::bind(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        device: DeviceConfig::new("UNUSED"),
        peers: PeerPolicy::Anyone,
    })
    .unwrap();
    let addr = server.local_addr();
    let exports = server.exports();
    let stop = server.shutdown_handle();
    let running = thread::spawn(move || server.serve());
    assert!(listed(addr).is_empty(), "a server may start with no device");

    let (one, two) = (Probe::default(), Probe::default());
    exports.add(device(1), TestHandler(one.clone())).unwrap();
    exports.add(device(2), TestHandler(two.clone())).unwrap();
    assert_eq!(
        exports.add(device(2), TestHandler(Probe::default())),
        Err(ExportError::BusIdTaken("1-2".into()))
    );
    assert_eq!(listed(addr), ["1-1", "1-2"]);
    assert_eq!(exports.bus_ids(), ["1-1", "1-2"]);

    // Both imported at once, each answering on its own.
    let (u1, status) = Usbip::import(addr, "1-1");
    assert_eq!(status, 0);
    let (u2, status) = Usbip::import(addr, "1-2");
    assert_eq!(status, 0);
    assert_ne!(u1.devid, u2.devid);
    let mut hid1 = Hid::new(u1);
    let mut hid2 = Hid::new(u2);
    let (c1, c2) = (hid1.init(), hid2.init());
    hid1.ping(c1, b"first key");
    hid2.ping(c2, b"second key");
    assert_eq!(one.attached.load(Ordering::SeqCst), 1);
    assert_eq!(two.attached.load(Ordering::SeqCst), 1);

    // Removing an imported device unplugs it: its connection closes, the
    // other stays.
    assert!(exports.remove("1-1"));
    assert!(!exports.remove("1-1"), "already gone");
    assert!(closes(&mut hid1.u.s));
    assert_eq!(listed(addr), ["1-2"]);
    let (mut again, status) = Usbip::import(addr, "1-1");
    assert_eq!(status, 1, "a removed device cannot be imported");
    assert!(closes(&mut again.s));
    hid2.ping(c2, b"still here");

    // Disconnecting keeps the device exported: the host may import it again.
    assert!(exports.disconnect("1-2"));
    assert!(closes(&mut hid2.u.s));
    // The connection's thread lets go of the device just after the close.
    let deadline = Instant::now() + Duration::from_secs(3);
    while exports.disconnect("1-2") {
        assert!(Instant::now() < deadline, "the closed host still holds 1-2");
        thread::sleep(Duration::from_millis(10));
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut hid2 = loop {
        let (u, status) = Usbip::import(addr, "1-2");
        if status == 0 {
            break Hid::new(u);
        }
        assert!(Instant::now() < deadline, "1-2 never attached again");
        thread::sleep(Duration::from_millis(10));
    };
    let c2 = hid2.init();
    hid2.ping(c2, b"back again");

    // The bus id is free again for a new device.
    exports
        .add(device(1), TestHandler(Probe::default()))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut hid1 = loop {
        let (u, status) = Usbip::import(addr, "1-1");
        if status == 0 {
            break Hid::new(u);
        }
        assert!(Instant::now() < deadline, "the new 1-1 never attached");
        thread::sleep(Duration::from_millis(10));
    };
    let c1 = hid1.init();
    hid1.ping(c1, b"a new key");

    stop.shutdown();
    running.join().unwrap().unwrap();
    assert_eq!(
        exports.add(device(3), TestHandler(Probe::default())),
        Err(ExportError::Stopping)
    );
}
