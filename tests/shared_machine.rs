//! softkey on a machine with other local users (SECURITY.md "Who can reach
//! the key"): on loopback only root (`sudo usbip attach`) and the user running
//! `serve` get in; another user's connections are closed at accept, so they
//! can neither use the key nor power-cycle it, nor crowd out its owner.
//!
//! These tests act as other users with `setpriv`, so they need root (CI runs
//! as root). Elsewhere they say so and pass without checking anything.
//! The other users' side is this same test binary, re-run as that user with
//! `SOFTKEY_TEST_CLIENT` set: see [`client_as_another_user`].

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{Server, as_user};
use softkey_conformance::Error;
use softkey_conformance::ctap2::{Ctap2, status};

/// The system user other local users are played by.
const NOBODY: u32 = 65534;
/// Another system user (`daemon` on Debian).
const DAEMON: u32 = 1;

/// This test binary, run as `uid`, doing `act` against `addr` (see
/// [`client_as_another_user`]).
fn other_user(uid: u32, act: &str, addr: SocketAddr) -> Command {
    let mut c = as_user(uid);
    c.arg(std::env::current_exe().unwrap())
        .args(["--exact", "client_as_another_user", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("SOFTKEY_TEST_CLIENT", format!("{act} {addr}"));
    c
}

fn run(mut c: Command) -> String {
    let out: Output = c.output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Not a test of its own: the other users' side, when `SOFTKEY_TEST_CLIENT`
/// is `import ADDR` (try to import the key; prints IMPORTED or REFUSED) or
/// `trickle N ADDR` (open N connections, send each one byte of a request,
/// hold them 5 s).
#[test]
fn client_as_another_user() {
    let Ok(task) = std::env::var("SOFTKEY_TEST_CLIENT") else {
        return;
    };
    let words: Vec<&str> = task.split_whitespace().collect();
    match words[..] {
        ["import", addr] => match Ctap2::connect(addr.parse().unwrap(), "1-1") {
            Ok(mut key) => {
                key.get_info().unwrap();
                println!("IMPORTED");
            }
            Err(e) => println!("REFUSED: {e}"),
        },
        ["trickle", n, addr] => {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut held = Vec::new();
            for _ in 0..n.parse::<usize>().unwrap() {
                if let Ok(mut s) = TcpStream::connect(addr) {
                    let _ = s.write_all(&[0x01]);
                    held.push(s);
                }
            }
            println!("OPENED {}", held.len());
            sleep(Duration::from_secs(5));
        }
        _ => panic!("unknown SOFTKEY_TEST_CLIENT {task:?}"),
    }
}

#[test]
#[cfg_attr(
    missing_root,
    ignore = "needs root, to act as other users with setpriv"
)]
#[cfg_attr(
    all(not(missing_root), missing_usbip),
    ignore = "needs usbip, not found (apt-get install usbip)"
)]
fn only_root_and_the_serving_user_can_attach() {
    // The key's owner here is `nobody`; the test itself is root.
    let server =
        Server::try_start_as(Some(NOBODY), &["--ephemeral", "--presence", "auto"], &[]).unwrap();
    // root (as `sudo usbip attach` is) gets in.
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.get_info().unwrap();
    drop(key);
    // So does the user running serve.
    let owner = run(other_user(NOBODY, "import", server.addr));
    assert!(owner.contains("IMPORTED"), "{owner}");
    // Another user is closed at accept, before any reply.
    let stranger = run(other_user(DAEMON, "import", server.addr));
    assert!(stranger.contains("REFUSED"), "{stranger}");
    assert!(
        server.wait_stderr(
            "refused a USB/IP connection from uid 1",
            Duration::from_secs(5)
        ),
        "serve names the refused uid; stderr:\n{}",
        server.stderr()
    );
    // The same for a client that is not ours: Debian's usbip, as `daemon`.
    let mut c = as_user(DAEMON);
    c.arg(common::system_tool("usbip")).args([
        "--tcp-port",
        &server.addr.port().to_string(),
        "list",
        "-r",
        "127.0.0.1",
    ]);
    let out = c.output().unwrap();
    assert!(!out.status.success(), "usbip list as daemon: {out:?}");
    // And the owner still gets in afterwards.
    assert!(run(other_user(NOBODY, "import", server.addr)).contains("IMPORTED"));
}

