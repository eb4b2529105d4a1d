//! Key slots end to end (vault/FORMAT.md "Key slots", SECURITY.md "Key slots"): the real
//! binary against a real software TPM (`swtpm`) and a real Secret Service
//! (`gnome-keyring-daemon` on a private session bus).
//!
//! - `serve` unlocks through the TPM slot with nothing typed (stdin closed, no passphrase
//!   file), and serves a key that registers and signs.
//! - The same vault file under another TPM (another swtpm state: another machine) does not
//!   open without the passphrase or the recovery key, and both still open it there.
//! - A PCR-bound slot stops opening when the PCR changes; a PIN slot opens only with its PIN.
//! - The keyring slot opens the vault while the keyring is unlocked, and removing the slot
//!   deletes its keyring item.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;
#[path = "common/notification_server.rs"]
mod notification_server;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Server, TempDir, TestVault, softkey, system_tool};
use notification_server::SessionBus;

/// A software TPM 2.0 on loopback TCP (the TSS binding's swtpm TCTI takes host and port),
/// with its own state directory: one machine's TPM, with its own owner seed.
struct Swtpm {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Swtpm {
    fn start(name: &str) -> Self {
        for _ in 0..20 {
            // swtpm needs two ports, the command port and the next one for control.
            let port = free_port();
            let dir = TempDir::new(name);
            let mut child = Command::new(system_tool("swtpm"))
                .arg("socket")
                .arg("--tpm2")
                .arg(format!("--tpmstate=dir={}", dir.path().display()))
                .arg(format!("--server=type=tcp,bindaddr=127.0.0.1,port={port}"))
                .arg(format!(
                    "--ctrl=type=tcp,bindaddr=127.0.0.1,port={}",
                    port + 1
                ))
                .args(["--flags", "not-need-init,startup-clear"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break; // the ports were taken meanwhile: another pair
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("swtpm did not start on any port pair");
    }

    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("SOFTKEY_TPM_TCTI".into(), self.tcti()),
            // The TSS's own log lines on stderr are not softkey's.
            ("TSS2_LOG".into(), "all+none".into()),
        ]
    }

    /// Extends PCR 16 (the debug PCR) with tpm2-tools, as a changed boot component would.
    fn extend_pcr16(&self) {
        succeeds(
            Command::new(system_tool("tpm2_pcrextend"))
                .arg(format!("16:sha256={}", "ab".repeat(32)))
                .env("TPM2TOOLS_TCTI", self.tcti())
                .output()
                .unwrap(),
        );
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port that was free a moment ago, with the next one free too.
fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// `softkey ARGS` with `env`, stdin closed (nobody to type), and its output.
fn run(args: &[&str], vault: &Path, env: &[(String, String)]) -> Output {
    softkey()
        .args(args)
        .arg("--vault")
        .arg(vault)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `out`, after checking the command succeeded.
fn succeeds(out: Output) -> Output {
    assert!(out.status.success(), "{}", text(&out));
    out
}

fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
#[cfg_attr(missing_swtpm, ignore = "needs swtpm (Debian package swtpm)")]
fn serve_unlocks_from_the_tpm_and_another_tpm_needs_the_passphrase_or_recovery_key() {
    let tpm = Swtpm::start("swtpm-a");
    let v = TestVault::create("slots-tpm");
    let pass = v.passphrase_file.display().to_string();
    let env = tpm.env();
    let out = run(
        &["slot", "add", "tpm", "--passphrase-file", &pass],
        &v.path,
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let recovery = add_recovery_key(&v, &env, &pass);
    // Changing slots needs a typed secret even when the TPM would open the vault: a key
    // that works only on this machine must not mint one that works anywhere.
    let out = run(&["slot", "add", "passphrase"], &v.path, &env);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no terminal to ask for the passphrase"),
        "{}",
        text(&out)
    );

    // serve: no passphrase file, stdin closed; it unlocks through the TPM and serves a key
    // that registers and signs.
    let vault_arg = v.path.display().to_string();
    let server = Server::try_start_with_env(&["--vault", &vault_arg, "--presence", "auto"], &env)
        .unwrap_or_else(|stderr| panic!("serve did not start from the TPM slot:\n{stderr}"));
    let cred = common_register_and_sign(&server);
    drop(server);
    assert!(cred, "the served key did not register and sign");

    // Another machine: the same file, another TPM.
    let elsewhere = TempDir::new("slots-elsewhere");
    let copy = elsewhere.path().join("vault.softkey");
    std::fs::copy(&v.path, &copy).unwrap();
    let other = Swtpm::start("swtpm-b");
    let out = run(&["list"], &copy, &other.env());
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the tpm slot did not open the vault")
            && stderr.contains("another machine's TPM"),
        "{}",
        text(&out)
    );
    // serve there does not start either: it would need a passphrase, and nobody types one.
    let copy_arg = copy.display().to_string();
    assert!(Server::try_start_with_env(&["--vault", &copy_arg], &other.env()).is_err());
    // The passphrase and the recovery key (as a person types it: lower case, spaces) do.
    let out = run(&["list", "--passphrase-file", &pass], &copy, &other.env());
    assert!(out.status.success(), "{}", text(&out));
    let typed = recovery.to_lowercase().replace('-', " ");
    let key_file = write_file(elsewhere.path(), "recovery", &format!("{typed}\n"));
    let out = run(
        &["list", "--passphrase-file", &key_file.display().to_string()],
        &copy,
        &other.env(),
    );
    assert!(out.status.success(), "{}", text(&out));
    // A wrong recovery key does not.
    let wrong = write_file(
        elsewhere.path(),
        "wrong",
        "0000-0000-0000-0000-0000-0000-0000-0000\n",
    );
    let out = run(
        &["list", "--passphrase-file", &wrong.display().to_string()],
        &copy,
        &other.env(),
    );
    assert!(!out.status.success(), "{}", text(&out));
}

/// Adds a recovery key slot and returns the key as it was printed.
fn add_recovery_key(v: &TestVault, env: &[(String, String)], pass: &str) -> String {
    let out = run(
        &["slot", "add", "recovery-key", "--passphrase-file", pass],
        &v.path,
        env,
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout
        .split_whitespace()
        .find(|w| w.len() == 39 && w.matches('-').count() == 7)
        .unwrap_or_else(|| panic!("no recovery key printed:\n{stdout}"))
        .to_owned()
}

/// A registration and an assertion through the served key; the signature verifies.
fn common_register_and_sign(server: &Server) -> bool {
    use softkey_conformance::ctap2::{Ctap2, GetAssertionRequest, MakeCredentialRequest};
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    let att = key
        .make_credential(&MakeCredentialRequest::new(
            [1; 32],
            "slots.example",
            b"user",
        ))
        .unwrap();
    let mut get = GetAssertionRequest::new("slots.example", [2; 32]);
    get.allow_list = vec![att.credential_id().to_vec()];
    let signed = key.get_assertion(&get).unwrap();
    signed.verify(att.public_key(), &[2; 32]).is_ok()
}

#[test]
#[cfg_attr(missing_swtpm, ignore = "needs swtpm (Debian package swtpm)")]
#[cfg_attr(
    missing_tpm2_tools,
    ignore = "needs tpm2-tools (Debian package tpm2-tools)"
)]
fn a_pcr_bound_slot_stops_opening_when_the_pcr_changes() {
    let tpm = Swtpm::start("swtpm-pcr");
    let v = TestVault::create("slots-pcr");
    let pass = v.passphrase_file.display().to_string();
    let enrol_pcr16 = || {
        succeeds(run(
            &[
                "slot",
                "add",
                "tpm",
                "--tpm-pcrs",
                "16",
                "--passphrase-file",
                &pass,
            ],
            &v.path,
            &tpm.env(),
        ))
    };
    let out = enrol_pcr16();
    assert!(String::from_utf8_lossy(&out.stdout).contains("bound to PCR 16"));
    let out = run(&["list"], &v.path, &tpm.env());
    assert!(out.status.success(), "{}", text(&out));
    tpm.extend_pcr16();
    let out = run(&["list"], &v.path, &tpm.env());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PCR values differ"),
        "{}",
        text(&out)
    );
    // Refused unseals leave nothing behind in the TPM: swtpm has no resource manager, so a
    // storage key, object or session left loaded by each attempt would soon fill its three
    // object slots and the enrolment below would fail.
    for _ in 0..6 {
        assert!(!run(&["list"], &v.path, &tpm.env()).status.success());
    }
    // The passphrase still opens it, and a new enrolment binds the new value.
    let out = enrol_pcr16();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Replaced the tpm slot"));
    let out = run(&["list"], &v.path, &tpm.env());
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
#[cfg_attr(missing_swtpm, ignore = "needs swtpm (Debian package swtpm)")]
fn a_pin_slot_opens_only_with_its_pin() {
    use softkey::slots::tpm::{self, Binding};
    let machine = Swtpm::start("swtpm-pin");
    let binding = Binding {
        pcrs: Vec::new(),
        pin: true,
    };
    let (blob, kek) = tpm::seal(&machine.tcti(), &binding, Some(b"2468")).unwrap();
    assert_eq!(
        *tpm::unseal(&machine.tcti(), &blob, Some(b"2468")).unwrap(),
        *kek
    );
    let wrong = tpm::unseal(&machine.tcti(), &blob, Some(b"1357")).unwrap_err();
    assert!(format!("{wrong:#}").contains("wrong TPM PIN"), "{wrong:#}");
    assert!(tpm::unseal(&machine.tcti(), &blob, None).is_err());
    // Without a PIN the command refuses to unseal with no terminal to ask on, and says so.
    let v = TestVault::create("slots-pin");
    let pass = v.passphrase_file.display().to_string();
    let pin_file = write_file(v.dir.path(), "pin", "2468\n");
    let out = run(
        &[
            "slot",
            "add",
            "tpm",
            "--tpm-pin",
            "--tpm-pin-file",
            &pin_file.display().to_string(),
            "--passphrase-file",
            &pass,
        ],
        &v.path,
        &machine.env(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["list"], &v.path, &machine.env());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs its TPM PIN"),
        "{}",
        text(&out)
    );
}

#[test]
#[cfg_attr(
    missing_dbus_daemon,
    ignore = "needs dbus-daemon (Debian package dbus-daemon)"
)]
#[cfg_attr(
    missing_gnome_keyring,
    ignore = "needs gnome-keyring-daemon (Debian package gnome-keyring)"
)]
fn the_keyring_slot_opens_while_the_keyring_is_unlocked() {
    let bus = SessionBus::start("slots-bus");
    let home = TempDir::new("slots-keyring-home");
    let runtime = home.path().join("run");
    std::fs::create_dir_all(&runtime).unwrap();
    let env: Vec<(String, String)> = vec![
        ("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()),
        ("HOME".into(), home.path().display().to_string()),
        (
            "XDG_DATA_HOME".into(),
            home.path().join("data").display().to_string(),
        ),
        ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
    ];
    // gnome-keyring-daemon --unlock reads the login password on stdin and creates, unlocks
    // and makes default the login keyring, as a desktop login does.
    let mut daemon = Command::new(system_tool("gnome-keyring-daemon"))
        .args(["--unlock", "--components=secrets", "--foreground"])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = daemon.stdin.take().unwrap();
        stdin.write_all(b"login password").unwrap();
    }
    let v = TestVault::create("slots-keyring");
    let pass = v.passphrase_file.display().to_string();
    // The daemon takes its bus name a moment after starting.
    let deadline = Instant::now() + Duration::from_secs(20);
    let added = loop {
        let out = run(
            &["slot", "add", "keyring", "--passphrase-file", &pass],
            &v.path,
            &env,
        );
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(added.status.success(), "{}", text(&added));
    let out = run(&["list"], &v.path, &env);
    assert!(out.status.success(), "{}", text(&out));
    let listed = run(&["slot", "list"], &v.path, &env);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("keyring"));
    assert_eq!(softkey_items(&bus), 1, "the keyring holds the slot's item");
    // Removing the slot deletes the item: the keyring holds no softkey item any more.
    let out = run(
        &["slot", "remove", "keyring", "--passphrase-file", &pass],
        &v.path,
        &env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        softkey_items(&bus),
        0,
        "the removed slot's item is still in the keyring"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}

/// How many items with `application=softkey` the Secret Service on `bus` holds, locked or not
/// (Secret Service API `SearchItems`), asked directly over D-Bus.
fn softkey_items(bus: &SessionBus) -> usize {
    use std::collections::HashMap;
    use zbus::zvariant::OwnedObjectPath;
    let conn = zbus::blocking::connection::Builder::address(bus.address.as_str())
        .unwrap()
        .build()
        .unwrap();
    let service = zbus::blocking::Proxy::new(
        &conn,
        "org.freedesktop.secrets",
        "/org/freedesktop/secrets",
        "org.freedesktop.Secret.Service",
    )
    .unwrap();
    let (unlocked, locked): (Vec<OwnedObjectPath>, Vec<OwnedObjectPath>) = service
        .call(
            "SearchItems",
            &(HashMap::from([("application", "softkey")]),),
        )
        .unwrap();
    unlocked.len() + locked.len()
}

#[test]
fn the_last_slot_a_person_can_open_is_not_removed_and_slots_list_without_a_passphrase() {
    let v = TestVault::create("slots-last");
    let pass = v.passphrase_file.display().to_string();
    let out = run(
        &["slot", "remove", "passphrase", "--passphrase-file", &pass],
        &v.path,
        &[],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("last passphrase or recovery-key slot"),
        "{}",
        text(&out)
    );
    let recovery = add_recovery_key(&v, &[], &pass);
    assert_eq!(recovery.len(), 39);
    let out = run(&["slot", "list", "--json"], &v.path, &[]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["passphrase", "recovery-key"]);
    // A passphrase of eight four-letter words is shaped like a recovery key: it still opens
    // the passphrase slot.
    let words = write_file(
        v.dir.path(),
        "words",
        "tree bird lake fish bark rock sand wind\n",
    );
    let words_arg = words.display().to_string();
    succeeds(run(
        &[
            "passphrase",
            "--passphrase-file",
            &pass,
            "--new-passphrase-file",
            &words_arg,
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
        ],
        &v.path,
        &[],
    ));
    succeeds(run(
        &["list", "--passphrase-file", &words_arg],
        &v.path,
        &[],
    ));
    let pass = words_arg;
    // With a recovery key, the passphrase may go; then the recovery key may not.
    let out = run(
        &["slot", "remove", "passphrase", "--passphrase-file", &pass],
        &v.path,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let key_file = write_file(v.dir.path(), "recovery", &recovery);
    let key_arg = key_file.display().to_string();
    let out = run(
        &[
            "slot",
            "remove",
            "recovery-key",
            "--passphrase-file",
            &key_arg,
        ],
        &v.path,
        &[],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let out = run(&["list", "--passphrase-file", &key_arg], &v.path, &[]);
    assert!(out.status.success(), "{}", text(&out));
}
