//! `softkey status`, as a person runs it beside (or without) a running
//! `softkey serve`: text and `--json`, exit status 0 with a server and 3
//! without one.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::{Server, TempDir, TestVault, softkey};
use serde_json::Value;
use softkey_conformance::ctap2::Ctap2;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status_json(server: &Server) -> Value {
    let out = server.client().args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_running_server_reports_itself() {
    let server = Server::ephemeral();
    let out = server.client().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for needle in [
        format!("softkey serve is running (pid {}", server.pid()),
        format!("Listening: {}, bus id 1-1", server.addr),
        "Presence:  auto (prompts wait 30 s)".into(),
        "Vault:     ephemeral".into(),
        "Host:      never attached".into(),
        format!("Control:   {}", server.control_socket().display()),
        "Waiting:   nothing".into(),
    ] {
        assert!(shown.contains(&needle), "missing {needle:?} in:\n{shown}");
    }

    let status = status_json(&server);
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], server.pid());
    assert_eq!(status["state"], "serving");
    assert_eq!(status["listen"], server.addr.to_string());
    assert_eq!(status["bus_id"], "1-1");
    assert_eq!(status["presence"], "auto");
    assert_eq!(status["vault"], "ephemeral");
    assert_eq!(status["host"]["attached"], false);
    assert_eq!(status["host"]["attaches"], 0);
    assert!(status["pending"].is_null());
    assert!(status["uptime_secs"].as_u64().unwrap() < 60);

    // A host attaches: status sees it while the connection lasts.
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.get_info().unwrap();
    let status = status_json(&server);
    assert_eq!(status["host"]["attaches"], 1);
    assert_eq!(status["host"]["attached"], true);
    drop(key);
    let deadline = Instant::now() + Duration::from_secs(5);
    while status_json(&server)["host"]["attached"] == true {
        assert!(Instant::now() < deadline, "the detach must show");
        std::thread::sleep(Duration::from_millis(50));
    }
    let shown = text(&server.client().arg("status").output().unwrap().stdout);
    assert!(
        shown.contains("Host:      not attached now (last attached"),
        "{shown}"
    );
}

#[test]
fn a_vault_server_names_its_vault_and_presence() {
    let vault = TestVault::create("status-vault");
    let mut args = vault.serve_args();
    args.extend([
        "--presence".into(),
        "deny".into(),
        "--prompt-timeout".into(),
        "7".into(),
    ]);
    let server = Server::start(&args);
    let status = status_json(&server);
    assert_eq!(status["vault"], vault.path.display().to_string());
    assert_eq!(status["presence"], "deny");
    assert_eq!(status["prompt_timeout_secs"], 7);
}

#[test]
fn without_a_server_it_says_so_and_exits_3() {
    let runtime = TempDir::new("status-none");
    let vault = runtime.path().join("missing.softkey");
    let out = softkey()
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("SOFTKEY_CONTROL_SOCKET")
        .args(["status", "--vault"])
        .arg(&vault)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    let socket = runtime.path().join("softkey");
    assert!(
        shown.contains(&format!(
            "softkey serve is not running (no control socket in {})",
            socket.display()
        )),
        "{shown}"
    );
    assert!(shown.contains(&format!("Vault: {} (does not exist yet", vault.display())));
    // The advice names the vault it was asked about, word for word.
    assert!(
        shown.contains(&format!("`softkey init --vault {}`", vault.display())),
        "{shown}"
    );

    let existing = TestVault::create("status-none-vault");
    let out = softkey()
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("SOFTKEY_CONTROL_SOCKET")
        .args(["status", "--json", "--vault"])
        .arg(&existing.path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["running"], false);
    assert_eq!(status["vault"], existing.path.display().to_string());
    assert_eq!(status["vault_exists"], true);
    assert_eq!(status["control_socket"], socket.display().to_string());

    // approve / pending without a server: an error that says what to do.
    let out = softkey()
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env_remove("SOFTKEY_CONTROL_SOCKET")
        .arg("approve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("no softkey serve is running")
            && err.contains("softkey serve --presence socket"),
        "{err}"
    );
}

