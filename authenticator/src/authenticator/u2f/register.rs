//! U2F_REGISTER (FIDO U2F Raw Message Formats v1.2 §4 "Registration
//! Messages").
//!
//! Request data (§4.1): `challenge (32) || application (32)`. After a test
//! of user presence, a new P-256 key is wrapped into a key handle that is a
//! non-discoverable CTAP2 credential ID bound to the application parameter
//! (so CTAP2 getAssertion accepts it for the rpId hashing to it). Response
//! (§4.3): `0x05 || user public key (65, uncompressed) || L || key handle
//! || attestation certificate (DER) || signature`, the signature made with
//! the attestation key over `0x00 || application || challenge || key handle
//! || user public key`.

use p256::ecdsa::DerSignature;
use p256::ecdsa::signature::Signer;
use p256::elliptic_curve::sec1::ToSec1Point;

use super::apdu::Apdu;
use super::{StatusWord, U2fError, challenge_and_application};
use crate::Authenticator;
use crate::attestation::u2f_attestation;
use crate::credential::{self, CredentialFlags};
use crate::env::{Env, Operation, Requester};
use crate::keys::{Algorithm, CredentialKey};
use crate::presence;

/// §4.3: the reserved first byte of a registration response.
const LEGACY_RESERVED: u8 = 0x05;
/// §4.3: the first byte of the signed registration data.
const SIGNED_RESERVED: u8 = 0x00;

impl Authenticator {
    pub(super) fn u2f_register<E: Env>(
        &mut self,
        env: &mut E,
        apdu: &Apdu<'_>,
    ) -> Result<Vec<u8>, U2fError> {
        // §4.1: exactly challenge || application. P1 is not checked: §4.1
        // defines none, and Chrome sends 0x03 ("enforce user presence").
        let (challenge, application) = match challenge_and_application(apdu.data) {
            Some((c, a, [])) => (c, a),
            _ => return Err(StatusWord::WrongLength.into()),
        };
        // §4.2: no presence → SW_CONDITIONS_NOT_SATISFIED. Our prompt
        // blocks until answered, so a denial, timeout or CTAPHID_CANCEL
        // all mean "not (yet) satisfied": the platform may poll again.
        presence::require(
            env,
            Operation::Register,
            Requester::U2fApplication(&application),
            None,
            None,
        )
        .map_err(|_| StatusWord::ConditionsNotSatisfied)?;
        // U2F keys are P-256 (§4.3: a 65-byte uncompressed point).
        let key = CredentialKey::generate(env, Algorithm::Es256)?;
        let CredentialKey::Es256(secret) = &key else {
            return Err(StatusWord::Unknown.into());
        };
        let point = secret.public_key().to_sec1_point(false);
        let public_key = point.as_bytes();
        // Non-discoverable, credProtect level 1: a U2F registration has no
        // user to store and no UV policy.
        let secrets = self.secrets.get_or_create(env)?;
        let key_handle = credential::wrap(
            env,
            secrets.wrap_key(),
            &application,
            &key,
            CredentialFlags::default(),
        )?;
        // §4.3: the key handle length is one byte.
        let key_handle_len = u8::try_from(key_handle.len()).map_err(|_| StatusWord::Unknown)?;
        // fido-u2f attestation: the batch certificate if provisioned, else
        // this device's own self-signed one (crate::attestation).
        let (certificate, attestation_key) = u2f_attestation(env)?;

        let signed = [
            &[SIGNED_RESERVED][..],
            &application,
            &challenge,
            &key_handle,
            public_key,
        ]
        .concat();
        let signature: DerSignature = attestation_key.sign(&signed);

        let mut out = Vec::with_capacity(
            1 + public_key.len() + 1 + key_handle.len() + certificate.len() + 72,
        );
        out.push(LEGACY_RESERVED);
        out.extend_from_slice(public_key);
        out.push(key_handle_len);
        out.extend_from_slice(&key_handle);
        out.extend_from_slice(&certificate);
        out.extend_from_slice(signature.as_bytes());
        Ok(out)
    }
}
