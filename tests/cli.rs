//! The command-line contract: init, serve, list, and their errors.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use common::{Server, TempDir, TestVault, softkey};
use softkey_conformance::ctap2::{Ctap2, MakeCredentialRequest, UserEntity};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn wrong_passphrase_is_a_clear_error_and_leaves_the_vault_untouched() {
    let vault = TestVault::create("wrongpass");
    let before = std::fs::read(&vault.path).unwrap();
    let wrong = vault.dir.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    for command in ["serve", "list"] {
        let out = softkey()
            .args([command, "--vault"])
            .arg(&vault.path)
            .arg("--passphrase-file")
            .arg(&wrong)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{command} must fail");
        let err = stderr_of(&out);
        assert!(err.contains("wrong passphrase"), "{command}: {err}");
        assert!(!err.contains("not the passphrase"), "never echo the secret");
    }
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);
}

#[test]
fn list_shows_registered_passkeys_as_table_and_json() {
    let vault = TestVault::create("list");
    {
        let server =
            Server::start(&[vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat());
        let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
        for (user, display) in [("ann", "Ann \"A\" Smith"), ("bob", "Bob")] {
            let mut req = MakeCredentialRequest::new([1; 32], "forum.example", user.as_bytes());
            req.user = UserEntity {
                id: user.as_bytes().to_vec(),
                name: Some(user.into()),
                display_name: Some(display.into()),
            };
            req.rk = Some(true);
            key.make_credential(&req).unwrap();
        }
        // A non-discoverable credential is not stored, so not listed.
        key.make_credential(&MakeCredentialRequest::new([2; 32], "forum.example", b"nd"))
            .unwrap();
    }
    let list = |json: bool| {
        let mut cmd = softkey();
        cmd.arg("list").args(vault.serve_args());
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let table = list(false);
    assert!(table.starts_with("RP ID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(
        table.contains("forum.example") && table.contains("Ann \"A\" Smith"),
        "{table}"
    );
    let json = list(true);
    assert!(
        json.starts_with('[') && json.trim_end().ends_with(']'),
        "{json}"
    );
    assert!(
        json.contains(r#""display_name":"Ann \"A\" Smith""#),
        "{json}"
    );
    assert!(json.contains(r#""user_name":"bob""#), "{json}");
    assert_eq!(json.matches("\"rp_id\":\"forum.example\"").count(), 2);
}

#[test]
fn a_running_server_holds_the_vault_lock() {
    let vault = TestVault::create("locked");
    let _server =
        Server::start(&[vault.serve_args(), vec!["--presence".into(), "deny".into()]].concat());
    let out = softkey()
        .arg("list")
        .args(vault.serve_args())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("in use by another softkey process"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn init_never_overwrites_and_serve_without_vault_says_what_to_do() {
    let vault = TestVault::create("exists");
    let out = softkey()
        .args(["init", "--vault"])
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("never overwrites"),
        "{}",
        stderr_of(&out)
    );

    let dir = TempDir::new("novault");
    let out = softkey()
        .args(["serve", "--vault"])
        .arg(dir.path().join("missing.softkey"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("softkey init"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn non_loopback_listen_needs_allow_remote() {
    let out = softkey()
        .args([
            "serve",
            "--ephemeral",
            "--presence",
            "deny",
            "--listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("--allow-remote"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn serve_prints_the_exact_attach_command() {
    let server = Server::ephemeral();
    let out_line = format!(
        "usbip --tcp-port {} attach -r 127.0.0.1 -b 1-1",
        server.addr.port()
    );
    let mut lines = Vec::new();
    while let Some(line) = server.next_stdout_line() {
        lines.push(line);
        if lines.iter().any(|l: &String| l.contains("attach")) {
            break;
        }
    }
    assert!(
        lines.iter().any(|l| l.trim() == format!("sudo {out_line}")),
        "{lines:?}"
    );
}

#[test]
fn batch_attestation_chains_to_the_ca_attestation_ca_prints() {
    use softkey_conformance::ctap2::AttestationCheck;
    let vault = TestVault::create("batch");
    let out = softkey()
        .arg("attestation-ca")
        .args(vault.serve_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let ca_pem = String::from_utf8(out.stdout).unwrap();
    assert!(
        ca_pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "{ca_pem}"
    );

    let args = [
        vault.serve_args(),
        ["--presence", "auto", "--attestation", "batch"]
            .map(String::from)
            .to_vec(),
    ]
    .concat();
    let server = Server::start(&args);
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let att = key
        .make_credential(&MakeCredentialRequest::new([9; 32], "rp.example", b"u"))
        .unwrap();
    let AttestationCheck::Batch(batch) = &att.check else {
        panic!("expected packed batch attestation, got {:?}", att.check);
    };
    assert_eq!(batch.aaguid_extension, Some(att.aaguid()));
    batch
        .verify_issued_by_pem(&ca_pem)
        .expect("the leaf is signed by the printed CA");

    // Another vault's CA did not sign it.
    let other = TestVault::create("batch-other");
    let out = softkey()
        .arg("attestation-ca")
        .args(other.serve_args())
        .output()
        .unwrap();
    let other_pem = String::from_utf8(out.stdout).unwrap();
    assert!(batch.verify_issued_by_pem(&other_pem).is_err());
}
