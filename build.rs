//! Which of the integration tests' outside tools this machine has.
//!
//! A few tests drive programs that are not ours (Debian's `usbip`, a real
//! `dbus-daemon` session bus, `tmux` as the terminal, a Python venv for
//! python-fido2, `swtpm` and tpm2-tools, `gnome-keyring-daemon`) or act as
//! other users (root, `setpriv`). Where one is
//! missing, the test is compiled as `#[ignore]` with the reason, so libtest
//! itself prints `test … ignored, needs …` and counts it in `N ignored`:
//! a skip is never a silent `ok`. `.ci/run` fails on any such skip, since
//! CI installs all of them.
//!
//! Each probe emits `cfg(missing_<name>)`; the tests use
//! `#[cfg_attr(missing_tmux, ignore = "needs …")]`. The script reruns when
//! `PATH` changes or a directory a tool would be installed into changes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Directories searched after `PATH`: Debian puts `usbip` in /usr/sbin,
/// which is not on an ordinary user's `PATH`.
const SYSTEM_DIRS: &[&str] = &["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    let dirs = search_dirs();
    for dir in &dirs {
        if dir.is_dir() {
            println!("cargo::rerun-if-changed={}", dir.display());
        }
    }
    for name in [
        "usbip",
        "dbus_daemon",
        "tmux",
        "python_venv",
        "root",
        "swtpm",
        "tpm2_tools",
        "gnome_keyring",
    ] {
        println!("cargo::rustc-check-cfg=cfg(missing_{name})");
    }
    let missing = |name: &str, present: bool| {
        if !present {
            println!("cargo::rustc-cfg=missing_{name}");
        }
    };
    missing("usbip", find(&dirs, "usbip").is_some());
    missing("dbus_daemon", find(&dirs, "dbus-daemon").is_some());
    missing("tmux", find(&dirs, "tmux").is_some());
    missing("python_venv", python_has_venv(&dirs));
    missing("root", effective_uid_is_root());
    // The TPM and keyring slots' tests: a software TPM, tpm2-tools to change a PCR under it,
    // and a real Secret Service on a private bus.
    missing("swtpm", find(&dirs, "swtpm").is_some());
    missing("tpm2_tools", find(&dirs, "tpm2_pcrextend").is_some());
    missing(
        "gnome_keyring",
        find(&dirs, "gnome-keyring-daemon").is_some(),
    );
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for dir in SYSTEM_DIRS {
        if !dirs.iter().any(|d| d == Path::new(dir)) {
            dirs.push(dir.into());
        }
    }
    dirs
}

fn find(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// `python3 -m venv` works only with the venv and ensurepip modules
/// (Debian's `python3-venv`); the tests then pip-install python-fido2.
fn python_has_venv(dirs: &[PathBuf]) -> bool {
    let Some(python) = find(dirs, "python3") else {
        return false;
    };
    Command::new(python)
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The tests that play other local users switch uid with `setpriv`.
fn effective_uid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}
