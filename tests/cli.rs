//! The command-line contract: init, serve, list, and their errors.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use common::terminal::Terminal;
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
    assert!(table.starts_with("ID "), "{table}");
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

    // The ID column is what `delete` takes.
    let bob_id = table
        .lines()
        .find(|l| l.contains(" bob "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let delete = |args: &[&str]| {
        let out = softkey()
            .arg("delete")
            .args(args)
            .args(["--yes"])
            .args(vault.serve_args())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(
        delete(&[&bob_id]),
        "Deleted 1 passkey for forum.example (bob).\n"
    );
    // A user name alone, on whatever site.
    assert_eq!(
        delete(&["--user", "ann"]),
        "Deleted 1 passkey for forum.example (ann).\n"
    );
    assert_eq!(list(false), "No discoverable credentials yet.\n");
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

const SUBCOMMANDS: [&str; 15] = [
    "init",
    "serve",
    "list",
    "attestation-ca",
    "export",
    "import",
    "passphrase",
    "status",
    "delete",
    "approve",
    "deny",
    "pending",
    "config",
    "completions",
    "man",
];

#[test]
fn help_for_softkey_and_every_subcommand_has_examples() {
    let out = softkey().arg("--help").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let help = String::from_utf8(out.stdout).unwrap();
    for sub in SUBCOMMANDS {
        assert!(
            help.lines()
                .any(|l| l.split_whitespace().next() == Some(sub)),
            "`softkey --help` lists {sub}:\n{help}"
        );
    }
    assert!(
        help.contains("Example") || help.contains("Quick start"),
        "{help}"
    );
    for sub in SUBCOMMANDS {
        let out = softkey().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub}: {}", stderr_of(&out));
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.contains("Example"), "softkey {sub} --help:\n{help}");
        assert!(
            help.contains(&format!("softkey {sub}")),
            "the example uses the command: {help}"
        );
    }
}

/// The KDF flags' help says what happens without them (calibration), not a
/// default calibration never picks.
#[test]
fn kdf_help_describes_calibration_not_fixed_defaults() {
    for sub in ["init", "export", "passphrase"] {
        let out = softkey().args([sub, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(!help.contains("[default: 64]"), "{sub}: {help}");
        assert!(!help.contains("[default: 3]"), "{sub}: {help}");
        assert!(
            help.contains("[default: calibrated on this machine: 64 MiB or more]"),
            "{sub}: {help}"
        );
    }
}

#[test]
fn completions_cover_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = softkey().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.len() > 1000, "{shell}: {script}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        assert!(script.contains("--presence") || script.contains("presence"));
    }
}

#[test]
fn logs_are_plain_text_off_a_terminal_and_modes_are_spelled_as_typed() {
    // Under systemd (journald) or a pipe, no colour escapes; `serve` names
    // its presence mode as the flag and the config file spell it.
    let server = Server::start(&["-v", "--ephemeral", "--presence", "auto"]);
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    key.get_info().unwrap();
    assert!(server.wait_stderr("host attached the key", std::time::Duration::from_secs(5)));
    let stderr = server.stderr();
    assert!(
        !stderr.contains('\x1b'),
        "colour escapes in piped logs: {stderr:?}"
    );
    assert!(
        server.listen_line.ends_with("(bus id 1-1, presence auto)"),
        "{}",
        server.listen_line
    );
}

#[test]
fn man_dir_writes_every_page_the_main_page_names() {
    // The main page refers to softkey-init(1) and the rest: each must exist
    // as a file `man` can find.
    let dir = TempDir::new("man");
    let out = softkey()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let main = std::fs::read_to_string(dir.path().join("softkey.1")).unwrap();
    for sub in SUBCOMMANDS {
        let named = format!("softkey\\-{}", sub.replace('-', "\\-"));
        assert!(main.contains(&named), "the main page names {sub}");
        let page = dir.path().join(format!("softkey-{sub}.1"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{} is referenced but missing: {e}", page.display()));
        assert!(text.starts_with(".TH SOFTKEY"), "{}", page.display());
    }
}

#[test]
fn man_page_is_roff_with_a_page_per_subcommand() {
    let out = softkey().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let roff = String::from_utf8(out.stdout).unwrap();
    assert!(roff.starts_with(".TH SOFTKEY 1 "), "{}", &roff[..80]);
    for sub in SUBCOMMANDS {
        let title = format!(
            ".TH SOFTKEY\\-{} 1 ",
            sub.to_uppercase().replace('-', "\\-")
        );
        let alt = format!(".TH SOFTKEY-{} 1 ", sub.to_uppercase());
        assert!(
            roff.contains(&title) || roff.contains(&alt),
            "no page for {sub}"
        );
        assert!(
            roff.contains(&format!("softkey\\-{}", sub.replace('-', "\\-"))),
            "main page names {sub}"
        );
    }
    assert!(roff.contains(".SH EXAMPLES"));
    // When groff is installed, it must render the pages without a warning.
    let groff = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    if let Ok(mut groff) = groff {
        use std::io::Write;
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(roff.as_bytes())
            .unwrap();
        let done = groff.wait_with_output().unwrap();
        assert!(done.status.success());
        assert_eq!(String::from_utf8_lossy(&done.stderr), "", "groff warnings");
    }
}

/// A vault holding a discoverable credential for each (rp, user).
fn vault_with_passkeys(name: &str, accounts: &[(&str, &str)]) -> TestVault {
    let vault = TestVault::create(name);
    let server =
        Server::start(&[vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat());
    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    for (i, (rp, user)) in accounts.iter().enumerate() {
        let user_id = format!("{user}-{i}");
        let mut req = MakeCredentialRequest::new([7; 32], rp, user_id.as_bytes());
        req.user = UserEntity {
            id: user_id.into_bytes(),
            name: Some((*user).into()),
            display_name: None,
        };
        req.rk = Some(true);
        key.make_credential(&req).unwrap();
    }
    vault
}

/// (rp id, user name, credential id hex) of every passkey, from `list --json`.
fn passkeys(vault: &TestVault) -> Vec<(String, String, String)> {
    let out = softkey()
        .arg("list")
        .arg("--json")
        .args(vault.serve_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rp_id"].as_str().unwrap().to_owned(),
                c["user_name"].as_str().unwrap().to_owned(),
                c["credential_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn delete(vault: &TestVault, args: &[&str]) -> std::process::Output {
    softkey()
        .arg("delete")
        .args(args)
        .args(vault.serve_args())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn delete_by_rp_and_user_removes_only_that_account() {
    let vault = vault_with_passkeys(
        "del-rp",
        &[
            ("github.com", "alice"),
            ("github.com", "bob"),
            ("gitlab.com", "alice"),
        ],
    );
    let out = delete(&vault, &["--rp", "github.com", "--user", "alice", "--yes"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let said = String::from_utf8(out.stdout).unwrap();
    assert_eq!(said.trim(), "Deleted 1 passkey for github.com (alice).");
    let left: Vec<(String, String)> = passkeys(&vault)
        .into_iter()
        .map(|(rp, user, _)| (rp, user))
        .collect();
    assert_eq!(
        left,
        vec![
            ("github.com".into(), "bob".into()),
            ("gitlab.com".into(), "alice".into())
        ]
    );
    // --rp alone: every account of that RP.
    let out = delete(&vault, &["--rp", "github.com", "--yes"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(passkeys(&vault).len(), 1);
}

#[test]
fn delete_by_id_prefix_prints_json_and_ambiguous_prefixes_list_candidates() {
    // 17 random ids: two of them must share their first hex digit.
    let accounts: Vec<(&str, &str)> = (0..17).map(|_| ("many.example", "u")).collect();
    let names: Vec<String> = (0..17).map(|i| format!("user{i}")).collect();
    let accounts: Vec<(&str, &str)> = accounts
        .iter()
        .zip(&names)
        .map(|((rp, _), name)| (*rp, name.as_str()))
        .collect();
    let vault = vault_with_passkeys("del-id", &accounts);
    let all = passkeys(&vault);
    assert_eq!(all.len(), 17);

    let (_, user, id) = &all[0];
    let out = delete(&vault, &[&id[..12], "--yes", "--json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let deleted: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(deleted.as_array().unwrap().len(), 1);
    assert_eq!(deleted[0]["credential_id"], id.as_str());
    assert_eq!(deleted[0]["user_name"], user.as_str());
    assert_eq!(deleted[0]["rp_id"], "many.example");
    assert!(passkeys(&vault).iter().all(|(_, _, left)| left != id));

    // The full id in capitals is an exact id too.
    let (_, _, id) = &passkeys(&vault)[0];
    let out = delete(&vault, &[&id.to_uppercase(), "--yes"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(passkeys(&vault).len(), 15);

    let left = passkeys(&vault);
    let digit = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|d| {
            left.iter()
                .filter(|(_, _, id)| id.starts_with(d.as_str()))
                .count()
                > 1
        })
        .unwrap();
    let out = delete(&vault, &[&digit, "--yes"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("give more of the id"), "{err}");
    for (_, user, id) in left
        .iter()
        .filter(|(_, _, id)| id.starts_with(digit.as_str()))
    {
        assert!(
            err.contains(&id[..16]) && err.contains(user.as_str()),
            "{err}"
        );
    }
    assert_eq!(passkeys(&vault).len(), 15, "nothing deleted");
}

#[test]
fn delete_errors_say_what_to_do() {
    let vault = vault_with_passkeys("del-err", &[("github.com", "alice")]);
    let before = std::fs::read(&vault.path).unwrap();

    let out = delete(&vault, &["--rp", "nothing.example", "--yes"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("`softkey list`"),
        "{}",
        stderr_of(&out)
    );

    let out = delete(
        &vault,
        &["--rp", "github.com", "--user", "mallory", "--yes"],
    );
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("with user name mallory"),
        "{}",
        stderr_of(&out)
    );

    let out = delete(&vault, &["ffffffffffffffffffffffff", "--yes"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("softkey list --json"),
        "{}",
        stderr_of(&out)
    );

    let out = delete(&vault, &["not-hex", "--yes"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("is not a credential id"),
        "{}",
        stderr_of(&out)
    );

    // No terminal to ask on and no --yes: refuse, change nothing.
    let out = delete(&vault, &["--rp", "github.com"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("pass --yes"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(std::fs::read(&vault.path).unwrap(), before);

    // A running key holds the vault.
    let _server =
        Server::start(&[vault.serve_args(), vec!["--presence".into(), "deny".into()]].concat());
    let out = delete(&vault, &["--rp", "github.com", "--yes"]);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("stop softkey serve first"), "{err}");
    assert!(err.contains("fido2-token -D"), "{err}");
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn delete_asks_on_a_terminal_and_unlocking_shows_its_time() {
    let vault = vault_with_passkeys("del-tty", &[("github.com", "alice")]);
    let path = vault.path.display().to_string();
    let pass = vault.passphrase_file.display().to_string();
    let args = [
        "delete",
        "--rp",
        "github.com",
        "--vault",
        &path,
        "--passphrase-file",
        &pass,
    ];
    let prompt = "Delete 1 passkey for github.com (alice)? [y/N]";
    let wait = std::time::Duration::from_secs(60);
    let t = Terminal::run("del-tty-n", &args);
    t.wait_for(prompt, wait);
    t.type_line("n");
    assert_eq!(t.exit_status(wait), 0, "{}", t.screen());
    let screen = t.screen();
    assert!(screen.contains("Nothing was deleted."), "{screen}");
    // The unlock line ends with its time once the KDF is done.
    let unlock = screen.lines().find(|l| l.contains("Unlocking")).unwrap();
    assert!(
        unlock.contains("(Argon2id, 8 MiB, 1 pass)… unlocked in "),
        "{unlock}"
    );
    assert!(unlock.trim_end().ends_with(" s"), "{unlock}");
    assert_eq!(passkeys(&vault).len(), 1);

    let t = Terminal::run("del-tty-y", &args);
    t.wait_for(prompt, wait);
    t.type_line("y");
    assert_eq!(t.exit_status(wait), 0, "{}", t.screen());
    assert!(
        t.screen()
            .contains("Deleted 1 passkey for github.com (alice)."),
        "{}",
        t.screen()
    );
    assert!(passkeys(&vault).is_empty());
}

/// Off a terminal (journald, CI logs) the unlock still says how long it took.
#[test]
fn unlocking_off_a_terminal_says_when_it_is_done() {
    let vault = TestVault::create("unlock-lines");
    let out = softkey()
        .arg("list")
        .args(vault.serve_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stderr = stderr_of(&out);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Unlocking ") && l.ends_with("(Argon2id, 8 MiB, 1 pass)…"))
        .unwrap_or_else(|| panic!("{stderr}"));
    let next = lines.get(at + 1).copied().unwrap_or_default();
    assert!(
        next.starts_with("  unlocked in ") && next.ends_with(" s"),
        "{stderr}"
    );
}
