//! What needs no passphrase is checked before one is asked. Each command
//! here runs without a terminal and without a passphrase file: had it asked
//! for the passphrase first, it would fail with "no terminal to ask for the
//! passphrase" instead of the real reason, which is what each test expects.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::net::TcpListener;
use std::process::{Output, Stdio};

use common::{Server, TempDir, TestVault, softkey};

const ASKED: &str = "no terminal to ask for the passphrase";

/// Runs softkey with no terminal; returns (success, stderr).
fn run(args: &[&str]) -> (bool, String) {
    run_env(args, &[])
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out: Output = softkey()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains(ASKED),
        "asked for a passphrase first:\n{stderr}"
    );
    assert!(
        !stderr.contains("Unlocking"),
        "started unlocking first:\n{stderr}"
    );
    (out.status.success(), stderr)
}

#[test]
fn a_vault_in_use_is_said_before_the_passphrase() {
    let vault = TestVault::create("first-in-use");
    let _server = Server::start(&vault.serve_args());
    let path = vault.path.display().to_string();
    for args in [
        vec!["list", "--vault", &path],
        vec!["passphrase", "--vault", &path],
        vec!["delete", "--yes", "--rp", "a.example", "--vault", &path],
        vec!["serve", "--vault", &path, "--listen", "127.0.0.1:0"],
    ] {
        let (ok, stderr) = run(&args);
        assert!(!ok);
        assert!(stderr.contains("is in use"), "{args:?}: {stderr}");
    }
}

#[test]
fn an_export_target_that_exists_is_said_before_the_passphrase() {
    let vault = TestVault::create("first-export");
    let target = vault.dir.path().join("taken.skbackup");
    std::fs::write(&target, b"precious").unwrap();
    let (ok, stderr) = run(&[
        "export",
        target.to_str().unwrap(),
        "--vault",
        vault.path.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("already exists; choose another file or pass --force"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    let missing_dir = vault.dir.path().join("no/such/dir/b.skbackup");
    let (ok, stderr) = run(&[
        "export",
        missing_dir.to_str().unwrap(),
        "--vault",
        vault.path.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("does not exist"), "{stderr}");
}

#[test]
fn a_port_in_use_is_said_before_the_passphrase_with_the_next_port() {
    let vault = TestVault::create("first-port");
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let (ok, stderr) = run(&[
        "serve",
        "--vault",
        vault.path.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    assert!(!ok);
    let next = port + 1;
    assert!(
        stderr.contains(&format!("try --listen 127.0.0.1:{next}"))
            && stderr.contains(&format!("usbip --tcp-port {next} attach")),
        "{stderr}"
    );
}

#[test]
fn no_notification_server_is_said_before_the_passphrase() {
    let vault = TestVault::create("first-notify");
    let dir = TempDir::new("first-notify-bus");
    let bus = format!("unix:path={}", dir.path().join("no-bus").display());
    let (ok, stderr) = run_env(
        &[
            "serve",
            "--vault",
            vault.path.to_str().unwrap(),
            "--presence",
            "notify",
            "--listen",
            "127.0.0.1:0",
        ],
        &[("DBUS_SESSION_BUS_ADDRESS", &bus)],
    );
    assert!(!ok);
    assert!(stderr.contains("session bus"), "{stderr}");
}

#[test]
fn a_directory_or_a_stranger_given_as_the_vault_is_said_before_the_passphrase() {
    let dir = TempDir::new("first-dir");
    let (ok, stderr) = run(&["list", "--vault", dir.path().to_str().unwrap()]);
    assert!(!ok);
    assert!(
        stderr.contains("is a directory, not a vault file"),
        "{stderr}"
    );
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "shopping list: milk, eggs, bread, and more").unwrap();
    let (ok, stderr) = run(&["list", "--vault", text.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("not a softkey vault"), "{stderr}");
}

#[test]
fn kdf_flags_out_of_range_are_refused_before_anything() {
    let dir = TempDir::new("first-kdf");
    let vault = dir.path().join("v.softkey");
    let (ok, stderr) = run(&[
        "init",
        "--vault",
        vault.to_str().unwrap(),
        "--kdf-memory-mib",
        "2",
    ]);
    assert!(!ok);
    assert!(stderr.contains("--kdf-memory-mib"), "{stderr}");
    assert!(!vault.exists());
}
