//! The conformance suite against the real binary, and malformed input on one
//! connection while another client keeps being served.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Server;
use softkey_conformance::checks::run_all;
use softkey_conformance::ctap2::{Ctap2, GetAssertionRequest, MakeCredentialRequest};

#[test]
fn every_conformance_check_passes() {
    let server = Server::ephemeral();
    let reports = run_all(server.addr);
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.to_string())
        .collect();
    for report in &reports {
        println!("{report}");
    }
    assert!(
        reports.len() >= 20,
        "the suite shrank: {} checks",
        reports.len()
    );
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
}

/// Sends `bytes` on a fresh connection and returns what came back before the
/// server closed it (or 2 s passed).
fn garbage_exchange(server: &Server, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let _ = stream.write_all(bytes);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

fn op_request(code: u16, version: u16, busid: &str) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    if code == 0x8003 {
        let mut id = [0u8; 32];
        id[..busid.len()].copy_from_slice(busid.as_bytes());
        out.extend_from_slice(&id);
    }
    out
}

#[test]
fn malformed_usbip_input_is_refused_while_another_client_is_served() {
    let server = Server::ephemeral();
    // A legitimate client holds the device and registers a credential.
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let att = key
        .make_credential(&MakeCredentialRequest::new([3; 32], "a.example", b"u"))
        .unwrap();

    // Unknown op code, wrong version, unknown bus id, plain garbage, an
    // import refused because the device is in use: none may panic the server
    // or disturb the attached client.
    let unknown_op = garbage_exchange(&server, &op_request(0x8077, 0x0111, ""));
    assert!(unknown_op.is_empty(), "unknown op: closed without a reply");
    let _ = garbage_exchange(&server, &op_request(0x8005, 0x0999, ""));
    let unknown_bus = garbage_exchange(&server, &op_request(0x8003, 0x0111, "9-9"));
    assert_eq!(
        unknown_bus.get(4..8),
        Some(&[0, 0, 0, 1][..]),
        "unknown bus id: status 1"
    );
    let busy = garbage_exchange(&server, &op_request(0x8003, 0x0111, "1-1"));
    assert_eq!(
        busy.get(4..8),
        Some(&[0, 0, 0, 1][..]),
        "second import: status 1"
    );
    let _ = garbage_exchange(&server, &[0xFF; 100]);
    let _ = garbage_exchange(&server, &[]);

    // The attached client still works.
    let mut get = GetAssertionRequest::new("a.example", [4; 32]);
    get.allow_list = vec![att.credential_id().to_vec()];
    key.get_assertion(&get)
        .unwrap()
        .verify(att.public_key(), &[4; 32])
        .unwrap();

    // A client that imports and then sends a URB with an absurd transfer
    // length is dropped, and the device is free for the next one.
    drop(key);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    stream
        .write_all(&op_request(0x8003, 0x0111, "1-1"))
        .unwrap();
    let mut reply = [0u8; 8 + 0x138];
    stream.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[4..8], &[0, 0, 0, 0], "import accepted");
    let mut submit = vec![0u8; 48];
    submit[3] = 1; // CMD_SUBMIT
    submit[7] = 1; // seqnum
    submit[12..16].copy_from_slice(&(1u32 << 16 | 2).to_be_bytes()); // devid busnum 1, devnum 2
    submit[19] = 1; // direction IN
    submit[23] = 1; // ep 1
    submit[24..28].copy_from_slice(&0x7FFF_FFFFu32.to_be_bytes()); // transfer_buffer_length
    stream.write_all(&submit).unwrap();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "a hostile URB gets no completion, the connection closes"
    );
    let mut key = Ctap2::connect(server.addr, "1-1").expect("the device is free again");
    key.get_info().unwrap();
}

#[test]
fn attach_right_after_detach_succeeds_first_time_twenty_times() {
    use softkey_conformance::usbip::UsbipDevice;
    let server = Server::ephemeral();
    for cycle in 0..20 {
        // `usbip detach` closes the socket; `usbip attach` may follow at
        // once, before the server has read the EOF. No retries here.
        let device = UsbipDevice::import(server.addr, "1-1")
            .unwrap_or_else(|e| panic!("attach {cycle} refused: {e}"));
        let mut hid = softkey_conformance::ctaphid::CtapHid::init(device).unwrap();
        assert_eq!(hid.ping(b"cycle").unwrap(), b"cycle");
        hid.into_device().close().unwrap();
    }
}
