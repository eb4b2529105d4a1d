//! `--presence socket`, driven as a person would from a second terminal: a
//! client registers over USB/IP while the test runs the real `softkey
//! pending`, `approve` and `deny` commands as separate processes.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::prompt::{
    HOSTILE_PROMPT, hostile_registration, start_hostile_registration, start_zoe_registration,
    upneeded_keepalives,
};
use common::{Server, TempDir};
use serde_json::Value;
use softkey_conformance::ctap2::{Ctap2, status};
use softkey_conformance::usbip::UsbipDevice;

const PROMPT: &str = "softkey: \"shop.example\" asks to register as \"zoe\" (Zoe Z.). \
                      Run `softkey approve` or `softkey deny`";

fn socket_server(timeout_secs: &str) -> Server {
    Server::start(&[
        "--ephemeral",
        "--presence",
        "socket",
        "--prompt-timeout",
        timeout_secs,
    ])
}

/// `softkey ARGS…` in the server's session, as from another terminal.
fn run(server: &Server, args: &[&str]) -> Output {
    server.client().args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn pending_json(server: &Server) -> Vec<Value> {
    let out = run(server, &["pending", "--json"]);
    assert!(out.status.success(), "pending: {}", text(&out.stderr));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Starts a registration and waits until the prompt line appears.
fn begin_registration(server: &Server) -> Ctap2<UsbipDevice> {
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    start_zoe_registration(&mut key);
    assert!(
        server.wait_stderr(PROMPT, Duration::from_secs(10)),
        "serve must say who asks and how to answer; stderr:\n{}",
        server.stderr()
    );
    key
}

#[test]
fn pending_shows_the_request_and_approve_registers() {
    let server = socket_server("30");
    let mut key = begin_registration(&server);
    assert!(server.stderr().contains(&format!("{PROMPT} (30 s).")));

    let pending = pending_json(&server);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let request = &pending[0];
    assert_eq!(request["operation"], "register");
    assert_eq!(request["rp_id"], "shop.example");
    assert_eq!(request["user_name"], "zoe");
    assert_eq!(request["user_display_name"], "Zoe Z.");
    let left = request["seconds_left"].as_u64().unwrap();
    assert!((25..=30).contains(&left), "seconds_left {left}");
    let id = request["id"].as_u64().unwrap();

    // The text form names the request and how to answer it.
    let listing = text(&run(&server, &["pending"]).stdout);
    assert!(
        listing.contains(&format!("Request {id}: \"shop.example\" asks to register"))
            && listing.contains(&format!("`softkey approve {id}`")),
        "{listing}"
    );
    // `status` shows it too.
    let status = text(&run(&server, &["status"]).stdout);
    assert!(
        status.contains(&format!("Waiting:   request {id}:")),
        "{status}"
    );

    // A wrong id is refused with an explanation, and changes nothing.
    let wrong = run(&server, &["approve", &(id + 10).to_string()]);
    assert!(!wrong.status.success());
    let wrong_err = text(&wrong.stderr);
    assert!(
        wrong_err.contains(&format!("there is no request {}", id + 10))
            && wrong_err.contains(&format!("request {id} is waiting")),
        "{wrong_err}"
    );

    sleep(Duration::from_millis(350));
    let approved = run(&server, &["approve", &id.to_string()]);
    assert!(approved.status.success(), "{}", text(&approved.stderr));
    // The echo says which request was approved, as its prompt showed it.
    assert!(
        text(&approved.stdout).contains(&format!(
            "softkey: approved request {id}: \"shop.example\" asks to register as \"zoe\" (Zoe Z.)."
        )),
        "{}",
        text(&approved.stdout)
    );

    let (code, body) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, 0, "approved registration succeeds");
    assert!(!body.is_empty());
    let upneeded = upneeded_keepalives(&mut key);
    assert!(
        upneeded >= 2,
        "KEEPALIVE UPNEEDED every ≤100 ms while the request waits, got {upneeded}"
    );
    assert!(
        pending_json(&server).is_empty(),
        "answered requests leave the list"
    );
    assert!(server.wait_stderr("Approved (softkey approve).", Duration::from_secs(5)));
}

#[test]
fn pending_shows_hostile_names_escaped_and_json_keeps_them_exact() {
    let server = socket_server("30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    start_hostile_registration(&mut key);
    assert!(
        server.wait_stderr(HOSTILE_PROMPT, Duration::from_secs(10)),
        "serve's own line escapes them; stderr:\n{}",
        server.stderr()
    );
    let listing = text(&run(&server, &["pending"]).stdout);
    assert!(listing.contains(HOSTILE_PROMPT), "{listing}");
    assert!(
        !listing.contains('\x1b') && !listing.contains('\u{202e}'),
        "{listing:?}"
    );
    let status = text(&run(&server, &["status"]).stdout);
    assert!(status.contains(HOSTILE_PROMPT), "{status}");
    // For programs, the exact text (JSON-escaped), and the escaped prompt.
    let pending = pending_json(&server);
    let user = hostile_registration().user;
    assert_eq!(pending[0]["requester"], "rp");
    assert_eq!(pending[0]["user_name"].as_str(), user.name.as_deref());
    assert_eq!(
        pending[0]["user_display_name"].as_str(),
        user.display_name.as_deref()
    );
    assert_eq!(pending[0]["prompt"], HOSTILE_PROMPT);
    let id = pending[0]["id"].as_u64().unwrap();
    assert!(run(&server, &["deny", &id.to_string()]).status.success());
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
}

#[test]
fn deny_refuses_with_operation_denied() {
    let server = socket_server("30");
    let mut key = begin_registration(&server);
    // No id: the one waiting, named in the echo.
    let denied = run(&server, &["deny"]);
    assert!(denied.status.success(), "{}", text(&denied.stderr));
    let echo = text(&denied.stdout);
    assert!(
        echo.starts_with("softkey: denied request ")
            && echo.contains("\"shop.example\" asks to register"),
        "{echo}"
    );
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
}

#[test]
fn no_answer_times_out_and_then_nothing_waits() {
    let server = socket_server("2");
    let mut key = begin_registration(&server);
    assert!(server.stderr().contains("(2 s)."));
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::USER_ACTION_TIMEOUT);
    assert!(server.wait_stderr("No answer in time", Duration::from_secs(5)));
    let late = run(&server, &["approve"]);
    assert!(!late.status.success());
    assert!(
        text(&late.stderr).contains("nothing is waiting for approval"),
        "{}",
        text(&late.stderr)
    );
}

#[test]
fn cancel_empties_the_list_at_once() {
    let server = socket_server("30");
    let mut key = begin_registration(&server);
    let id = pending_json(&server)[0]["id"].as_u64().unwrap();
    let started = Instant::now();
    key.hid().cancel().unwrap();
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::KEEPALIVE_CANCEL);
    assert!(started.elapsed() < Duration::from_secs(5));
    // The request left the list before the key answered the cancel.
    assert!(pending_json(&server).is_empty());
    let late = run(&server, &["approve"]);
    assert!(!late.status.success());
    assert!(text(&late.stderr).contains("nothing is waiting for approval"));
    let by_id = run(&server, &["approve", &id.to_string()]);
    assert!(
        text(&by_id.stderr).contains(&format!("request {id} is no longer waiting")),
        "{}",
        text(&by_id.stderr)
    );
    assert!(server.wait_stderr("Cancelled by the client", Duration::from_secs(5)));
    // The key keeps working afterwards.
    assert!(key.get_info().is_ok());
}

