//! The reference client's own conformance suite: python-fido2's `tests/device`
//! (what Yubico runs against its keys), against the real `softkey serve` on
//! a fresh vault, through the project's USB/IP connection class.
//!
//! Our other tests share our reading of the CTAP spec; this one does not.
//! The suite's source comes from the hash-pinned sdist named in
//! tests/python/device_suite/suite.txt (fetched from PyPI once, cached under
//! the target directory). tests/python/device_suite/softkey_device_suite.py
//! is the shim: device discovery, the power-cycle hooks (stop and restart
//! `softkey serve` on the same vault and port) and the expectations file,
//! which gives a reason for every test expected to skip.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use common::TempDir;

/// Tests the suite must pass at least: every one softkey can take part in
/// today. The expectations file already fails the run when a listed skip
/// passes or an unlisted one skips; this floor catches a suite that
/// quietly stopped running.
const MIN_PASSED: u32 = 52;

#[test]
#[cfg_attr(
    missing_python_venv,
    ignore = "needs python3 with venv, not found (apt-get install python3-venv)"
)]
fn python_fido2_device_suite() {
    let python = common::python::with_fido2();
    let shim = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/device_suite");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-fido2-sdist");
    let fetched = Command::new(&python)
        .arg(shim.join("fetch_suite.py"))
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        fetched.status.success(),
        "could not fetch python-fido2's device suite from PyPI:\n{}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let suite = String::from_utf8(fetched.stdout).unwrap();
    let suite = Path::new(suite.trim());

    let work = TempDir::new("device-suite");
    let out = Command::new(&python)
        .args([
            "-m",
            "pytest",
            "tests/device",
            "-p",
            "softkey_device_suite",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rfE",
        ])
        .current_dir(suite)
        .env("PYTHONPATH", &shim)
        .env("SOFTKEY_BIN", env!("CARGO_BIN_EXE_softkey"))
        .env("SOFTKEY_DEVICE_SUITE_WORKDIR", work.path())
        .env_remove("SOFTKEY_DEVICE_SUITE_EXPECTATIONS")
        .env_remove("SOFTKEY_DEVICE_SUITE_SERVE_ARGS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("python-fido2 device suite: "))
        .unwrap_or_else(|| panic!("no closing line from the suite:\n{stdout}\n{stderr}"));
    // Straight to the process's stderr, past the test harness's capture: the
    // closing line belongs in every CI log, passing or not.
    let _ = writeln!(std::io::stderr(), "{summary}");
    let counts = Counts::parse(summary);
    assert!(
        out.status.success() && counts.failed == 0 && counts.errors == 0,
        "python-fido2 device suite failed:\n{stdout}\n{stderr}\n{}",
        server_logs(work.path())
    );
    assert_eq!(
        counts.skipped, counts.expected_skips,
        "every skip must be listed in expectations.json:\n{stdout}"
    );
    assert!(
        counts.passed >= MIN_PASSED,
        "only {} passed, expected at least {MIN_PASSED}:\n{stdout}",
        counts.passed
    );
}

/// Every `softkey serve` log of the run (one per power-up), for a failure.
fn server_logs(dir: &Path) -> String {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            format!("--- {}\n{text}", p.display())
        })
        .collect()
}

/// `python-fido2 device suite: P passed, F failed, E errors, S skipped (expected X)`.
#[derive(Debug)]
struct Counts {
    passed: u32,
    failed: u32,
    errors: u32,
    skipped: u32,
    expected_skips: u32,
}

impl Counts {
    fn parse(line: &str) -> Self {
        let (_, counts) = line.split_once(": ").unwrap();
        let numbers: Vec<u32> = counts
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        let [passed, failed, errors, skipped, expected_skips] = numbers[..] else {
            panic!("unexpected closing line: {line}");
        };
        Counts {
            passed,
            failed,
            errors,
            skipped,
            expected_skips,
        }
    }
}
