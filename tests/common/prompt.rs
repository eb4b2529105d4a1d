//! The request every presence-prompt test asks about, and what the client saw
//! while the prompt was open.

use softkey_conformance::ctap2::{Ctap2, MakeCredentialRequest, UserEntity, command};
use softkey_conformance::usbip::UsbipDevice;

/// CTAPHID_KEEPALIVE status "user presence needed" (CTAP 2.1 §11.2.9.1.5).
pub const UPNEEDED: u8 = 0x02;

/// A registration for "zoe" (Zoe Z.) at shop.example.
pub fn zoe_registration() -> MakeCredentialRequest {
    let mut req = MakeCredentialRequest::new([7; 32], "shop.example", b"zoe");
    req.user = UserEntity {
        id: b"zoe".to_vec(),
        name: Some("zoe".into()),
        display_name: Some("Zoe Z.".into()),
    };
    req
}

/// A registration whose names were chosen by a hostile page: the user name
/// would return the cursor, erase the line and move up to repaint the
/// prompt as another site's, and the display name reverses itself with a
/// right-to-left override to read "google.com".
pub fn hostile_registration() -> MakeCredentialRequest {
    let mut req = MakeCredentialRequest::new([7; 32], "evil.example", b"mallory");
    req.user = UserEntity {
        id: b"mallory".to_vec(),
        name: Some("alice\r\x1b[2K\x1b[1A\"github.com\" asks to sign in".into()),
        display_name: Some("\u{202e}moc.elgoog".into()),
    };
    req
}

/// How every prompt must show [`hostile_registration`]: each control and
/// formatting character, and each quote inside a name, escaped visibly.
pub const HOSTILE_PROMPT: &str = r#""evil.example" asks to register as "alice\r\x1b[2K\x1b[1A\"github.com\" asks to sign in" (\u{202e}moc.elgoog)"#;

/// Sends the hostile registration without waiting for the answer.
pub fn start_hostile_registration(key: &mut Ctap2<UsbipDevice>) {
    key.hid()
        .begin_cbor(command::MAKE_CREDENTIAL, &hostile_registration().encode())
        .unwrap();
}

/// Sends zoe's registration without waiting for the answer, so a prompt opens;
/// `key.hid().finish_cbor()` collects the answer later.
pub fn start_zoe_registration(key: &mut Ctap2<UsbipDevice>) {
    key.hid()
        .begin_cbor(command::MAKE_CREDENTIAL, &zoe_registration().encode())
        .unwrap();
}

/// How many KEEPALIVE UPNEEDED packets the client received for its request.
pub fn upneeded_keepalives(key: &mut Ctap2<UsbipDevice>) -> usize {
    key.hid()
        .keepalives()
        .iter()
        .filter(|k| k.status == UPNEEDED)
        .count()
}