#[test]
fn pending_wait_returns_when_a_request_arrives() {
    let server = socket_server("30");
    let waiter = server
        .client()
        .args(["pending", "--wait", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    sleep(Duration::from_millis(300));
    let mut key = begin_registration(&server);
    let out = waiter.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["rp_id"], "shop.example");
    assert!(run(&server, &["approve"]).status.success());
    assert_eq!(key.hid().finish_cbor().unwrap().0, 0);
}

#[test]
fn the_socket_is_private_to_the_user() {
    let server = socket_server("30");
    let socket = server.control_socket();
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    let mine = std::fs::metadata(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
        .uid();
    assert_eq!(meta.uid(), mine);
    assert_eq!(dir.uid(), mine);
}

#[test]
fn other_presence_modes_say_where_to_answer() {
    let mut server = Server::start(&["--ephemeral", "--presence", "tty"]);
    let out = run(&server, &["approve"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("this key asks on its terminal (--presence tty)"),
        "{}",
        text(&out.stderr)
    );
    // A request waiting at the terminal prompt: `pending` shows it and says
    // where to answer, never suggesting an `approve` that would be refused.
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    start_zoe_registration(&mut key);
    let deadline = Instant::now() + Duration::from_secs(10);
    let shown = loop {
        let out = run(&server, &["pending"]);
        let shown = text(&out.stdout);
        if shown.starts_with("Request ") {
            break shown;
        }
        assert!(Instant::now() < deadline, "nothing pending: {shown}");
        sleep(Duration::from_millis(50));
    };
    assert!(!shown.contains("softkey approve"), "{shown}");
    assert!(
        shown.contains("Answer it on the terminal running `softkey serve` (--presence tty)."),
        "{shown}"
    );
    server.type_line("n");
    assert_eq!(key.hid().finish_cbor().unwrap().0, status::OPERATION_DENIED);
}

#[test]
fn a_second_server_does_not_take_a_live_socket() {
    let dir = TempDir::new("shared-socket");
    let socket = dir.path().join("control.sock");
    let socket_arg = socket.display().to_string();
    let first = Server::start(&[
        "--ephemeral",
        "--presence",
        "socket",
        "--control-socket",
        &socket_arg,
    ]);
    // With --presence socket the clash is an error that says what to do.
    let err = Server::try_start(&[
        "--ephemeral",
        "--presence",
        "socket",
        "--control-socket",
        &socket_arg,
    ])
    .err()
    .expect("a second socket server must not start");
    assert!(
        err.contains("another softkey serve is running") && err.contains("--control-socket"),
        "{err}"
    );
    // Other modes run on without a control socket, with a warning.
    let second = Server::start(&[
        "--ephemeral",
        "--presence",
        "auto",
        "--control-socket",
        &socket_arg,
    ]);
    assert!(second.wait_stderr("running without a control socket", Duration::from_secs(5)));
    // The socket still belongs to the first server.
    let out = common::softkey()
        .args(["status", "--json", "--control-socket", &socket_arg])
        .output()
        .unwrap();
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pid"], first.pid());
}
