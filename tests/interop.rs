//! Clients that are not ours: Debian's `usbip` tool lists the exported
//! device, and python-fido2 2.x registers and logs in username-free through
//! a USB/IP connection class (clients/python/softkey_lab/usbip.py), and the
//! lab's Python client package installs with pip.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

/// As docs/linux.md writes it: `usbip --tcp-port PORT list -r 127.0.0.1`
/// (the port is a global option, before the subcommand).
#[test]
#[cfg_attr(
    missing_usbip,
    ignore = "needs usbip, not found (apt-get install usbip)"
)]
fn usbip_tool_lists_the_device() {
    let tool = common::system_tool("usbip");
    let server = Server::ephemeral();
    let out = Command::new(tool)
        .args([
            "--tcp-port",
            &server.addr.port().to_string(),
            "list",
            "-r",
            "127.0.0.1",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "usbip list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1-1:"), "{text}");
    assert!(text.contains("1209:000a"), "{text}");
    assert!(text.contains("Human Interface Device"), "{text}");
}

/// Every python-fido2 test in tests/python: each starts its own `softkey serve`
/// (the real binary, passed as SOFTKEY_BIN) and talks to it over USB/IP.
#[test]
#[cfg_attr(
    missing_python_venv,
    ignore = "needs python3 with venv, not found (apt-get install python3-venv)"
)]
fn python_fido2_suite() {
    let python = common::python::with_fido2();
    let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python");
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs"])
        .current_dir(&tests_dir)
        .env("SOFTKEY_BIN", env!("CARGO_BIN_EXE_softkey"))
        .env_remove("SOFTKEY_ADDR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "python-fido2 interop failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(
        summary.contains(" passed") && !summary.contains("skipped"),
        "{summary}"
    );
}

/// The lab's Python client (clients/python) installs with pip as its README
/// says, and the installed package registers its pytest fixture.
#[test]
#[cfg_attr(
    missing_python_venv,
    ignore = "needs python3 with venv, not found (apt-get install python3-venv)"
)]
fn lab_client_package_installs_with_pip() {
    let python = common::python::with_fido2();
    // pip builds in the source tree (build/, *.egg-info): build a copy, so
    // the checkout stays as it was.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/python");
    let copy = common::TempDir::new("lab-client-source");
    let package = copy.path().join("python");
    std::fs::create_dir_all(package.join("softkey_lab")).unwrap();
    for file in ["pyproject.toml", "README.md"] {
        std::fs::copy(source.join(file), package.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(source.join("softkey_lab")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py") {
            std::fs::copy(
                &path,
                package.join("softkey_lab").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let target = common::TempDir::new("lab-client");
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
        ])
        .arg(target.path())
        .arg(&package)
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "pip install clients/python failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let entry_points = Command::new(&python)
        .args([
            "-c",
            "import importlib.metadata as m, softkey_lab, softkey_lab.pytest_plugin; \
             print([e.value for e in m.entry_points(group='pytest11') if e.name == 'softkey_lab'])",
        ])
        .env("PYTHONPATH", target.path())
        .current_dir(target.path())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&entry_points.stdout);
    assert!(
        printed.contains("softkey_lab.pytest_plugin"),
        "{printed}\n{}",
        String::from_utf8_lossy(&entry_points.stderr)
    );
}
