//! The relay over real sockets: a SOCK_SEQPACKET pair stands in for
//! `/dev/uhid` (one event per read and write, as uhid has), a Unix stream
//! for the client.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};

use super::*;
use crate::uhid::event::{EVENT_SIZE, rtype};

/// (the relay's end, the fake kernel's end)
fn fake_uhid() -> (File, File) {
    let (a, b) = socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    (File::from(a), File::from(b))
}

fn read_event(kernel: &mut File) -> Vec<u8> {
    let mut buf = vec![0u8; EVENT_SIZE + 100];
    let n = kernel.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn event_type(ev: &[u8]) -> u32 {
    u32::from_le_bytes(ev[0..4].try_into().unwrap())
}

fn output_event(report: &[u8; 64]) -> Vec<u8> {
    let mut ev = vec![0u8; EVENT_SIZE];
    ev[0] = 6;
    ev[5..69].copy_from_slice(report);
    ev[4100..4102].copy_from_slice(&65u16.to_le_bytes());
    ev[4102] = rtype::OUTPUT;
    ev
}

/// Starts `relay_connection` on a thread; returns the client's socket, the
/// fake kernel's end and the relay's result.
fn start() -> (UnixStream, File, mpsc::Receiver<io::Result<()>>) {
    let (client, relay_side) = UnixStream::pair().unwrap();
    let (uhid, kernel) = fake_uhid();
    let (done_tx, done) = mpsc::channel();
    let create = endpoint::create_event(&DeviceConfig::new(""), "softkey-uhid-relay", "uid1000");
    thread::spawn(move || {
        let _ = done_tx.send(relay_connection(relay_side, uhid, &create));
    });
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (client, kernel, done)
}

#[test]
fn creates_one_device_relays_both_ways_and_destroys_it_on_close() {
    let (mut client, mut kernel, done) = start();
    let create = read_event(&mut kernel);
    assert_eq!(create.len(), EVENT_SIZE);
    assert_eq!(event_type(&create), 11, "UHID_CREATE2 first");
    assert_eq!(&create[196..204], b"uid1000\0", "the uid names the device");

    // Host → client: an OUTPUT report arrives as exactly its 64 bytes.
    let report = [0x42u8; 64];
    kernel.write_all(&output_event(&report)).unwrap();
    let mut got = [0u8; 64];
    client.read_exact(&mut got).unwrap();
    assert_eq!(got, report);

    // Client → host: a frame sent in three pieces is one UHID_INPUT2.
    let frame: Vec<u8> = (0..64).collect();
    client.write_all(&frame[..10]).unwrap();
    client.write_all(&frame[10..63]).unwrap();
    thread::sleep(Duration::from_millis(50));
    client.write_all(&frame[63..]).unwrap();
    let input = read_event(&mut kernel);
    assert_eq!(event_type(&input), 12, "UHID_INPUT2");
    assert_eq!(&input[4..6], &[64, 0]);
    assert_eq!(&input[6..70], &frame[..]);

    // Feature requests never reach the client: the relay answers them.
    let mut get = vec![0u8; EVENT_SIZE];
    get[0] = 9;
    get[4] = 9;
    kernel.write_all(&get).unwrap();
    let reply = read_event(&mut kernel);
    assert_eq!(event_type(&reply), 10, "GET_REPORT_REPLY");
    assert_eq!(reply[4], 9);
    assert_ne!(reply[8], 0, "an error");

    // Closing mid-frame: the partial frame goes nowhere, the device goes.
    client.write_all(&[1, 2, 3]).unwrap();
    drop(client);
    let destroy = read_event(&mut kernel);
    assert_eq!(event_type(&destroy), 1, "UHID_DESTROY");
    assert!(done.recv_timeout(Duration::from_secs(5)).unwrap().is_ok());
}

#[test]
fn a_flood_is_paced_and_every_frame_arrives_in_order() {
    let (mut client, mut kernel, done) = start();
    read_event(&mut kernel);
    let frames = CLIENT_BURST as usize + 200;
    let writer = thread::spawn(move || {
        for i in 0..frames {
            client.write_all(&[(i % 256) as u8; 64]).unwrap();
        }
        client
    });
    for i in 0..frames {
        let ev = read_event(&mut kernel);
        assert_eq!(event_type(&ev), 12);
        assert_eq!(ev[6], (i % 256) as u8, "frame {i} in order");
    }
    drop(writer.join().unwrap());
    assert_eq!(event_type(&read_event(&mut kernel)), 1);
    assert!(done.recv_timeout(Duration::from_secs(5)).unwrap().is_ok());
}

#[test]
fn a_client_that_reads_nothing_is_closed_not_buffered_without_bound() {
    let (client, mut kernel, done) = start();
    read_event(&mut kernel);
    // The socket buffers some reports; the relay's queue then fills.
    let report = [7u8; 64];
    let mut ended = None;
    for _ in 0..100_000 {
        if kernel.write_all(&output_event(&report)).is_err() {
            break;
        }
        if let Ok(result) = done.try_recv() {
            ended = Some(result);
            break;
        }
    }
    let ended = ended.or_else(|| done.recv_timeout(Duration::from_secs(5)).ok());
    let error = ended.expect("the relay kept the client").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::TimedOut);
    drop(client);
}

