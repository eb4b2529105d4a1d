//! U2F_AUTHENTICATE (FIDO U2F Raw Message Formats v1.2 §5
//! "Authentication Messages").
//!
//! Request data (§5.1): `challenge (32) || application (32) || L (1) ||
//! key handle (L)`; P1 is the control byte:
//!
//! - `0x07` check-only: SW_CONDITIONS_NOT_SATISFIED if the key handle is
//!   ours for this application ("despite the name this signals a success
//!   condition"), else SW_WRONG_DATA. No prompt, no counter use.
//! - `0x03` enforce-user-presence-and-sign: test of user presence, then sign.
//! - `0x08` dont-enforce-user-presence-and-sign: sign without asking; the
//!   user-presence byte is then 0x00.
//!
//! Response (§5.4): `user presence (1) || counter (4, big-endian) ||
//! signature` over `application || user presence || counter || challenge`.
//! A key handle is "ours" when it is a live credential of ours for the
//! application (a deleted discoverable credential is not), usable without
//! UV, and ES256 (U2F signatures are ECDSA P-256).

use super::apdu::Apdu;
use super::{StatusWord, U2fError, challenge_and_application};
use crate::Authenticator;
use crate::auth_data::{self, FLAG_UP};
use crate::env::{Env, Operation, Requester};
use crate::keys::Algorithm;
use crate::lookup::{self, Found};
use crate::presence;

/// §5.1 control byte values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    CheckOnly,
    EnforcePresence,
    DontEnforcePresence,
}

impl Control {
    fn parse(p1: u8) -> Result<Self, StatusWord> {
        match p1 {
            0x07 => Ok(Control::CheckOnly),
            0x03 => Ok(Control::EnforcePresence),
            0x08 => Ok(Control::DontEnforcePresence),
            // §5.1 defines no other value and §3.3 no "bad P1" status; an
            // unknown control byte is invalid request data (SW_WRONG_DATA,
            // as OpenSK and the Trussed fido-authenticator answer).
            _ => Err(StatusWord::WrongData),
        }
    }
}

