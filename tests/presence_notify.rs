//! The desktop-notification prompt, driven as a person would: a private
//! `dbus-daemon` session bus, a notification server on it that records what
//! it shows, and clicks on its Approve / Deny buttons, against the real
//! `softkey serve --presence notify` and a client over USB/IP.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;
#[path = "common/notification_server.rs"]
mod notification_server;

use std::io::Read;
use std::process::Stdio;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::prompt::{
    HOSTILE_PROMPT, start_hostile_registration, start_zoe_registration, upneeded_keepalives,
};
use common::{Server, TempDir, softkey};
use notification_server::{NotificationServer, SessionBus, Shown};
use softkey_conformance::ctap2::{Ctap2, status};
use softkey_conformance::usbip::UsbipDevice;

const FALLBACK: &str = "no desktop notification server with action buttons on the session bus";

/// A private bus with a notification server on it.
fn desktop(name: &str) -> (SessionBus, NotificationServer) {
    let bus = SessionBus::start(name);
    let notifications = NotificationServer::start(&bus);
    (bus, notifications)
}

fn notify_server(bus: &SessionBus, timeout_secs: &str) -> Server {
    Server::try_start_with_env(
        &[
            "--ephemeral",
            "--presence",
            "notify",
            "--prompt-timeout",
            timeout_secs,
        ],
        &bus.env(),
    )
    .unwrap_or_else(|stderr| panic!("softkey serve did not start; stderr:\n{stderr}"))
}

