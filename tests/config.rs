//! The configuration file: precedence (flag > environment > file > default)
//! as `softkey config` reports it, `serve` and `list` taking their settings
//! from the file, and errors that name the key and the line.
//! Every test uses its own XDG_CONFIG_HOME: never the user's real file.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{TempDir, TestVault, softkey};
use serde_json::Value;
use softkey_conformance::ctap2::{Ctap2, MakeCredentialRequest, UserEntity};

/// A config home with `softkey/config.toml` holding `text`.
struct ConfigHome {
    dir: TempDir,
}

impl ConfigHome {
    fn new(name: &str, text: &str) -> Self {
        let dir = TempDir::new(name);
        std::fs::create_dir_all(dir.path().join("softkey")).unwrap();
        std::fs::write(dir.path().join("softkey/config.toml"), text).unwrap();
        Self { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("softkey/config.toml")
    }

    /// `softkey` reading this config home, with no control-socket variable.
    fn softkey(&self) -> Command {
        let mut command = softkey();
        command
            .env("XDG_CONFIG_HOME", self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("SOFTKEY_CONTROL_SOCKET");
        command
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `softkey config --json EXTRA…`, parsed.
fn config_json(command: &mut Command, extra: &[&str]) -> Value {
    let out = command
        .args(["config", "--json"])
        .args(extra)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// The row of `setting` in `softkey config`'s table, split on runs of spaces.
fn row(table: &str, setting: &str) -> String {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(setting))
        .unwrap_or_else(|| panic!("no {setting} row in:\n{table}"))
        .to_owned()
}

const FILE: &str = "# softkey configuration\n\
vault = \"/srv/keys/work.softkey\"\n\
presence = \"socket\"\n\
listen = \"127.0.0.1:4242\"\n\
control_socket = \"/srv/run/softkey.sock\"\n";

#[test]
fn softkey_config_shows_each_value_and_where_it_came_from() {
    let home = ConfigHome::new("cfg-precedence", FILE);
    let file = home.file().display().to_string();

    let out = home.softkey().arg("config").output().unwrap();
    let (table, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        table.starts_with(&format!("Configuration file: {file} (read)")),
        "{table}"
    );
    let vault = row(&table, "vault");
    assert!(vault.contains("/srv/keys/work.softkey"), "{vault}");
    assert!(vault.ends_with(&format!("config file {file}:2")), "{vault}");
    let presence = row(&table, "presence");
    assert!(
        presence.contains(" socket ") && presence.ends_with(&format!("config file {file}:3")),
        "{presence}"
    );
    assert!(row(&table, "listen").contains("127.0.0.1:4242"));
    let timeout = row(&table, "prompt_timeout");
    assert!(
        timeout.contains("30") && timeout.ends_with("default"),
        "{timeout}"
    );
    // Aligned: every row's source column starts at the same offset.
    let at = row(&table, "vault").find("config file").unwrap();
    assert_eq!(row(&table, "presence").find("config file"), Some(at));
    assert_eq!(row(&table, "prompt_timeout").find("default"), Some(at));

    // File, then environment, then the command line, for the same setting.
    let json = config_json(&mut home.softkey(), &[]);
    let socket = &json["settings"]["control_socket"];
    assert_eq!(socket["value"], "/srv/run/softkey.sock");
    assert_eq!(socket["source"], format!("config file {file}:5"));
    assert_eq!(socket["line"], 5);
    let json = config_json(
        home.softkey().env("SOFTKEY_CONTROL_SOCKET", "/env/c.sock"),
        &[],
    );
    let socket = &json["settings"]["control_socket"];
    assert_eq!(socket["value"], "/env/c.sock");
    assert_eq!(socket["source"], "environment (SOFTKEY_CONTROL_SOCKET)");
    let json = config_json(
        home.softkey().env("SOFTKEY_CONTROL_SOCKET", "/env/c.sock"),
        &["--control-socket", "/flag/c.sock"],
    );
    let socket = &json["settings"]["control_socket"];
    assert_eq!(socket["value"], "/flag/c.sock");
    assert_eq!(socket["source"], "command line");

    // A flag beats the file; the rest keep their sources.
    let json = config_json(&mut home.softkey(), &["--vault", "/flag/v.softkey"]);
    assert_eq!(json["settings"]["vault"]["value"], "/flag/v.softkey");
    assert_eq!(json["settings"]["vault"]["source"], "command line");
    assert_eq!(json["settings"]["presence"]["value"], "socket");
    assert_eq!(json["settings"]["prompt_timeout"]["value"], 30);
    assert_eq!(json["settings"]["prompt_timeout"]["source"], "default");
    assert_eq!(json["settings"]["allow_remote"]["value"], false);
    assert_eq!(json["settings"]["transport"]["value"], "usbip");
    assert_eq!(json["settings"]["transport"]["source"], "default");
    assert_eq!(json["config_file"]["path"], file.as_str());
    assert_eq!(json["config_file"]["exists"], true);
    assert_eq!(json["config_file"]["source"], "default");
    for key in [
        "vault",
        "passphrase_file",
        "transport",
        "listen",
        "allow_remote",
        "presence",
        "prompt_timeout",
        "attestation",
        "control_socket",
    ] {
        assert!(json["settings"][key]["source"].is_string(), "{key}: {json}");
    }
}

#[test]
fn the_config_file_can_be_named_and_a_missing_default_file_means_defaults() {
    let empty = TempDir::new("cfg-none");
    let out = softkey()
        .env("XDG_CONFIG_HOME", empty.path())
        .arg("config")
        .output()
        .unwrap();
    let (table, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let expected = empty.path().join("softkey/config.toml");
    assert!(
        table.starts_with(&format!(
            "Configuration file: none (softkey would read {})",
            expected.display()
        )),
        "{table}"
    );
    assert!(row(&table, "presence").contains("tty"));
    assert!(row(&table, "listen").contains("127.0.0.1:3240"));
    assert!(row(&table, "vault").ends_with("default"));

    // --config and SOFTKEY_CONFIG name a file; that file is read instead.
    let home = ConfigHome::new("cfg-named", "presence = \"deny\"\n");
    let json = config_json(
        softkey()
            .env("XDG_CONFIG_HOME", empty.path())
            .args(["--config"])
            .arg(home.file()),
        &[],
    );
    assert_eq!(json["settings"]["presence"]["value"], "deny");
    assert_eq!(json["config_file"]["source"], "command line");
    let json = config_json(
        softkey()
            .env("XDG_CONFIG_HOME", empty.path())
            .env("SOFTKEY_CONFIG", home.file()),
        &[],
    );
    assert_eq!(json["settings"]["presence"]["value"], "deny");
    assert_eq!(
        json["config_file"]["source"],
        "environment (SOFTKEY_CONFIG)"
    );

    // A file named explicitly must exist.
    let missing = empty.path().join("nope.toml");
    let out = softkey()
        .arg("--config")
        .arg(&missing)
        .arg("list")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (_, stderr) = text(&out);
    assert!(
        stderr.contains(&format!("{} does not exist", missing.display())),
        "{stderr}"
    );
}

#[test]
fn a_config_file_others_could_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    // It could say presence = "auto" or open the key to the network.
    let home = ConfigHome::new("config-perm", "presence = \"auto\"\n");
    std::fs::set_permissions(home.file(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = home.softkey().args(["config"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("others may write to it (mode 666)") && stderr.contains("chmod go-w"),
        "{stderr}"
    );
    std::fs::set_permissions(home.file(), std::fs::Permissions::from_mode(0o620)).unwrap();
    assert!(
        !home
            .softkey()
            .args(["config"])
            .output()
            .unwrap()
            .status
            .success()
    );
    // Only the owner may write: accepted.
    std::fs::set_permissions(home.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = home.softkey().args(["config"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
#[cfg_attr(missing_root, ignore = "needs root, to give the file to another user")]
fn a_config_file_another_user_owns_is_refused() {
    let home = ConfigHome::new("config-owner", "presence = \"auto\"\n");
    // Owned by another user (not root): refused, naming the owner.
    std::os::unix::fs::chown(home.file(), Some(65534), None).unwrap();
    let out = home.softkey().args(["config"]).output().unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("it belongs to uid 65534, not to you"),
        "{stderr}"
    );
}

#[test]
fn unknown_keys_are_errors_naming_the_key_and_line() {
    let home = ConfigHome::new(
        "cfg-unknown",
        "vault = \"/v\"\n\nlisten_addr = \"127.0.0.1:1\"\n",
    );
    for command in ["config", "list", "serve"] {
        let out = home.softkey().arg(command).output().unwrap();
        assert!(!out.status.success(), "{command}");
        let (_, stderr) = text(&out);
        let at = format!("{}:3:", home.file().display());
        assert!(stderr.contains(&at), "{command}: {stderr}");
        assert!(stderr.contains("unknown key `listen_addr`"), "{stderr}");
        assert!(
            stderr.contains("listen, allow_remote"),
            "lists the keys: {stderr}"
        );
    }
}

#[test]
fn values_of_the_wrong_type_are_errors_saying_what_is_allowed() {
    let cases = [
        (
            "allow_remote = \"yes\"\n",
            "`allow_remote` must be true or false",
        ),
        (
            "prompt_timeout = 0\n",
            "`prompt_timeout` must be a number of seconds from 1 to 600",
        ),
        (
            "presence = \"popup\"\n",
            "`presence` must be one of \"tty\", \"notify\"",
        ),
        (
            "attestation = \"none\"\n",
            "`attestation` must be \"self\" or \"batch\"",
        ),
        (
            "transport = \"usb\"\n",
            "`transport` must be \"usbip\" or \"uhid\", not \"usb\"",
        ),
        ("listen = 3240\n", "`listen` must be \"ADDR:PORT\""),
        ("vault = [\"a\"]\n", "`vault` must be a path"),
    ];
    for (body, expected) in cases {
        let home = ConfigHome::new("cfg-type", &format!("# comment\n{body}"));
        let out = home.softkey().arg("config").output().unwrap();
        assert!(!out.status.success(), "{body}");
        let (_, stderr) = text(&out);
        assert!(stderr.contains(expected), "{body}: {stderr}");
        assert!(
            stderr.contains(&format!("{}:2:", home.file().display())),
            "{body}: {stderr}"
        );
    }
    let home = ConfigHome::new("cfg-syntax", "vault = \"unterminated\n");
    let out = home.softkey().arg("config").output().unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{}:1:", home.file().display())),
        "{stderr}"
    );
}

/// A `softkey serve` started by hand (the harness always adds --listen).
struct Serving {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Serving {
    fn start(mut command: Command) -> Self {
        let mut child = command
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    fn listen_line(&self) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("serve printed no listen line");
            if line.starts_with("softkey: serving on ") {
                return line;
            }
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn toml_path(path: &Path) -> String {
    serde_json::to_string(&path.display().to_string()).unwrap()
}

#[test]
fn serve_and_list_take_vault_presence_and_listen_from_the_file() {
    let vault = TestVault::create("cfg-serve");
    let port = free_port();
    let home = ConfigHome::new(
        "cfg-serve-home",
        &format!(
            "vault = {}\npassphrase_file = {}\nlisten = \"127.0.0.1:{port}\"\npresence = \"auto\"\n\
             prompt_timeout = 5\n",
            toml_path(&vault.path),
            toml_path(&vault.passphrase_file)
        ),
    );
    {
        // No flags at all: everything comes from the file.
        let server = Serving::start(home.softkey());
        let line = server.listen_line();
        assert!(
            line.starts_with(&format!("softkey: serving on 127.0.0.1:{port} ")),
            "{line}"
        );
        let mut key = Ctap2::connect(format!("127.0.0.1:{port}").parse().unwrap(), "1-1").unwrap();
        let mut req = MakeCredentialRequest::new([3; 32], "config.example", b"cfg-user");
        req.user = UserEntity {
            id: b"cfg-user".to_vec(),
            name: Some("cfg-user".into()),
            display_name: None,
        };
        req.rk = Some(true);
        // The default presence (tty) would wait for an answer on stdin; the file says auto.
        key.make_credential(&req).unwrap();
    }
    let out = home.softkey().args(["list", "--json"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\"rp_id\":\"config.example\""), "{stdout}");
    // A flag still wins over the file.
    let out = home
        .softkey()
        .args(["list", "--vault"])
        .arg(vault.dir.path().join("missing.softkey"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).1.contains("missing.softkey"));
}