#[test]
fn a_stale_socket_is_not_running_and_serve_replaces_it() {
    let dir = TempDir::new("status-stale");
    let socket = dir.path().join("control.sock");
    // What a crashed serve leaves: a socket file nobody listens on.
    drop(UnixListener::bind(&socket).unwrap());
    let socket_arg = socket.display().to_string();
    let out = softkey()
        .args(["status", "--control-socket", &socket_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    let mut server = Server::start(&[
        "--ephemeral",
        "--presence",
        "auto",
        "--control-socket",
        &socket_arg,
    ]);
    let out = softkey()
        .args(["status", "--json", "--control-socket", &socket_arg])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["pid"], server.pid());

    // A clean stop removes the socket.
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!socket.exists(), "the socket is removed on a clean exit");
}

#[test]
fn an_unsafe_socket_directory_is_refused() {
    let dir = TempDir::new("status-unsafe");
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let socket = shared.join("control.sock").display().to_string();
    let err = Server::try_start(&[
        "--ephemeral",
        "--presence",
        "socket",
        "--control-socket",
        &socket,
    ])
    .err()
    .expect("serve must refuse a world-writable socket directory");
    assert!(err.contains("others may write to it"), "{err}");
}

#[test]
fn the_help_documents_the_exit_status() {
    let out = softkey().args(["status", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    assert!(help.contains("3 when none runs"), "{help}");
}

/// One user, several keys, one runtime dir: each `serve` binds a socket
/// named after its vault, `status` shows them all, and `pending` /
/// `approve` find the one meant or say which to name.
#[test]
fn every_key_has_its_own_control_socket() {
    let runtime = TempDir::new("status-several");
    let env = [(
        "XDG_RUNTIME_DIR".to_owned(),
        runtime.path().display().to_string(),
    )];
    let client = || {
        let mut c = softkey();
        c.env("XDG_RUNTIME_DIR", runtime.path())
            .env_remove("SOFTKEY_CONTROL_SOCKET");
        c
    };
    let vault = TestVault::create("status-several-vault");
    let mut args = vault.serve_args();
    args.extend(["--presence".into(), "auto".into()]);
    let with_vault = Server::try_start_with_env(&args, &env).unwrap();
    let answering =
        Server::try_start_with_env(&["--ephemeral", "--presence", "socket"], &env).unwrap();
    // Neither warned about a socket already taken.
    for server in [&with_vault, &answering] {
        assert!(
            !server.stderr().contains("without a control socket"),
            "{}",
            server.stderr()
        );
    }
    let mut sockets: Vec<String> = std::fs::read_dir(runtime.path().join("softkey"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    sockets.sort();
    assert_eq!(sockets.len(), 2, "{sockets:?}");
    assert_eq!(sockets[0], format!("ephemeral-{}.sock", answering.pid()));
    let stem = vault.path.file_stem().unwrap().to_string_lossy();
    assert!(sockets[1].starts_with(&format!("{stem}-")), "{sockets:?}");

    // status: both keys.
    let out = client().arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("Vault:     ephemeral"), "{shown}");
    assert!(
        shown.contains(&format!("Vault:     {}", vault.path.display())),
        "{shown}"
    );
    let out = client().args(["status", "--json"]).output().unwrap();
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");

    // pending: the one key whose prompts wait for `softkey approve`.
    let out = client().args(["pending", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // --vault names the other one.
    let out = client()
        .args(["pending", "--vault"])
        .arg(&vault.path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Two that answer on the socket: which one is for the person to say.
    let second =
        Server::try_start_with_env(&["--ephemeral", "--presence", "socket"], &env).unwrap();
    let out = client().arg("approve").output().unwrap();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("3 keys are being served; say which:"), "{err}");
    assert!(
        err.contains(&format!("--vault {}", vault.path.display())),
        "{err}"
    );
    assert!(
        err.contains(&format!("ephemeral-{}.sock", second.pid())),
        "{err}"
    );
}