/// Starts a registration and waits for notification number `nth` (from 1).
fn begin_registration(
    server: &Server,
    notifications: &NotificationServer,
    key: &mut Ctap2<UsbipDevice>,
    nth: usize,
) -> Shown {
    start_zoe_registration(key);
    notifications
        .wait_shown(nth, Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "no notification was shown; serve's stderr:\n{}",
                server.stderr()
            )
        })
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn approve_button_approves_and_the_notification_names_site_and_user() {
    let (bus, notifications) = desktop("notify-approve");
    let server = notify_server(&bus, "30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let shown = begin_registration(&server, &notifications, &mut key, 1);
    assert_eq!(shown.app_name, "softkey");
    assert_eq!(shown.summary, "softkey: register with \"shop.example\"?");
    assert!(
        shown
            .body
            .contains("\"shop.example\" asks to register as \"zoe\" (Zoe Z.)"),
        "the body names the site, the user and the operation: {:?}",
        shown.body
    );
    assert_eq!(shown.actions, ["approve", "Approve", "deny", "Deny"]);
    assert_eq!(shown.urgency, Some(2), "critical urgency");
    assert!(server.wait_stderr(
        "Approve or deny it in the desktop notification",
        Duration::from_secs(5)
    ));

    // A click on the body is not an approval: the request keeps waiting.
    notifications.invoke(shown.id, "default");
    sleep(Duration::from_millis(350));
    assert!(!server.stderr().contains("Approved."));

    notifications.click(shown.id, "approve");
    let (status, body) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, 0, "approved registration succeeds");
    assert!(!body.is_empty());
    let upneeded = upneeded_keepalives(&mut key);
    assert!(
        upneeded >= 2,
        "KEEPALIVE UPNEEDED every ≤100 ms while the notification is open, got {upneeded}"
    );
    assert!(server.wait_stderr("Approved.", Duration::from_secs(5)));

    // The next request gets its own notification; the answers to the first
    // one (its click, its close) do not answer it.
    let second = begin_registration(&server, &notifications, &mut key, 2);
    assert_ne!(second.id, shown.id);
    sleep(Duration::from_millis(200));
    notifications.click(second.id, "deny");
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::OPERATION_DENIED);
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn hostile_names_are_escaped_in_the_notification() {
    let (bus, notifications) = desktop("notify-hostile");
    let server = notify_server(&bus, "30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    start_hostile_registration(&mut key);
    let shown = notifications
        .wait_shown(1, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no notification; stderr:\n{}", server.stderr()));
    assert_eq!(shown.summary, "softkey: register with \"evil.example\"?");
    assert!(shown.body.contains(HOSTILE_PROMPT), "{:?}", shown.body);
    assert!(!shown.body.contains('\x1b') && !shown.body.contains('\u{202e}'));
    notifications.click(shown.id, "deny");
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::OPERATION_DENIED);
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn deny_button_denies() {
    let (bus, notifications) = desktop("notify-deny");
    let server = notify_server(&bus, "30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let shown = begin_registration(&server, &notifications, &mut key, 1);
    notifications.click(shown.id, "deny");
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::OPERATION_DENIED);
    assert!(server.wait_stderr("Denied.", Duration::from_secs(5)));
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn dismissing_the_notification_denies() {
    let (bus, notifications) = desktop("notify-dismiss");
    let server = notify_server(&bus, "30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let shown = begin_registration(&server, &notifications, &mut key, 1);
    notifications.dismiss(shown.id);
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::OPERATION_DENIED);
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn no_answer_times_out_and_closes_the_notification() {
    let (bus, notifications) = desktop("notify-timeout");
    let server = notify_server(&bus, "2");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let started = Instant::now();
    let shown = begin_registration(&server, &notifications, &mut key, 1);
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::USER_ACTION_TIMEOUT);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(10),
        "timed out after {elapsed:?}"
    );
    assert!(
        notifications.wait_closed(shown.id, Duration::from_secs(2)),
        "the timed-out notification must be closed"
    );
    assert!(server.stderr().contains("No answer in time"));
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn cancel_closes_the_notification_at_once() {
    let (bus, notifications) = desktop("notify-cancel");
    let server = notify_server(&bus, "30");
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let shown = begin_registration(&server, &notifications, &mut key, 1);
    let started = Instant::now();
    key.hid().cancel().unwrap();
    assert!(
        notifications.wait_closed(shown.id, Duration::from_secs(2)),
        "CANCEL must close the notification"
    );
    let closed_after = started.elapsed();
    let (status, _) = key.hid().finish_cbor().unwrap();
    assert_eq!(status, status::KEEPALIVE_CANCEL);
    assert!(
        closed_after < Duration::from_millis(500),
        "closed {closed_after:?} after the cancel"
    );
    assert!(server.wait_stderr("Cancelled by the client", Duration::from_secs(5)));
    // The key keeps working on the same channel afterwards.
    assert!(key.get_info().is_ok());
}

/// Runs `softkey serve --presence notify` expecting it to refuse to start:
/// its exit status and standard error.
fn serve_refuses(env: &[(String, String)]) -> (std::process::ExitStatus, String) {
    // A private runtime dir: the control socket and zbus's fallback bus
    // path must never be the user's own.
    let runtime_dir = TempDir::new("notify-runtime");
    let mut child = softkey()
        .env("XDG_RUNTIME_DIR", runtime_dir.path())
        .env_remove("SOFTKEY_CONTROL_SOCKET")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args([
            "serve",
            "--ephemeral",
            "--presence",
            "notify",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running without a usable notification server");
        }
        sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

fn assert_fallback_advice(stderr: &str) {
    assert!(stderr.contains(FALLBACK), "stderr:\n{stderr}");
    assert!(
        stderr.contains("--presence tty") && stderr.contains("--presence socket"),
        "the message says what to use instead; stderr:\n{stderr}"
    );
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn a_bus_without_a_notification_server_is_refused_with_advice() {
    let bus = SessionBus::start("notify-none");
    let (status, stderr) = serve_refuses(&bus.env());
    assert!(!status.success());
    assert_fallback_advice(&stderr);
    assert!(
        stderr.contains("org.freedesktop.Notifications"),
        "stderr:\n{stderr}"
    );
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon, not found (apt-get install dbus-daemon)"
)]
fn a_server_without_action_buttons_is_refused_with_advice() {
    let bus = SessionBus::start("notify-noactions");
    let _notifications = NotificationServer::with_capabilities(&bus, &["body"]);
    let (status, stderr) = serve_refuses(&bus.env());
    assert!(!status.success());
    assert_fallback_advice(&stderr);
    assert!(
        stderr.contains("fake-notifyd"),
        "names the server: {stderr}"
    );
}

#[test]
fn no_session_bus_is_refused_with_advice() {
    let dir = TempDir::new("notify-nobus");
    let env = [(
        "DBUS_SESSION_BUS_ADDRESS".to_owned(),
        format!("unix:path={}", dir.path().join("no-bus-here").display()),
    )];
    let (status, stderr) = serve_refuses(&env);
    assert!(!status.success());
    assert_fallback_advice(&stderr);
    assert!(stderr.contains("session bus"), "stderr:\n{stderr}");
}
