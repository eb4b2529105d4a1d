//! CTAP1/U2F over CTAPHID_MSG (FIDO U2F Raw Message Formats v1.2; CTAP 2.1
//! "Interoperating with CTAP1/U2F authenticators").
//!
//! [`Authenticator::process_apdu`] takes one command APDU and returns the
//! response data followed by the 2-byte status word (§3.2 "Response Message
//! Framing"). Instructions: REGISTER ([`register`]), AUTHENTICATE
//! ([`authenticate`]) and VERSION ([`version`]).
//!
//! U2F and CTAP2 share one credential format: a U2F key handle is a CTAP2
//! credential ID whose rpIdHash is the U2F application parameter, and the
//! U2F authentication signature covers `application || UP || counter ||
//! challenge`, which is exactly CTAP2 `authData || clientDataHash` with
//! only the UP flag. So a U2F registration answers CTAP2 getAssertion for
//! the rpId hashing to its application parameter, and a CTAP2 ES256
//! credential answers U2F AUTHENTICATE, as the CTAP 2.1 interoperability
//! section expects of a device speaking both. Both share the global
//! signature counter.

mod apdu;
mod authenticate;
mod register;
mod version;

use crate::Authenticator;
use crate::env::Env;
use crate::error::Error;
use crate::status::CtapError;

/// ISO 7816-4 status words used by U2F (U2F Raw Message Formats v1.2
/// §3.3 "Status Codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum StatusWord {
    /// SW_NO_ERROR
    NoError = 0x9000,
    /// SW_CONDITIONS_NOT_SATISFIED: test of user presence required (also
    /// the "success" answer of check-only, §5.1).
    ConditionsNotSatisfied = 0x6985,
    /// SW_WRONG_DATA: bad key handle (or other invalid data).
    WrongData = 0x6A80,
    /// SW_WRONG_LENGTH
    WrongLength = 0x6700,
    /// SW_CLA_NOT_SUPPORTED
    ClaNotSupported = 0x6E00,
    /// SW_INS_NOT_SUPPORTED
    InsNotSupported = 0x6D00,
    /// ISO 7816-4 SW_COMMAND_NOT_ALLOWED: U2F is disabled (alwaysUv).
    CommandNotAllowed = 0x6986,
    /// ISO 7816-4 "no precise diagnosis": an internal failure (store,
    /// counter exhausted, no attestation key).
    Unknown = 0x6F00,
}

impl StatusWord {
    /// SW1 SW2, as they end a response APDU.
    pub fn bytes(self) -> [u8; 2] {
        (self as u16).to_be_bytes()
    }

    /// A response APDU holding only this status word.
    pub fn to_vec(self) -> Vec<u8> {
        self.bytes().to_vec()
    }
}

/// U2F instruction bytes (§4.1, §5.1, §6.1).
mod ins {
    pub(super) const REGISTER: u8 = 0x01;
    pub(super) const AUTHENTICATE: u8 = 0x02;
    pub(super) const VERSION: u8 = 0x03;
}

/// The only class byte U2F defines (§3.1).
const CLA: u8 = 0x00;

impl Authenticator {
    /// Processes one U2F command APDU (the payload of a CTAPHID_MSG) and
    /// returns `response data || SW1 SW2`. Never panics; every answer ends
    /// with a status word, and errors carry no data.
    pub fn process_apdu<E: Env>(&mut self, env: &mut E, apdu: &[u8]) -> Vec<u8> {
        // CTAP 2.1 §6.3: any other command ends a getNextAssertion sequence.
        self.assertion_state = None;
        match self.dispatch_apdu(env, apdu) {
            Ok(mut data) => {
                data.extend_from_slice(&StatusWord::NoError.bytes());
                data
            }
            Err(e) => {
                if let U2fError::Fault(cause) = &e {
                    tracing::error!(command = "U2F", %cause, "request failed");
                }
                e.status_word().bytes().to_vec()
            }
        }
    }

    fn dispatch_apdu<E: Env>(&mut self, env: &mut E, raw: &[u8]) -> Result<Vec<u8>, U2fError> {
        // CTAP 2.1 §7.2 (alwaysUv): U2F cannot verify the user and we have
        // no built-in UV, so with alwaysUv on, CTAP1/U2F is disabled
        // entirely (and getInfo drops U2F_V2), as OpenSK does.
        let always_uv = self.device_settings(env)?.always_uv;
        if always_uv {
            return Err(StatusWord::CommandNotAllowed.into());
        }
        // Length encodings first (6700), then CLA (6E00), then INS (6D00);
        // each instruction checks its own data length (6700).
        let apdu = apdu::parse(raw)?;
        if apdu.cla != CLA {
            return Err(StatusWord::ClaNotSupported.into());
        }
        match apdu.ins {
            ins::REGISTER => self.u2f_register(env, &apdu),
            ins::AUTHENTICATE => self.u2f_authenticate(env, &apdu),
            ins::VERSION => Ok(version::version(&apdu)?),
            _ => Err(StatusWord::InsNotSupported.into()),
        }
    }
}

