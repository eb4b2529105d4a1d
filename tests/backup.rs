//! `softkey export` / `import` / `passphrase` end to end through the real
//! binary: export, wipe, import gives back every credential; logins still
//! verify and the counter never goes back; bad backups change nothing.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Server, TestVault, softkey};
use softkey_conformance::ctap2::{
    Attestation, Ctap2, GetAssertionRequest, MakeCredentialRequest, UserEntity,
};
use softkey_conformance::usbip::UsbipDevice;

const BACKUP_PASSPHRASE: &str = "backup passphrase for tests";

fn hash(label: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(label.as_bytes()).into()
}

fn connect(server: &Server) -> Ctap2<UsbipDevice> {
    Ctap2::connect(server.addr, "1-1").expect("attach and INIT")
}

fn serve(vault: &TestVault) -> Server {
    Server::start(&[vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat())
}

fn register(key: &mut Ctap2<UsbipDevice>, rp: &str, user: &str, rk: bool) -> Attestation {
    let mut req = MakeCredentialRequest::new(hash(&format!("mc {rp} {user}")), rp, user.as_bytes());
    req.user = UserEntity {
        id: user.as_bytes().to_vec(),
        name: Some(format!("{user}@{rp}")),
        display_name: Some(format!("User {user}")),
    };
    req.rk = Some(rk);
    key.make_credential(&req).expect("makeCredential")
}

/// A getAssertion naming one credential; returns its counter after checking the signature.
fn log_in(key: &mut Ctap2<UsbipDevice>, rp: &str, att: &Attestation, label: &str) -> u32 {
    let cdh = hash(label);
    let mut req = GetAssertionRequest::new(rp, cdh);
    req.allow_list = vec![att.credential_id().to_vec()];
    let assertion = key.get_assertion(&req).expect("getAssertion");
    assertion
        .verify(att.public_key(), &cdh)
        .expect("signature verifies");
    assertion.sign_count()
}

struct Files {
    backup: PathBuf,
    backup_passphrase: PathBuf,
}

fn files(vault: &TestVault) -> Files {
    let backup_passphrase = vault.dir.path().join("backup-passphrase");
    std::fs::write(&backup_passphrase, format!("{BACKUP_PASSPHRASE}\n")).unwrap();
    Files {
        backup: vault.dir.path().join("passkeys.skbackup"),
        backup_passphrase,
    }
}

fn run(args: &[&str], vault: &TestVault, extra: &[&Path]) -> Output {
    let mut cmd = softkey();
    cmd.args(args)
        .arg("--vault")
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file);
    for path in extra {
        cmd.arg(path);
    }
    cmd.output().unwrap()
}

fn export(vault: &TestVault, f: &Files) -> Output {
    let mut cmd = softkey();
    cmd.arg("export")
        .arg(&f.backup)
        .args(["--kdf-memory-mib", "8", "--kdf-iterations", "1", "--vault"])
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file)
        .arg("--backup-passphrase-file")
        .arg(&f.backup_passphrase);
    cmd.output().unwrap()
}

fn import(vault: &TestVault, backup: &Path, passphrase: &Path) -> Output {
    let mut cmd = softkey();
    cmd.arg("import")
        .arg(backup)
        .arg("--json")
        .arg("--vault")
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file)
        .arg("--backup-passphrase-file")
        .arg(passphrase);
    cmd.output().unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Deletes the vault file (and its lock) and makes a new, empty one at the same path.
fn wipe(vault: &TestVault) {
    std::fs::remove_file(&vault.path).unwrap();
    let _ = std::fs::remove_file(vault.path.with_extension("softkey.lock"));
    let out = softkey()
        .args([
            "init",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
            "--vault",
        ])
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file)
        .output()
        .unwrap();
    ok(&out, "init after wipe");
}