impl Authenticator {
    pub(super) fn u2f_authenticate<E: Env>(
        &mut self,
        env: &mut E,
        apdu: &Apdu<'_>,
    ) -> Result<Vec<u8>, U2fError> {
        // §5.1 framing: the L byte must match the key handle actually sent.
        let (challenge, application, rest) =
            challenge_and_application(apdu.data).ok_or(StatusWord::WrongLength)?;
        let (&len, key_handle) = rest.split_first().ok_or(StatusWord::WrongLength)?;
        if key_handle.len() != usize::from(len) {
            return Err(StatusWord::WrongLength.into());
        }
        let control = Control::parse(apdu.p1)?;
        // §5.3: a key handle that is not ours for this application is
        // SW_WRONG_DATA, checked before any prompt.
        let found = self
            .u2f_credential(env, &application, key_handle)?
            .ok_or(StatusWord::WrongData)?;
        let user_present = match control {
            // §5.2: check-only "succeeds" with SW_CONDITIONS_NOT_SATISFIED.
            Control::CheckOnly => return Err(StatusWord::ConditionsNotSatisfied.into()),
            Control::EnforcePresence => {
                let (requester, name, display) = match &found.record {
                    // A discoverable credential knows its real RP id.
                    Some(r) => (
                        Requester::Rp(r.rp_id.as_str()),
                        r.user_name.as_deref(),
                        r.user_display_name.as_deref(),
                    ),
                    None => (Requester::U2fApplication(&application), None, None),
                };
                // §5.2: no presence → SW_CONDITIONS_NOT_SATISFIED.
                presence::require(env, Operation::SignIn, requester, name, display)
                    .map_err(|_| StatusWord::ConditionsNotSatisfied)?;
                true
            }
            Control::DontEnforcePresence => false,
        };
        // §5.4: the global counter, shared with CTAP2 assertions.
        let counter = self.counter.next(env.store())?;
        let flags = if user_present { FLAG_UP } else { 0 };
        // application || UP || counter is CTAP2 authData without extensions.
        let signed = [
            auth_data::auth_data(&application, flags, counter).as_slice(),
            &challenge,
        ]
        .concat();
        let signature = found.key.key.sign(&signed);
        let mut out = Vec::with_capacity(5 + signature.len());
        out.push(flags);
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&signature);
        Ok(out)
    }

    /// The credential `key_handle` names for `application`, if it is one
    /// U2F may use. Reads only: no secrets are created by a lookup.
    fn u2f_credential<E: Env>(
        &mut self,
        env: &mut E,
        application: &[u8; 32],
        key_handle: &[u8],
    ) -> Result<Option<Found>, U2fError> {
        let keyring = self.secrets.keyring(env)?;
        let found = lookup::first_ours(&keyring, env.store(), application, &[key_handle])?;
        Ok(found.filter(|f| {
            // U2F signatures are ECDSA P-256 (§5.4): an EdDSA credential is
            // not a U2F key. U2F cannot verify the user, so a credProtect
            // userVerificationRequired credential is invisible here as in
            // CTAP2 without UV (CTAP 2.1 §12.1); level 2 is fine, since the
            // key handle is named like an allowList entry.
            f.key.key.algorithm() == Algorithm::Es256 && f.key.flags.cred_protect < 3
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::credential::{self, CredentialFlags};
    use crate::keys::CredentialKey;
    use crate::testing::TestEnv;

    const APP: [u8; 32] = [0xA5; 32];

    fn key_handle(
        a: &mut Authenticator,
        env: &mut TestEnv,
        alg: Algorithm,
        flags: CredentialFlags,
    ) -> Vec<u8> {
        let key = CredentialKey::generate(env, alg).unwrap();
        let secrets = a.secrets.get_or_create(env).unwrap();
        credential::wrap(env, secrets.wrap_key(), &APP, &key, flags).unwrap()
    }

    fn authenticate(a: &mut Authenticator, env: &mut TestEnv, p1: u8, kh: &[u8]) -> Vec<u8> {
        let mut data = [[0x11; 32], APP].concat();
        data.push(u8::try_from(kh.len()).unwrap());
        data.extend_from_slice(kh);
        let mut apdu = vec![0, 0x02, p1, 0, 0];
        apdu.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        apdu.extend_from_slice(&data);
        a.process_apdu(env, &apdu)
    }

    #[test]
    fn control_bytes() {
        // §5.1: 0x07, 0x03, 0x08; anything else is wrong data.
        assert_eq!(Control::parse(0x07), Ok(Control::CheckOnly));
        assert_eq!(Control::parse(0x03), Ok(Control::EnforcePresence));
        assert_eq!(Control::parse(0x08), Ok(Control::DontEnforcePresence));
        for p1 in [0x00, 0x01, 0x02, 0x04, 0x0F, 0x87, 0xFF] {
            assert_eq!(Control::parse(p1), Err(StatusWord::WrongData));
        }
    }

    #[test]
    fn usable_credential_signs_with_up_flag() {
        let mut env = TestEnv::new(9);
        let mut a = Authenticator::new(Config::default());
        let kh = key_handle(
            &mut a,
            &mut env,
            Algorithm::Es256,
            CredentialFlags::default(),
        );
        let out = authenticate(&mut a, &mut env, 0x03, &kh);
        assert_eq!(out.first(), Some(&0x01));
        assert_eq!(out[1..5], 1u32.to_be_bytes(), "first counter value");
        assert_eq!(out[out.len() - 2..], [0x90, 0x00]);
        let out = authenticate(&mut a, &mut env, 0x08, &kh);
        assert_eq!(out.first(), Some(&0x00));
        assert_eq!(out[1..5], 2u32.to_be_bytes());
        assert_eq!(authenticate(&mut a, &mut env, 0x07, &kh), [0x69, 0x85]);
    }

    #[test]
    fn eddsa_and_uv_required_credentials_are_not_u2f_keys() {
        let mut env = TestEnv::new(9);
        let mut a = Authenticator::new(Config::default());
        let eddsa = key_handle(
            &mut a,
            &mut env,
            Algorithm::EdDsa,
            CredentialFlags::default(),
        );
        let uv_required = key_handle(
            &mut a,
            &mut env,
            Algorithm::Es256,
            CredentialFlags {
                discoverable: false,
                cred_protect: 3,
                third_party_payment: false,
            },
        );
        let optional_with_list = key_handle(
            &mut a,
            &mut env,
            Algorithm::Es256,
            CredentialFlags {
                discoverable: false,
                cred_protect: 2,
                third_party_payment: false,
            },
        );
        for p1 in [0x07, 0x03, 0x08] {
            // §5.4 signatures are P-256 ECDSA; CTAP 2.1 §12.1 level 3 needs UV.
            assert_eq!(authenticate(&mut a, &mut env, p1, &eddsa), [0x6A, 0x80]);
            assert_eq!(
                authenticate(&mut a, &mut env, p1, &uv_required),
                [0x6A, 0x80]
            );
        }
        // Level 2: the key handle is named, like an allowList entry.
        assert_eq!(
            authenticate(&mut a, &mut env, 0x07, &optional_with_list),
            [0x69, 0x85]
        );
        assert!(env.presence.log().is_empty());
    }

    #[test]
    fn deleted_discoverable_credential_is_gone() {
        // An ID marked discoverable whose store record does not exist (it
        // was deleted through credential management) must not sign.
        let mut env = TestEnv::new(9);
        let mut a = Authenticator::new(Config::default());
        let flags = CredentialFlags {
            discoverable: true,
            cred_protect: 1,
            third_party_payment: false,
        };
        let kh = key_handle(&mut a, &mut env, Algorithm::Es256, flags);
        assert_eq!(authenticate(&mut a, &mut env, 0x07, &kh), [0x6A, 0x80]);
        assert_eq!(authenticate(&mut a, &mut env, 0x08, &kh), [0x6A, 0x80]);
    }

    #[test]
    fn lookup_creates_no_secrets() {
        let mut env = TestEnv::new(9);
        let mut a = Authenticator::new(Config::default());
        assert_eq!(authenticate(&mut a, &mut env, 0x03, &[7; 63]), [0x6A, 0x80]);
        assert_eq!(env.store.writes(), 0);
    }
}
