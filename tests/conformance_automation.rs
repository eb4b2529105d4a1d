//! The FIDO Conformance Tools' automation endpoint (`softkey serve
//! --ephemeral --conformance-automation`), driven as the official tool
//! drives it, by a fake of its client: presence is given only when it POSTs
//! /conformance/userpresence, /conformance/powercycle drops the key's
//! volatile state as an unplug does, /conformance/results is printed.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, softkey};
use softkey_conformance::catalog::pin::{self, Protocol, permission};
use softkey_conformance::catalog::{Session, Target};
use softkey_conformance::ctap2::cbor::decode_canonical;
use softkey_conformance::ctap2::{MakeCredentialRequest, command};

/// One HTTP request as the tool sends it; the status and body.
fn post(endpoint: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(endpoint).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: localhost:3000\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).unwrap().parse().unwrap();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    (status, body)
}

fn automation_server() -> (Server, SocketAddr) {
    let server = Server::start(&["--ephemeral", "--conformance-automation", "127.0.0.1:0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(line) = server.next_stdout_line()
            && let Some(rest) = line.split("automation on http://").nth(1)
        {
            let addr = rest.split('/').next().unwrap().parse().unwrap();
            return (server, addr);
        }
    }
    panic!("serve did not say where the automation endpoint is");
}

fn session(server: &Server) -> Session {
    Session::new(
        Target::Usbip {
            addr: server.addr,
            busid: None,
        },
        |_| {},
    )
}

/// makeCredential's status, with a pinUvAuthParam from `token` if given.
fn make_credential(s: &mut Session, token: Option<&[u8]>) -> u8 {
    let mut req = MakeCredentialRequest::new([7; 32], "automation.example", b"u");
    if let Some(t) = token {
        req.extra
            .extend(pin::pin_uv_members(8, Protocol::Two, t, &[7; 32]));
    }
    let params = decode_canonical(&req.encode()).unwrap();
    s.send(command::MAKE_CREDENTIAL, Some(&params)).unwrap().0
}

#[test]
fn presence_waits_for_the_tool_and_a_power_cycle_drops_volatile_state() {
    let (server, endpoint) = automation_server();

    // A registration waits for the tool's userpresence, then completes.
    let mut s = session(&server);
    let started = Instant::now();
    let waiting = std::thread::spawn(move || {
        let status = make_credential(&mut s, None);
        (status, s)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!waiting.is_finished(), "the registration did not wait");
    assert_eq!(
        post(endpoint, "POST", "/conformance/userpresence", "").0,
        200
    );
    let (status, mut s) = waiting.join().unwrap();
    assert_eq!(status, 0, "{}", server.stderr());
    assert!(started.elapsed() >= Duration::from_millis(500));

    // A power cycle: the pinUvAuthToken of before is gone.
    assert_eq!(pin::set_pin(&mut s, Protocol::Two, "135790").unwrap(), 0);
    let token = pin::pin_token(
        &mut s,
        Protocol::Two,
        "135790",
        Some((permission::MAKE_CREDENTIAL, Some("automation.example"))),
    )
    .unwrap()
    .unwrap();
    assert_eq!(post(endpoint, "POST", "/conformance/powercycle", "").0, 200);
    assert_eq!(
        make_credential(&mut s, Some(&token)),
        0x33,
        "the token outlived the power cycle"
    );

    // Three wrong PINs block PIN entry until a power cycle, as on a real key.
    for _ in 0..3 {
        let _ = pin::pin_token(&mut s, Protocol::Two, "000000", None).unwrap();
    }
    assert_eq!(
        pin::pin_token(&mut s, Protocol::Two, "135790", None).unwrap(),
        Err(0x34)
    );
    assert_eq!(post(endpoint, "POST", "/conformance/powercycle", "").0, 200);
    assert!(
        pin::pin_token(&mut s, Protocol::Two, "135790", None)
            .unwrap()
            .is_ok()
    );

    // Reset right after a power cycle, approved by the tool.
    assert_eq!(post(endpoint, "POST", "/conformance/powercycle", "").0, 200);
    let resetting = std::thread::spawn(move || s.send(command::RESET, None).unwrap().0);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        post(endpoint, "POST", "/conformance/userpresence", "").0,
        200
    );
    assert_eq!(resetting.join().unwrap(), 0);
}

#[test]
fn results_are_printed_and_kept_and_unknown_paths_refused() {
    let (server, endpoint) = automation_server();
    let results = r#"{"allTestsSelected": true, "passedTestsCount": 3, "failedTestsCount": 1, "failedTests": ["Server-ServerAuthenticatorMakeCredential-Req-1 F-2"]}"#;
    assert_eq!(
        post(endpoint, "POST", "/conformance/results", results).0,
        200
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut said = String::new();
    while Instant::now() < deadline && !said.contains("conformance tool reports") {
        said = server.next_stdout_line().unwrap_or_default();
    }
    assert!(said.contains("3 passed, 1 failed"), "{said}");
    let (status, kept) = post(endpoint, "GET", "/conformance/results", "");
    assert_eq!(status, 200);
    assert!(kept.contains("failedTestsCount"));
    assert_eq!(
        post(endpoint, "POST", "/conformance/results", "not json").0,
        400
    );
    assert_eq!(post(endpoint, "POST", "/conformance/unknown", "").0, 404);
    // Nothing waits: no touch is banked for later.
    let started = Instant::now();
    assert_eq!(
        post(endpoint, "POST", "/conformance/userpresence", "").0,
        409
    );
    assert!(started.elapsed() >= Duration::from_secs(9));
}

#[test]
fn automation_needs_an_ephemeral_key() {
    let out = softkey()
        .args([
            "serve",
            "--conformance-automation",
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ephemeral"));
}