/// A short name for a U2F application in logs and test transcripts: U2F
/// sends only SHA-256 of the application id, so this is a prefix of that
/// hash, never a guessed site name. (Prompts word U2F requests from
/// [`crate::Requester::U2fApplication`], not from this text.)
#[cfg(any(test, feature = "testing"))]
pub(crate) fn application_label(application: &[u8; 32]) -> String {
    let mut label = String::from("U2F app ");
    for byte in application.iter().take(4) {
        label.push_str(&format!("{byte:02x}"));
    }
    label
}

/// Why a U2F request failed: the status word U2F prescribes, or a fault of
/// the key, which U2F can only answer with "no precise diagnosis" and whose
/// cause [`Authenticator::process_apdu`] logs.
#[derive(Debug)]
pub(crate) enum U2fError {
    Refused(StatusWord),
    Fault(Error),
}

impl U2fError {
    fn status_word(&self) -> StatusWord {
        match self {
            U2fError::Refused(word) => *word,
            U2fError::Fault(_) => StatusWord::Unknown,
        }
    }
}

impl From<StatusWord> for U2fError {
    fn from(word: StatusWord) -> Self {
        U2fError::Refused(word)
    }
}

impl From<Error> for U2fError {
    fn from(e: Error) -> Self {
        U2fError::Fault(e)
    }
}

impl From<CtapError> for U2fError {
    fn from(e: CtapError) -> Self {
        U2fError::Fault(e.into())
    }
}

/// Splits `challenge (32) || application (32)` off the front of `data`.
fn challenge_and_application(data: &[u8]) -> Option<([u8; 32], [u8; 32], &[u8])> {
    let (challenge, rest) = data.split_at_checked(32)?;
    let (application, rest) = rest.split_at_checked(32)?;
    Some((
        challenge.try_into().ok()?,
        application.try_into().ok()?,
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::testing::TestEnv;

    fn run(apdu: &[u8]) -> Vec<u8> {
        let mut env = TestEnv::new(3);
        let mut a = Authenticator::new(Config::default());
        a.process_apdu(&mut env, apdu)
    }

    #[test]
    fn status_words_are_big_endian() {
        assert_eq!(StatusWord::NoError.bytes(), [0x90, 0x00]);
        assert_eq!(StatusWord::WrongData.bytes(), [0x6A, 0x80]);
    }

    #[test]
    fn bad_cla_ins_and_length() {
        // §3.3: SW_CLA_NOT_SUPPORTED, SW_INS_NOT_SUPPORTED, SW_WRONG_LENGTH.
        assert_eq!(run(&[0x80, 0x03, 0, 0]), [0x6E, 0x00]);
        assert_eq!(run(&[0x00, 0x04, 0, 0]), [0x6D, 0x00]);
        assert_eq!(run(&[0x00, 0x40, 0, 0]), [0x6D, 0x00], "vendor range");
        assert_eq!(run(&[0x00, 0x03, 0]), [0x67, 0x00]);
        assert_eq!(run(&[]), [0x67, 0x00]);
    }

    #[test]
    fn always_uv_disables_u2f() {
        let mut env = TestEnv::new(3);
        let mut a = Authenticator::new(Config::default());
        assert_eq!(a.process_apdu(&mut env, &[0, 3, 0, 0]), b"U2F_V2\x90\x00");
        a.toggle_always_uv(&mut env).unwrap();
        for apdu in [
            &[0u8, 3, 0, 0][..],
            &[0, 1, 0, 0, 0, 0, 64],
            &[0x80, 2, 3, 0],
        ] {
            assert_eq!(a.process_apdu(&mut env, apdu), [0x69, 0x86]);
        }
        a.toggle_always_uv(&mut env).unwrap();
        assert_eq!(a.process_apdu(&mut env, &[0, 3, 0, 0]), b"U2F_V2\x90\x00");
    }

    #[test]
    fn label_shows_the_hash_prefix() {
        let mut app = [0u8; 32];
        app[..4].copy_from_slice(&[0xDE, 0xAD, 0x01, 0x02]);
        assert_eq!(application_label(&app), "U2F app dead0102");
    }
}