#[test]
#[cfg_attr(
    missing_root,
    ignore = "needs root, to act as other users with setpriv"
)]
fn another_user_cannot_power_cycle_a_blocked_pin_away() {
    let server = Server::ephemeral();
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.set_pin("2468").unwrap();
    // Three wrong PINs in a row: blocked until a power cycle.
    for expected in [
        status::PIN_INVALID,
        status::PIN_INVALID,
        status::PIN_AUTH_BLOCKED,
    ] {
        match key.try_pin("0000") {
            Err(Error::Ctap(code)) => assert_eq!(code, expected),
            other => panic!("wrong PIN answered {other:?}"),
        }
    }
    // Another user's import (a power cycle, were it let in) is refused...
    let stranger = run(other_user(NOBODY, "import", server.addr));
    assert!(stranger.contains("REFUSED"), "{stranger}");
    // ...and changed nothing: still blocked, the retries where they were.
    match key.try_pin("2468") {
        Err(Error::Ctap(code)) => assert_eq!(code, status::PIN_AUTH_BLOCKED),
        other => panic!("the right PIN answered {other:?}"),
    }
    assert_eq!(key.pin_retries().unwrap(), 5);
    // The owner's own re-attach is a power cycle: the right PIN works again.
    drop(key);
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.try_pin("2468").unwrap();
    assert_eq!(key.pin_retries().unwrap(), 8);
}

#[test]
fn silent_requests_get_no_cred_blob_and_no_large_blob_key() {
    // No other user needed: what any process of the owner's can ask
    // without a prompt, through the real binary and transport.
    use softkey_conformance::ctap2::cbor::{Value, int, text};
    use softkey_conformance::ctap2::{GetAssertionRequest, MakeCredentialRequest};
    let server = Server::ephemeral();
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let mut mc = MakeCredentialRequest::new([1; 32], "blob.example", b"u");
    mc.rk = Some(true);
    mc.extra = vec![(
        int(6),
        Value::Map(vec![
            (text("credBlob"), Value::Bytes(vec![7; 32])),
            (text("largeBlobKey"), Value::Bool(true)),
        ]),
    )];
    let att = key.make_credential(&mc).unwrap();
    assert!(att.large_blob_key.is_some());
    let wanted = vec![(
        int(4),
        Value::Map(vec![
            (text("credBlob"), Value::Bool(true)),
            (text("largeBlobKey"), Value::Bool(true)),
        ]),
    )];
    for up in [Some(false), None] {
        let mut ga = GetAssertionRequest::new("blob.example", [2; 32]);
        ga.up = up;
        ga.extra = wanted.clone();
        let a = key.get_assertion(&ga).unwrap();
        a.verify(att.public_key(), &[2; 32]).unwrap();
        if up == Some(false) {
            assert_eq!(a.flags() & 0x01, 0, "no UP flag");
            assert_eq!(a.auth_data.extensions, None, "no credBlob");
            assert_eq!(a.large_blob_key, None);
        } else {
            assert!(a.auth_data.extensions.is_some(), "credBlob with presence");
            assert_eq!(a.large_blob_key, att.large_blob_key);
        }
    }
}

#[test]
#[cfg_attr(
    missing_root,
    ignore = "needs root, to act as other users with setpriv"
)]
fn two_thousand_trickling_connections_do_not_stop_the_owner() {
    let server = Server::ephemeral();
    // 1,000 from another user, closed at accept...
    let mut stranger: Child = other_user(NOBODY, "trickle 1000", server.addr)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // ...and 1,000 from the owner's own processes, each a byte into its
    // request: at most 16 may be opening, older ones are evicted.
    let mut own = Vec::new();
    for _ in 0..1000 {
        if let Ok(mut s) = TcpStream::connect(server.addr) {
            let _ = s.write_all(&[0x01]);
            own.push(s);
        }
    }
    assert!(own.len() >= 900, "only {} connections opened", own.len());
    // The owner's real attach gets in at once, and works.
    let started = Instant::now();
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.get_info().unwrap();
    key.hid().ping(&[7; 100]).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "attach took {:?}",
        started.elapsed()
    );
    let _ = stranger.wait();
    assert!(
        server
            .stderr()
            .contains("refused a USB/IP connection from uid 65534"),
        "{}",
        server.stderr()
    );
    // One warning a few seconds, not a thousand lines.
    let warnings = server
        .stderr()
        .matches("refused a USB/IP connection")
        .count();
    assert!(warnings < 10, "{warnings} refusal warnings");
}
