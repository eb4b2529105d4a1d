//! End to end through the real binary over real TCP: register a passkey,
//! log in username-free, restart, walk several accounts, excludeList.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use common::{Server, TestVault};
use softkey_conformance::ctap2::{
    Ctap2, GetAssertionRequest, MakeCredentialRequest, UserEntity, flags, status,
};
use softkey_conformance::usbip::UsbipDevice;

const RP: &str = "login.example.com";

fn connect(server: &Server) -> Ctap2<UsbipDevice> {
    Ctap2::connect(server.addr, "1-1").expect("attach and INIT")
}

fn hash(label: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(label.as_bytes()).into()
}

fn register(key: &mut Ctap2<UsbipDevice>, user: &str) -> softkey_conformance::ctap2::Attestation {
    let mut req = MakeCredentialRequest::new(hash(&format!("mc {user}")), RP, user.as_bytes());
    req.user = UserEntity {
        id: user.as_bytes().to_vec(),
        name: Some(format!("{user}@example.com")),
        display_name: Some(format!("User {user}")),
    };
    req.rk = Some(true);
    key.make_credential(&req).expect("makeCredential")
}

#[test]
fn register_then_log_in_username_free_then_again_after_restart() {
    let vault = TestVault::create("restart");
    let mut server =
        Server::start(&[vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat());
    let mut key = connect(&server);
    let info = key.get_info().unwrap();
    assert!(
        info.versions.iter().any(|v| v == "FIDO_2_0"),
        "{:?}",
        info.versions
    );
    assert_eq!(info.option("rk"), Some(true));

    let att = register(&mut key, "alice");
    assert_eq!(att.fmt, "packed");
    assert_ne!(att.auth_data.flags & flags::AT, 0);

    let cdh = hash("login 1");
    let first = key
        .get_assertion(&GetAssertionRequest::new(RP, cdh))
        .unwrap();
    first
        .verify(att.public_key(), &cdh)
        .expect("signature verifies with the registered key");
    assert_eq!(first.credential_id, att.credential_id());
    assert_eq!(first.user.as_ref().unwrap().id, b"alice");
    assert_eq!(
        first.user.as_ref().unwrap().name,
        None,
        "no PIN, so no user verification, so no name (CTAP 2.1 §6.2.2 step 12.3)"
    );
    assert!(first.sign_count() > att.sign_count(), "counter must grow");
    drop(key);

    // A crash (SIGKILL) and a new process on the same vault: the passkey is
    // still there and the counter has not gone backwards.
    server.kill();
    let server =
        Server::start(&[vault.serve_args(), vec!["--presence".into(), "auto".into()]].concat());
    let mut key = connect(&server);
    let cdh = hash("login 2");
    let second = key
        .get_assertion(&GetAssertionRequest::new(RP, cdh))
        .unwrap();
    second.verify(att.public_key(), &cdh).unwrap();
    assert!(
        second.sign_count() > first.sign_count(),
        "{} then {}",
        first.sign_count(),
        second.sign_count()
    );
}

#[test]
fn three_accounts_walked_with_get_next_assertion() {
    let server = Server::ephemeral();
    let mut key = connect(&server);
    let mut keys = std::collections::HashMap::new();
    for user in ["ann", "bob", "cy"] {
        let att = register(&mut key, user);
        keys.insert(user.as_bytes().to_vec(), att.public_key().clone());
    }
    let cdh = hash("pick an account");
    let first = key
        .get_assertion(&GetAssertionRequest::new(RP, cdh))
        .unwrap();
    assert_eq!(first.number_of_credentials, Some(3));
    let mut seen = vec![first];
    seen.push(key.get_next_assertion().unwrap());
    seen.push(key.get_next_assertion().unwrap());
    // Newest first (CTAP 2.1 §6.2.2), each signed by its own key.
    let order: Vec<Vec<u8>> = seen
        .iter()
        .map(|a| a.user.as_ref().unwrap().id.clone())
        .collect();
    assert_eq!(
        order,
        vec![b"cy".to_vec(), b"bob".to_vec(), b"ann".to_vec()]
    );
    for a in &seen {
        a.verify(&keys[&a.user.as_ref().unwrap().id], &cdh).unwrap();
    }
    let err = key.get_next_assertion().unwrap_err();
    assert_eq!(err.ctap_status(), Some(status::NOT_ALLOWED));
}

#[test]
fn exclude_list_and_non_discoverable_credentials() {
    let server = Server::ephemeral();
    let mut key = connect(&server);
    // A non-discoverable credential: nothing stored, found through its ID.
    let req = MakeCredentialRequest::new(hash("mc nd"), RP, b"dave");
    let att = key.make_credential(&req).unwrap();
    let cdh = hash("login nd");
    let mut get = GetAssertionRequest::new(RP, cdh);
    get.allow_list = vec![vec![0u8; 40], att.credential_id().to_vec()];
    let a = key.get_assertion(&get).unwrap();
    a.verify(att.public_key(), &cdh).unwrap();
    assert_eq!(a.credential_id, att.credential_id());
    // Not discoverable: a username-free login does not find it.
    let err = key
        .get_assertion(&GetAssertionRequest::new(RP, cdh))
        .unwrap_err();
    assert_eq!(err.ctap_status(), Some(status::NO_CREDENTIALS));
    // The same ID names nothing for another RP.
    let mut other = GetAssertionRequest::new("other.example", cdh);
    other.allow_list = vec![att.credential_id().to_vec()];
    assert_eq!(
        key.get_assertion(&other).unwrap_err().ctap_status(),
        Some(status::NO_CREDENTIALS)
    );
    // excludeList naming it: CREDENTIAL_EXCLUDED.
    let mut again = MakeCredentialRequest::new(hash("mc again"), RP, b"dave");
    again.exclude_list = vec![att.credential_id().to_vec()];
    let err = key.make_credential(&again).unwrap_err();
    assert_eq!(err.ctap_status(), Some(status::CREDENTIAL_EXCLUDED));
    // Silent probe (up=false): an assertion without the UP flag.
    get.up = Some(false);
    let silent = key.get_assertion(&get).unwrap();
    assert_eq!(silent.flags() & flags::UP, 0);
}

#[test]
fn presence_deny_refuses_registration() {
    let server = Server::start(&["--ephemeral", "--presence", "deny"]);
    let mut key = connect(&server);
    let err = key
        .make_credential(&MakeCredentialRequest::new(hash("x"), RP, b"eve"))
        .unwrap_err();
    assert_eq!(err.ctap_status(), Some(status::OPERATION_DENIED));
}