/// A relay on `socket` for `allowed_uids`, run on a thread, whose devices
/// are made on fake uhid files; yields the fake kernel's end of each.
fn run_relay(socket: &Path, allowed_uids: Vec<u32>) -> mpsc::Receiver<File> {
    let relay = Relay::bind(RelayConfig {
        socket: socket.to_path_buf(),
        allowed_uids,
        uhid: "/nonexistent".into(),
    })
    .unwrap();
    let (kernels_tx, kernels) = mpsc::channel();
    thread::spawn(move || {
        let _ = relay.run_with(move || {
            let (uhid, kernel) = fake_uhid();
            kernels_tx.send(kernel).unwrap();
            Ok(uhid)
        });
    });
    kernels
}

#[test]
fn the_relay_serves_allowed_uids_only() {
    let dir = std::env::temp_dir().join(format!("softkey-relay-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Our own uid, as the relay will see it.
    let (a, _b) = UnixStream::pair().unwrap();
    let me = rustix::net::sockopt::socket_peercred(&a)
        .unwrap()
        .uid
        .as_raw();
    for (name, allowed, served) in [
        ("allowed", vec![me], true),
        ("refused", vec![me + 1], false),
    ] {
        let socket = dir.join(format!("{name}.sock"));
        let kernels = run_relay(&socket, allowed);
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        let mut client = UnixStream::connect(&socket).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        if served {
            let mut kernel = kernels.recv_timeout(Duration::from_secs(5)).unwrap();
            assert_eq!(event_type(&read_event(&mut kernel)), 11);
            kernel.write_all(&output_event(&[9; 64])).unwrap();
            let mut got = [0u8; 64];
            client.read_exact(&mut got).unwrap();
            assert_eq!(got, [9; 64]);
        } else {
            let mut byte = [0u8; 1];
            assert_eq!(client.read(&mut byte).unwrap(), 0, "closed at once");
            assert!(
                kernels.recv_timeout(Duration::from_millis(200)).is_err(),
                "no device for a refused uid"
            );
        }
    }
    // A per-uid bound: the fifth device of one uid is refused.
    let socket = dir.join("bounded.sock");
    let kernels = run_relay(&socket, vec![me]);
    // The fake kernels' ends are kept too: one closed would end its device.
    let mut held = Vec::new();
    for _ in 0..MAX_DEVICES_PER_UID {
        let client = UnixStream::connect(&socket).unwrap();
        let kernel = kernels.recv_timeout(Duration::from_secs(5)).unwrap();
        held.push((client, kernel));
    }
    let mut extra = UnixStream::connect(&socket).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(extra.read(&mut byte).unwrap(), 0, "over the bound: closed");
    drop(held);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stale_socket_is_replaced_and_other_files_are_left_alone() {
    let dir = std::env::temp_dir().join(format!("softkey-relay-stale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("uhid.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let config = RelayConfig {
        socket: socket.clone(),
        allowed_uids: vec![],
        uhid: "/nonexistent".into(),
    };
    drop(Relay::bind(config.clone()).unwrap());
    let file = dir.join("file");
    std::fs::write(&file, b"keep").unwrap();
    let err = Relay::bind(RelayConfig {
        socket: file.clone(),
        ..config.clone()
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    // A directory others may write to (where a symlink could be swapped in) is refused.
    let open_dir = dir.join("open");
    std::fs::create_dir_all(&open_dir).unwrap();
    std::fs::set_permissions(&open_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = Relay::bind(RelayConfig {
        socket: open_dir.join("uhid.sock"),
        ..config
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
    assert!(!open_dir.join("uhid.sock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
