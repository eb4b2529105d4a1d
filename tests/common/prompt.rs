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
