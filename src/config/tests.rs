use super::*;
use crate::cli::{AttestationArg, PresenceMode, TransportArg};

fn parsed(text: &str) -> Result<FileValues> {
    parse(text, Path::new("/etc/sk/config.toml"))
}

fn error(text: &str) -> String {
    format!("{:#}", parsed(text).unwrap_err())
}

#[test]
fn every_key_parses_with_its_line() {
    let v = parsed(
        "# softkey\nvault = \"/v/vault.softkey\"\npassphrase_file = \"pw\"\n\
         listen = \"127.0.0.1:4000\"\nallow_remote = true\npresence = \"socket\"\n\
         prompt_timeout = 45\nattestation = \"batch\"\ncontrol_socket = \"/run/c.sock\"\n\
         transport = \"uhid\"\n",
    )
    .unwrap();
    let at = |key: &str| v.get(key).unwrap();
    let vault = at("vault");
    assert_eq!(
        (&vault.value, vault.line),
        (&Parsed::Path("/v/vault.softkey".into()), 2)
    );
    // Relative to the file's directory.
    assert_eq!(
        at("passphrase_file").value,
        Parsed::Path(PathBuf::from("/etc/sk/pw"))
    );
    assert_eq!(
        at("listen").value,
        Parsed::Addr("127.0.0.1:4000".parse().unwrap())
    );
    assert_eq!(at("allow_remote").value, Parsed::Flag(true));
    assert_eq!(at("presence").value, Parsed::Presence(PresenceMode::Socket));
    let timeout = at("prompt_timeout");
    assert_eq!((&timeout.value, timeout.line), (&Parsed::Seconds(45), 7));
    assert_eq!(
        at("attestation").value,
        Parsed::Attestation(AttestationArg::Batch)
    );
    assert_eq!(
        at("control_socket").value,
        Parsed::Path(PathBuf::from("/run/c.sock"))
    );
    let transport = at("transport");
    assert_eq!(
        (&transport.value, transport.line),
        (&Parsed::Transport(TransportArg::Uhid), 10)
    );
    assert!(parsed("").unwrap().get("vault").is_none());
}

#[test]
fn algorithms_take_a_list_a_comma_string_or_all() {
    use softkey_authenticator::Algorithm::{EdDsa, Es256, Es256K, Es384};
    let list = |text: &str| match parsed(text).unwrap().get("algorithms").unwrap().value {
        Parsed::Algorithms(ref a) => a.0.clone(),
        ref other => panic!("{other:?}"),
    };
    assert_eq!(
        list("algorithms = [\"ES384\", \"es256\"]\n"),
        [Es384, Es256]
    );
    assert_eq!(list("algorithms = \"EdDSA, ES256K\"\n"), [EdDsa, Es256K]);
    assert_eq!(
        list("algorithms = \"all\"\n"),
        softkey_authenticator::SUPPORTED_ALGORITHMS
    );
    for bad in ["[]", "[\"ES256\", \"ES256\"]", "\"RS1\"", "[1]", "true"] {
        let e = error(&format!("algorithms = {bad}\n"));
        assert!(
            e.contains("`algorithms` must be \"all\" or a list"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn unknown_keys_and_wrong_values_name_file_line_key_and_what_is_allowed() {
    let e = error("vault = \"/v\"\n\nvaults = \"/w\"\n");
    assert!(e.contains("/etc/sk/config.toml:3"), "{e}");
    assert!(e.contains("unknown key `vaults`"), "{e}");
    assert!(e.contains("presence"), "lists the keys: {e}");
    let e = error("[serve]\nlisten = \"x\"\n");
    assert!(e.contains(":1: unknown key `serve`"), "{e}");
    let e = error("allow_remote = \"yes\"\n");
    assert!(
        e.contains(":1: `allow_remote` must be true or false, not \"yes\""),
        "{e}"
    );
    let e = error("\npresence = \"maybe\"\n");
    assert!(e.contains(":2: `presence` must be one of \"tty\""), "{e}");
    for bad in ["0", "601", "-5", "\"30\"", "1.5", "0x10"] {
        let e = error(&format!("prompt_timeout = {bad}\n"));
        assert!(
            e.contains("`prompt_timeout` must be a number of seconds from 1 to 600"),
            "{e}"
        );
    }
    let e = error("listen = \"localhost\"\n");
    assert!(e.contains("`listen` must be \"ADDR:PORT\""), "{e}");
    let e = error("vault = 3\n");
    assert!(e.contains("`vault` must be a path"), "{e}");
    let e = error("vault = \n");
    assert!(e.contains("/etc/sk/config.toml:1:"), "{e}");
}

#[test]
fn sources_read_well() {
    assert_eq!(Source::CommandLine.to_string(), "command line");
    assert_eq!(
        Source::Environment(CONTROL_SOCKET_ENV).to_string(),
        "environment (SOFTKEY_CONTROL_SOCKET)"
    );
    let file = Source::File {
        path: "/c.toml".into(),
        line: 4,
    };
    assert_eq!(file.to_string(), "config file /c.toml:4");
    assert_eq!(Source::Default.to_string(), "default");
}