#[test]
fn export_wipe_import_restores_every_credential_with_a_rising_counter() {
    let vault = TestVault::create("backup-roundtrip");
    let f = files(&vault);
    let mut server = serve(&vault);
    let mut key = connect(&server);
    let alice = register(&mut key, "shop.example", "alice", true);
    let bob = register(&mut key, "shop.example", "bob", true);
    let carol = register(&mut key, "mail.example", "carol", true);
    // A non-discoverable credential (nothing stored: its ID wraps the key).
    let dave = register(&mut key, "bank.example", "dave", false);
    let mut last = 0;
    for (rp, att) in [
        ("shop.example", &alice),
        ("shop.example", &bob),
        ("mail.example", &carol),
        ("bank.example", &dave),
    ] {
        last = last.max(log_in(&mut key, rp, att, "before export"));
    }
    drop(key);
    server.kill();

    let out = export(&vault, &f);
    let stdout = ok(&out, "export");
    assert!(stdout.contains("Exported 3 passkeys"), "{stdout}");
    let sealed = std::fs::read(&f.backup).unwrap();
    assert!(sealed.starts_with(b"SKBACKUP"), "own magic");
    for secret in ["alice", "shop.example", "passkey"] {
        assert!(
            !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} visible in the sealed backup"
        );
    }

    wipe(&vault);
    let listed = ok(&run(&["list", "--json"], &vault, &[]), "list");
    assert_eq!(json(&listed).as_array().unwrap().len(), 0, "wiped");

    let report = json(&ok(
        &import(&vault, &f.backup, &f.backup_passphrase),
        "import",
    ));
    assert_eq!(report["added"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["kept_existing"].as_array().unwrap().len(), 0);
    assert!(report["sign_count"].as_u64().unwrap() >= u64::from(last));

    let server = serve(&vault);
    let mut key = connect(&server);
    let mut previous = last;
    for (rp, att) in [
        ("shop.example", &alice),
        ("shop.example", &bob),
        ("mail.example", &carol),
        ("bank.example", &dave),
    ] {
        let counter = log_in(&mut key, rp, att, "after import");
        assert!(
            counter > previous,
            "counter went from {previous} to {counter}"
        );
        previous = counter;
    }
    // Username-less: both shop.example accounts are discoverable again.
    let cdh = hash("username-less after import");
    let first = key
        .get_assertion(&GetAssertionRequest::new("shop.example", cdh))
        .unwrap();
    assert_eq!(first.number_of_credentials, Some(2));
    let second = key.get_next_assertion().unwrap();
    let mut users: Vec<Vec<u8>> = [&first, &second]
        .iter()
        .map(|a| a.user.as_ref().unwrap().id.clone())
        .collect();
    users.sort();
    assert_eq!(users, vec![b"alice".to_vec(), b"bob".to_vec()]);
    drop(key);
    drop(server);

    // Importing the same backup again adds nothing and says which were kept.
    let again = json(&ok(
        &import(&vault, &f.backup, &f.backup_passphrase),
        "re-import",
    ));
    assert_eq!(again["added"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(
        again["kept_existing"].as_array().unwrap().len(),
        3,
        "{again}"
    );
}

#[test]
fn a_hostile_backup_is_refused_before_its_kdf_runs() {
    // 83 bytes that ask for Argon2id over 4 GiB, 64 passes: within the
    // format's bounds, and minutes of the machine's memory if run.
    let vault = TestVault::create("backup-hostile");
    let f = files(&vault);
    let mut hostile = b"SKBACKUP".to_vec();
    hostile.extend_from_slice(&1u16.to_le_bytes()); // version
    hostile.push(1); // Argon2id
    hostile.extend_from_slice(&(4u32 * 1024 * 1024).to_le_bytes()); // 4 GiB in KiB
    hostile.extend_from_slice(&64u32.to_le_bytes()); // passes
    hostile.extend_from_slice(&1u32.to_le_bytes()); // lanes
    hostile.extend_from_slice(&[7; 16]); // salt
    hostile.extend_from_slice(&[8; 12]); // nonce
    hostile.extend_from_slice(&28u32.to_le_bytes()); // body length
    hostile.extend_from_slice(&[9; 28]); // "ciphertext" and tag
    assert_eq!(hostile.len(), 83);
    let path = vault.dir.path().join("hostile.skbackup");
    std::fs::write(&path, &hostile).unwrap();
    let before = std::fs::read(&vault.path).unwrap();
    let started = std::time::Instant::now();
    let out = import(&vault, &path, &f.backup_passphrase);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "the KDF ran: {:?}",
        started.elapsed()
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("asks for Argon2id, 4096 MiB, 64 passes")
            && stderr.contains("nothing was run")
            && stderr.contains("--trust-kdf-cost"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&vault.path).unwrap(),
        before,
        "vault untouched"
    );
}

#[test]
fn wrong_passphrase_or_damaged_backup_leaves_the_vault_untouched() {
    let vault = TestVault::create("backup-bad");
    let f = files(&vault);
    {
        let server = serve(&vault);
        let mut key = connect(&server);
        register(&mut key, "shop.example", "erin", true);
    }
    ok(&export(&vault, &f), "export");
    let before = std::fs::read(&vault.path).unwrap();

    let wrong = vault.dir.path().join("wrong");
    std::fs::write(&wrong, "not the backup passphrase\n").unwrap();
    let out = import(&vault, &f.backup, &wrong);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wrong backup passphrase"), "{stderr}");
    assert!(!stderr.contains(BACKUP_PASSPHRASE));

    let mut damaged = std::fs::read(&f.backup).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x01;
    let damaged_path = vault.dir.path().join("damaged.skbackup");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let out = import(&vault, &damaged_path, &f.backup_passphrase);
    assert!(!out.status.success());

    let truncated_path = vault.dir.path().join("truncated.skbackup");
    std::fs::write(&truncated_path, &damaged[..damaged.len() / 3]).unwrap();
    let out = import(&vault, &truncated_path, &f.backup_passphrase);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not changed"), "{stderr}");

    assert_eq!(
        std::fs::read(&vault.path).unwrap(),
        before,
        "vault untouched"
    );
    // Export refuses to overwrite the existing backup.
    let out = export(&vault, &f);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn passphrase_change_keeps_credentials_and_retires_the_old_passphrase() {
    let vault = TestVault::create("backup-passphrase");
    {
        let server = serve(&vault);
        let mut key = connect(&server);
        register(&mut key, "shop.example", "frank", true);
    }
    let new_file = vault.dir.path().join("new-passphrase");
    std::fs::write(&new_file, "a brand new passphrase\n").unwrap();
    let out = softkey()
        .args([
            "passphrase",
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
            "--vault",
        ])
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&vault.passphrase_file)
        .arg("--new-passphrase-file")
        .arg(&new_file)
        .output()
        .unwrap();
    ok(&out, "passphrase");

    let out = run(&["list", "--json"], &vault, &[]);
    assert!(
        !out.status.success(),
        "the old passphrase no longer opens it"
    );
    let out = softkey()
        .args(["list", "--json", "--vault"])
        .arg(&vault.path)
        .arg("--passphrase-file")
        .arg(&new_file)
        .output()
        .unwrap();
    let listed = json(&ok(&out, "list with the new passphrase"));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["rp_id"], "shop.example");
}
