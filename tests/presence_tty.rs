//! The terminal prompt on a real pseudo-terminal, driven as a person would:
//! `softkey serve --presence tty` runs inside a private tmux server, the test
//! reads the prompt with `capture-pane` and answers with `send-keys`, while
//! the conformance client sends the requests over USB/IP.
//!
//! Needs tmux (Debian/Ubuntu package `tmux`). Without it these tests fail
//! with a message saying so: a silent skip would hide an untested prompt.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::TempDir;
use common::prompt::{HOSTILE_PROMPT, start_hostile_registration, start_zoe_registration};
use softkey_conformance::ctap2::{Ctap2, status};
use softkey_conformance::usbip::UsbipDevice;

const PROMPT: &str = "\"shop.example\" asks to register as \"zoe\" (Zoe Z.)";

/// `softkey serve` in a detached tmux session of its own tmux server.
struct Pane {
    dir: TempDir,
    socket: PathBuf,
    addr: SocketAddr,
}

impl Pane {
    fn start(timeout_secs: u32) -> Self {
        let dir = TempDir::new("tty");
        let socket = dir.path().join("tmux.sock");
        for sub in ["config", "runtime"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        // The pane stays after softkey exits so its last words can be read.
        let script = format!(
            "XDG_CONFIG_HOME='{config}' XDG_RUNTIME_DIR='{runtime}' \
             SOFTKEY_CONTROL_SOCKET='{runtime}/control.sock' \
             '{bin}' serve --ephemeral --presence tty --prompt-timeout {timeout_secs} \
             --listen 127.0.0.1:0; echo \"softkey exited: $?\"; sleep 600",
            config = dir.path().join("config").display(),
            runtime = dir.path().join("runtime").display(),
            bin = env!("CARGO_BIN_EXE_softkey"),
        );
        let mut pane = Self {
            socket,
            dir,
            addr: "0.0.0.0:0".parse().unwrap(),
        };
        let out = pane.tmux(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-s",
            "softkey",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        let line = pane.wait_for("softkey: serving on ", Duration::from_secs(60));
        let rest = line.split("softkey: serving on ").nth(1).unwrap();
        pane.addr = rest.split_whitespace().next().unwrap().parse().unwrap();
        pane
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let result = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            // Never talk to a tmux the tests themselves may run in.
            .env_remove("TMUX")
            .env("TMUX_TMPDIR", self.dir.path())
            .output();
        match result {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "tmux is not installed, and tests/presence_tty.rs drives the terminal prompt \
                 through it: install it (apt-get install tmux)"
            ),
            Err(e) => panic!("cannot run tmux: {e}"),
        }
    }

    /// The pane's text, scrollback included, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-500", "-t", "softkey"]);
        assert!(out.status.success(), "tmux capture-pane: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a line of the pane contains `needle`; returns that line.
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if let Some(line) = screen.lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear; the pane shows:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Types keys as tmux names them ("y", "Enter").
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "softkey"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        // Ends the session and with it softkey (SIGHUP).
        let _ = self.tmux(&["kill-server"]);
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
fn n_enter_denies() {
    let pane = Pane::start(30);
    let mut key = begin_registration(&pane);
    pane.keys(&["n", "Enter"]);
    let (code, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(code, status::OPERATION_DENIED);
    pane.wait_for("Denied.", Duration::from_secs(5));
}

#[test]
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
