//! The terminal prompt on a real pseudo-terminal, driven as a person would:
//! `softkey serve --presence tty` runs inside a private tmux server, the test
//! reads the prompt with `capture-pane` and answers with `send-keys`, while
//! the conformance client sends the requests over USB/IP.
//!
//! Needs tmux (Debian/Ubuntu package `tmux`). Without it these tests are
//! reported as ignored, with that reason (build.rs), and CI fails.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::prompt::{HOSTILE_PROMPT, start_hostile_registration, start_zoe_registration};
use common::terminal::Terminal;
use softkey_conformance::ctap2::{Ctap2, status};
use softkey_conformance::usbip::UsbipDevice;

const PROMPT: &str = "\"shop.example\" asks to register as \"zoe\" (Zoe Z.)";

/// `softkey serve --ephemeral --presence tty` on a terminal of its own.
struct Pane {
    terminal: Terminal,
    addr: SocketAddr,
}

impl Pane {
    fn start(timeout_secs: u32) -> Self {
        let timeout = timeout_secs.to_string();
        let terminal = Terminal::run(
            "tty",
            &[
                "serve",
                "--ephemeral",
                "--presence",
                "tty",
                "--prompt-timeout",
                &timeout,
                "--listen",
                "127.0.0.1:0",
            ],
        );
        let line = terminal.wait_for("softkey: serving on ", Duration::from_secs(60));
        let rest = line.split("softkey: serving on ").nth(1).unwrap();
        let addr = rest.split_whitespace().next().unwrap().parse().unwrap();
        Self { terminal, addr }
    }

    fn screen(&self) -> String {
        self.terminal.screen()
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.terminal.wait_for(needle, timeout)
    }

    fn keys(&self, keys: &[&str]) {
        self.terminal.keys(keys);
    }
}

/// The countdown value shown on the answer line ("  Approve? [y/N] 27 s left").
fn countdown(line: &str) -> Option<u64> {
    let before = line.split(" s left").next()?;
    before.rsplit(' ').next()?.parse().ok()
}

/// Starts a registration and waits until the prompt shows it.
fn begin_registration(pane: &Pane) -> Ctap2<UsbipDevice> {
    let mut key = Ctap2::connect(pane.addr, "1-1").unwrap();
    start_zoe_registration(&mut key);
    pane.wait_for(PROMPT, Duration::from_secs(10));
    pane.wait_for("s left", Duration::from_secs(5));
    key
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn y_enter_approves_and_the_prompt_says_how_to_answer() {
    let pane = Pane::start(30);
    let mut key = begin_registration(&pane);
    let screen = pane.screen();
    assert!(
        screen.contains("Type y and Enter to approve; n or just Enter to deny."),
        "{screen}"
    );
    // A keystroke typed while the countdown redraws stays on the line.
    pane.keys(&["y"]);
    sleep(Duration::from_millis(1300));
    let line = pane.wait_for("s left", Duration::from_secs(1));
    assert!(line.trim_end().ends_with("s left y"), "{line:?}");
    pane.keys(&["Enter"]);
    let (code, body) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::SUCCESS, "approved registration succeeds");
    assert!(!body.is_empty());
    pane.wait_for("Approved.", Duration::from_secs(5));
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn n_enter_denies() {
    let pane = Pane::start(30);
    let mut key = begin_registration(&pane);
    pane.keys(&["n", "Enter"]);
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
    pane.wait_for("Denied.", Duration::from_secs(5));
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn names_with_terminal_escapes_are_shown_escaped_and_cannot_repaint_the_prompt() {
    let pane = Pane::start(30);
    let mut key = Ctap2::connect(pane.addr, "1-1").unwrap();
    start_hostile_registration(&mut key);
    // The terminal shows the escapes as text, on the prompt's own line...
    let line = pane.wait_for("evil.example", Duration::from_secs(10));
    assert!(line.contains(HOSTILE_PROMPT), "{line:?}");
    pane.wait_for("s left", Duration::from_secs(5));
    // ...and nothing on the screen reads as a prompt from another site.
    let screen = pane.screen();
    assert!(
        !screen
            .lines()
            .any(|l| l.trim_start().starts_with("\"github.com\" asks")),
        "{screen}"
    );
    pane.keys(&["n", "Enter"]);
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn a_line_typed_before_the_prompt_is_not_an_answer() {
    let pane = Pane::start(30);
    pane.keys(&["y", "Enter"]);
    sleep(Duration::from_millis(300));
    let mut key = begin_registration(&pane);
    sleep(Duration::from_millis(500));
    assert!(!pane.screen().contains("Approved."), "{}", pane.screen());
    pane.keys(&["n", "Enter"]);
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn no_answer_times_out_with_a_visible_countdown() {
    let pane = Pane::start(3);
    let mut key = begin_registration(&pane);
    let mut seen = BTreeSet::new();
    let mut answer_lines = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pane.screen().contains("No answer in time") {
        assert!(Instant::now() < deadline, "{}", pane.screen());
        let screen = pane.screen();
        let lines: Vec<&str> = screen.lines().filter(|l| l.contains("s left")).collect();
        answer_lines = answer_lines.max(lines.len());
        seen.extend(lines.iter().filter_map(|l| countdown(l)));
        sleep(Duration::from_millis(100));
    }
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::USER_ACTION_TIMEOUT);
    assert!(
        seen.len() >= 2,
        "the countdown must tick on the terminal, saw {seen:?}"
    );
    assert_eq!(answer_lines, 1, "the countdown updates one line in place");
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn cancel_from_the_client_closes_the_prompt_at_once() {
    let pane = Pane::start(30);
    let mut key = begin_registration(&pane);
    let started = Instant::now();
    key.hid().cancel().unwrap();
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::KEEPALIVE_CANCEL);
    assert!(started.elapsed() < Duration::from_secs(2));
    pane.wait_for("Cancelled by the client.", Duration::from_secs(2));
    // The key keeps working afterwards.
    assert!(key.get_info().is_ok());
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn ctrl_c_at_the_prompt_cancels_it_and_stops_cleanly() {
    let pane = Pane::start(30);
    let mut key = begin_registration(&pane);
    pane.keys(&["C-c"]);
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::KEEPALIVE_CANCEL);
    pane.wait_for("Cancelled: softkey is stopping.", Duration::from_secs(2));
    pane.wait_for("softkey: stopped (SIGINT)", Duration::from_secs(3));
    pane.wait_for("softkey exited: 0", Duration::from_secs(3));
}
