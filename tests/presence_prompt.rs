//! The terminal prompt, driven as a person would: the test reads the prompt
//! the real binary prints and types the answer into its standard input.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::Server;
use common::prompt::{start_zoe_registration, upneeded_keepalives};
use softkey_conformance::ctap2::{Ctap2, status};
use softkey_conformance::usbip::UsbipDevice;

const PROMPT: &str = "\"shop.example\" asks to register as \"zoe\" (Zoe Z.)";

fn tty_server(timeout_secs: &str) -> Server {
    Server::start(&[
        "--ephemeral",
        "--presence",
        "tty",
        "--prompt-timeout",
        timeout_secs,
    ])
}

/// Starts a registration and waits until the prompt shows it.
fn begin_registration(server: &Server) -> Ctap2<UsbipDevice> {
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    start_zoe_registration(&mut key);
    assert!(
        server.wait_stderr(PROMPT, Duration::from_secs(10)),
        "the prompt must name the site, the user and the operation; stderr:\n{}",
        server.stderr()
    );
    key
}

#[test]
fn typing_y_approves_and_keepalives_say_upneeded_meanwhile() {
    let mut server = tty_server("30");
    let mut key = begin_registration(&server);
    sleep(Duration::from_millis(350));
    server.type_line("y");
    let (status, body) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, 0, "approved registration succeeds");
    assert!(!body.is_empty());
    let upneeded = upneeded_keepalives(&mut key);
    assert!(
        upneeded >= 2,
        "KEEPALIVE UPNEEDED every ≤100 ms while the prompt is open, got {upneeded}"
    );
    // The test reads stderr through a pipe on its own thread: wait for it.
    assert!(server.wait_stderr("Approved.", Duration::from_secs(5)));
}

#[test]
fn typing_n_denies() {
    let mut server = tty_server("30");
    let mut key = begin_registration(&server);
    server.type_line("n");
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::OPERATION_DENIED);
}

#[test]
fn no_answer_times_out() {
    let server = tty_server("1");
    let mut key = begin_registration(&server);
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::USER_ACTION_TIMEOUT);
    assert!(server.wait_stderr("No answer in time", Duration::from_secs(5)));
}

#[test]
fn cancel_closes_the_prompt_at_once() {
    let server = tty_server("30");
    let mut key = begin_registration(&server);
    let started = Instant::now();
    key.hid().cancel().unwrap();
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::KEEPALIVE_CANCEL);
    // Well before the 30 s prompt timeout: the prompt did not wait it out.
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(server.wait_stderr("Cancelled by the client", Duration::from_secs(5)));
    // The key keeps working on the same channel afterwards.
    assert!(key.get_info().is_ok());
}
