//! U2F_VERSION (FIDO U2F Raw Message Formats v1.2 §6.1 "GetVersion Request
//! and Response Message"): no data in, the ASCII string "U2F_V2" out.

use super::StatusWord;
use super::apdu::Apdu;

/// The version string of U2F Raw Message Formats v1.2 (§6.1).
const U2F_V2: &[u8] = b"U2F_V2";

pub(super) fn version(apdu: &Apdu<'_>) -> Result<Vec<u8>, StatusWord> {
    // §6.1: the request has no data (an Le alone is fine).
    if !apdu.data.is_empty() {
        return Err(StatusWord::WrongLength);
    }
    Ok(U2F_V2.to_vec())
}

#[cfg(test)]
mod tests {
    use crate::testing::TestEnv;
    use crate::{Authenticator, Config};

    #[test]
    fn version_in_every_encoding_without_data() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        for apdu in [
            &[0u8, 3, 0, 0][..],
            &[0, 3, 0, 0, 0],
            &[0, 3, 0, 0, 0, 0, 0],
            &[0, 3, 0, 0, 0, 0x01, 0x00],
            // python-fido2's framing.
            &[0, 3, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                a.process_apdu(&mut env, apdu),
                b"U2F_V2\x90\x00",
                "{apdu:02X?}"
            );
        }
        // Data with VERSION is a length error (§6.1: no request data).
        assert_eq!(
            a.process_apdu(&mut env, &[0, 3, 0, 0, 1, 0xAA]),
            [0x67, 0x00]
        );
        assert_eq!(
            a.process_apdu(&mut env, &[0, 3, 0, 0, 0, 0, 1, 0xAA]),
            [0x67, 0x00]
        );
        // VERSION touches nothing.
        assert_eq!(env.store.writes(), 0);
        assert!(env.presence.log().is_empty());
    }
}
