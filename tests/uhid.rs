//! `softkey serve --transport uhid` and `softkey uhid-relay` as a user runs
//! them, without a kernel: the test plays the relay (a Unix socket that
//! speaks 64-byte reports) and checks the CLI's refusals. The real kernel
//! is in the guest suite (conformance/vm, case 15).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TempDir, send_signal, softkey};

fn init_packet(cid: u32, cmd: u8, payload: &[u8]) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[0..4].copy_from_slice(&cid.to_be_bytes());
    p[4] = 0x80 | cmd;
    p[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
    p[7..7 + payload.len()].copy_from_slice(payload);
    p
}

/// `softkey serve --transport uhid --ephemeral` whose relay is the test's `socket`, with its
/// control socket in `dir`.
fn serve_through(socket: &std::path::Path, dir: &std::path::Path) -> std::process::Child {
    serve_command(socket, dir)
        .args(["--transport", "uhid"])
        .spawn()
        .unwrap()
}

/// `softkey serve --ephemeral` with the test's `socket` as its relay, and no --transport.
fn serve_command(socket: &std::path::Path, dir: &std::path::Path) -> std::process::Command {
    let mut command = softkey();
    command
        .args(["serve", "--ephemeral", "--presence", "auto"])
        .arg("--uhid-relay")
        .arg(socket)
        .arg("--control-socket")
        .arg(dir.join("control.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The connection `serve` makes to the test's relay socket; fails at once if `serve` exits.
fn accept_serve(listener: &UnixListener, child: &mut std::process::Child) -> UnixStream {
    listener.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let stream = loop {
        match listener.accept() {
            Ok((stream, _)) => break stream,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
                    panic!("serve exited {status}: {err}");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("serve never connected to the relay: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
}

#[test]
fn serve_speaks_ctaphid_through_the_relay_socket_and_stops_on_sigterm() {
    let dir = TempDir::new("uhid-serve");
    let socket = dir.path().join("relay.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut child = serve_through(&socket, dir.path());
    let mut relay = accept_serve(&listener, &mut child);
    relay
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(
        line.trim_end(),
        "softkey: serving as a uhid device (made by the uhid relay, presence auto)"
    );

    // INIT on the broadcast channel, then getInfo on the channel it gave.
    relay
        .write_all(&init_packet(0xFFFF_FFFF, 0x06, &[1, 2, 3, 4, 5, 6, 7, 8]))
        .unwrap();
    let mut r = [0u8; 64];
    relay.read_exact(&mut r).unwrap();
    assert_eq!(r[4], 0x86, "INIT answered");
    assert_eq!(&r[7..15], &[1, 2, 3, 4, 5, 6, 7, 8]);
    let cid = u32::from_be_bytes(r[15..19].try_into().unwrap());
    relay.write_all(&init_packet(cid, 0x10, &[0x04])).unwrap();
    let answer = loop {
        relay.read_exact(&mut r).unwrap();
        if r[4] != 0xBB {
            break r;
        }
    };
    assert_eq!(&answer[0..4], &cid.to_be_bytes());
    assert_eq!(answer[4], 0x90, "a CBOR answer");
    assert_eq!(answer[7], 0x00, "getInfo succeeds");
    assert!(u16::from_be_bytes([answer[5], answer[6]]) > 100);

    send_signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "serve exited {status}: {err}");
    assert!(err.contains("softkey: stopped (SIGTERM)"), "{err}");
    // The connection (the device) ends with the process.
    let mut rest = Vec::new();
    relay.read_to_end(&mut rest).unwrap();
}

#[test]
fn the_configuration_file_can_choose_uhid() {
    let dir = TempDir::new("uhid-config");
    std::fs::create_dir_all(dir.path().join("softkey")).unwrap();
    std::fs::write(
        dir.path().join("softkey/config.toml"),
        "transport = \"uhid\"\n",
    )
    .unwrap();
    let socket = dir.path().join("relay.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // No --transport: only the file says uhid (--uhid-relay alone would be refused).
    let mut child = serve_command(&socket, dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .spawn()
        .unwrap();
    let relay = accept_serve(&listener, &mut child);
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("softkey: serving as a uhid device"),
        "{line}"
    );
    send_signal(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(relay);
}

#[test]
fn a_relay_that_closes_the_connection_ends_serve_with_a_hint() {
    let dir = TempDir::new("uhid-refused");
    let socket = dir.path().join("relay.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let child = serve_through(&socket, dir.path());
    // As the relay does for a uid not in --allow-user: close at once.
    drop(listener.accept().unwrap());
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-user"), "{err}");
}

#[test]
fn the_cli_refuses_what_cannot_work() {
    let dir = TempDir::new("uhid-cli");
    let missing = dir.path().join("missing.sock");
    let run = |args: &[&str]| {
        let out = softkey().args(args).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = missing.to_str().unwrap();
    let err = run(&[
        "serve",
        "--transport",
        "uhid",
        "--ephemeral",
        "--uhid-relay",
        missing,
    ]);
    assert!(err.contains("no uhid relay at"), "{err}");
    let err = run(&[
        "serve",
        "--transport",
        "uhid",
        "--ephemeral",
        "--allow-uid",
        "0",
    ]);
    assert!(err.contains("USB/IP settings"), "{err}");
    let err = run(&[
        "serve",
        "--transport",
        "uhid",
        "--ephemeral",
        "--uhid-relay",
        missing,
        "--uhid-device",
        "/dev/uhid",
    ]);
    assert!(err.contains("cannot be used with"), "{err}");
    let err = run(&["serve", "--ephemeral", "--uhid-relay", missing]);
    assert!(err.contains("need --transport uhid"), "{err}");
    let err = run(&["uhid-relay"]);
    assert!(err.contains("--allow-user"), "{err}");
    let err = run(&[
        "uhid-relay",
        "--allow-user",
        "0",
        "--uhid-device",
        missing,
        "--socket",
        missing,
    ]);
    assert!(err.contains("cannot open"), "{err}");
}
