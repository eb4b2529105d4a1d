//! A store that cannot grow, end to end: `softkey serve` runs under a file
//! size limit just above its vault's size, so the vault's next append fails
//! as a full disk does. makeCredential must answer CTAP2_ERR_KEY_STORE_FULL
//! (CTAP 2.1 §6.1.2 step 17 "If there is no space left"; §8.2 0x28), the
//! log must name the command and the cause, and nothing half-written may
//! stay behind: the key keeps answering and the vault still opens.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::{Server, TestVault};
use softkey_conformance::ctap2::{Ctap2, MakeCredentialRequest};

#[test]
fn make_credential_on_a_full_store_answers_key_store_full_and_logs_why() {
    let vault = TestVault::create("store-full");
    let size = std::fs::metadata(&vault.path).unwrap().len();
    // ulimit -f counts 512-byte blocks: room for less than one block more
    // than the vault holds now. SIGXFSZ is ignored (an ignored disposition
    // survives exec), so the write fails with EFBIG instead of killing.
    let blocks = size.div_ceil(512);
    let script = format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\"");
    let mut args = vault.serve_args();
    args.extend(["--presence".into(), "auto".into()]);
    let server = Server::start_through_shell(&script, &args);

    let mut key = Ctap2::connect(server.addr, "1-1").unwrap();
    // A discoverable credential with a long user name: its record cannot
    // fit in the room left.
    let mut full = MakeCredentialRequest::new([7; 32], "full.example", &[1; 64]);
    full.user.name = Some("a".repeat(400));
    full.rk = Some(true);
    let error = key.make_credential(&full).unwrap_err();
    assert_eq!(error.ctap_status(), Some(0x28), "{error}");

    // The key still answers, and the failure is in the log with its cause.
    key.get_info().unwrap();
    assert!(
        server.wait_stderr("store full", Duration::from_secs(5)),
        "{}",
        server.stderr()
    );
    let log = server.stderr();
    let line = log.lines().find(|l| l.contains("store full")).unwrap();
    assert!(line.contains("makeCredential"), "{line}");
    assert!(line.contains("0x28"), "{line}");
    assert!(line.contains("File too large"), "{line}");
    drop(key);
    drop(server);

    // Nothing half-written: the vault opens and holds no credential.
    assert_eq!(vault.list_json().trim(), "[]");
}
