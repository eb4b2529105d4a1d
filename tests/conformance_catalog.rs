//! `softkey conformance` against the real binary: softkey on an ephemeral
//! key and on a vault passes every applicable check, destructive ones
//! included (reset, PIN set, change and lockout), with the JUnit file
//! kept under target/; a key that is not what the catalog expects (a
//! U2F-only test-lab key) fails, and the expectations file decides what a
//! known failure is.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::{Server, TempDir, TestVault, softkey};

/// The RP id softkey lists for vendor-facilitated enterprise attestation.
const EP_RP_ID: &str = "enterprise.conformance.example";

/// softkey with batch attestation and enterprise attestation offered, so the
/// enterprise checks apply too.
const SERVE_FLAGS: [&str; 6] = [
    "--presence",
    "auto",
    "--attestation",
    "batch",
    "--enterprise-rp",
    EP_RP_ID,
];

/// At least this many checks must apply to softkey; the catalog only grows.
const MIN_APPLICABLE: u64 = 315;

fn conformance(target: &str, extra: &[&str]) -> Output {
    softkey()
        .arg("conformance")
        .arg(target)
        .args(extra)
        .output()
        .unwrap()
}

/// Runs the catalog with `--json` and a JUnit file under target/; the JSON.
fn run_json(target: &str, junit_name: &str) -> serde_json::Value {
    let junit = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("conformance")
        .join(junit_name);
    let out = conformance(
        target,
        &[
            "--destructive",
            "--ep-rp-id",
            EP_RP_ID,
            "--json",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let failed: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["result"] == "fail" || c["result"] == "unexpected-pass")
        .map(|c| format!("{}: {}", c["id"], c["detail"]))
        .collect();
    assert!(failed.is_empty(), "failed checks:\n{}", failed.join("\n"));
    assert!(out.status.success(), "exit status {:?}", out.status);
    let applicable = report["summary"]["applicable"].as_u64().unwrap();
    assert!(
        applicable >= MIN_APPLICABLE,
        "only {applicable} checks applied"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml") && xml.contains("<testsuite name=\"getinfo\""));
    assert!(
        !xml.contains("<failure"),
        "the JUnit file reports a failure"
    );
    report
}

#[test]
fn softkey_passes_every_applicable_check_ephemeral_and_on_a_vault() {
    let mut args = vec!["--ephemeral"];
    args.extend(SERVE_FLAGS);
    let server = Server::start(&args);
    let report = run_json(&server.addr.to_string(), "softkey-ephemeral.xml");
    // Each check says where it comes from and what it did.
    let first = &report["checks"][0];
    for field in [
        "id", "family", "spec", "sends", "expects", "result", "detail",
    ] {
        assert!(first[field].is_string(), "{field} missing: {first}");
    }
    drop(server);

    let vault = TestVault::create("conformance-vault");
    let mut args: Vec<String> = SERVE_FLAGS.iter().map(|f| f.to_string()).collect();
    args.extend(vault.serve_args());
    let server = Server::start(&args);
    run_json(&server.addr.to_string(), "softkey-vault.xml");
    drop(server);
    // Nothing was left behind: no discoverable credential on the vault.
    assert_eq!(vault.list_json().trim(), "[]");
}

#[test]
fn a_u2f_only_key_fails_and_expectations_decide() {
    let dir = TempDir::new("conformance-lab");
    let token = dir.path().join("token");
    let mut lab = softkey()
        .args([
            "lab",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--api",
            "127.0.0.1:0",
            "--token-file",
        ])
        .arg(&token)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(lab.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    // The lab says more; its pipe must stay open.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let api = line
        .split("API on http://")
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let usbip = line
        .split("USB/IP on ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    let added = softkey()
        .args(["lab", "add", "--api", &api, "--token-file"])
        .arg(&token)
        .args(["--options", r#"{"protocol":"ctap1/u2f"}"#])
        .output()
        .unwrap();
    let id = String::from_utf8(added.stdout).unwrap().trim().to_owned();
    let target = format!("{usbip}/{id}");

    // The U2F-only key offers no CBOR: hid.init fails, the CTAP2 families
    // do not apply.
    let out = conformance(&target, &["--only", "hid,getinfo"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL            hid.init"), "{text}");
    assert!(
        text.contains("n/a             getinfo.canonical: CTAPHID_INIT offers no CBOR"),
        "{text}"
    );

    // Named in an expectations file, the failure is expected; a stale entry
    // (a check that passes) fails the run; an entry without a reason, or
    // for no check, is refused.
    let expectations = dir.path().join("expectations.json");
    std::fs::write(&expectations, r#"{"hid.init": "a U2F-only key: no CBOR"}"#).unwrap();
    let out = conformance(
        &target,
        &[
            "--only",
            "hid",
            "--expectations",
            expectations.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(
        &expectations,
        r#"{"hid.init": "no CBOR", "hid.ping-57": "wrongly expected to fail"}"#,
    )
    .unwrap();
    let out = conformance(
        &target,
        &[
            "--only",
            "hid",
            "--expectations",
            expectations.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("UNEXPECTED-PASS"));
    for bad in [r#"{"hid.init": " "}"#, r#"{"hid.nonexistent": "why"}"#] {
        std::fs::write(&expectations, bad).unwrap();
        let out = conformance(&target, &["--expectations", expectations.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{bad} was accepted");
    }
    // A misspelled selection runs nothing and says so.
    let out = conformance(&target, &["--only", "getinf"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("getinf"));
    let _ = lab.kill();
    let _ = lab.wait();
}
