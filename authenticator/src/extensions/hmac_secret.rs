//! hmac-secret (CTAP 2.1 §12.5) and hmac-secret-mc (CTAP 2.2 §12.7): the
//! platform sends one or two 32-byte salts encrypted under a PIN/UV auth
//! protocol shared secret; the authenticator returns
//! `encrypt(HMAC-SHA-256(CredRandom, salt1) [|| HMAC-SHA-256(CredRandom, salt2)])`.
//!
//! CredRandom is per credential and differs with and without UV
//! ([`crate::credential::Unwrapped::cred_random`]), so a PRF output
//! obtained without UV says nothing about the one with UV.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::cbor::Value;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::env::Env;
use crate::pin::{PinProtocol, PinState, SharedSecret};
use crate::status::CtapError;

const SALT_LEN: usize = 32;

/// The extension input `{1: keyAgreement, 2: saltEnc, 3: saltAuth,
/// 4: pinUvAuthProtocol?}` (protocol 1 when absent).
#[derive(Debug)]
pub(crate) struct HmacSecretInput<'a> {
    key_agreement: &'a Value,
    salt_enc: &'a [u8],
    salt_auth: &'a [u8],
    protocol: u64,
}

impl<'a> HmacSecretInput<'a> {
    pub(crate) fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let key_agreement = required(f.int(0x01))?;
        Fields::of(key_agreement)?;
        Ok(HmacSecretInput {
            key_agreement,
            salt_enc: fields::bytes(required(f.int(0x02))?)?,
            salt_auth: fields::bytes(required(f.int(0x03))?)?,
            protocol: optional(f.int(0x04), fields::unsigned)?.unwrap_or(1),
        })
    }
}

/// The salts, decrypted and authenticated, with the shared secret that
/// will encrypt the outputs.
pub(crate) struct OpenedHmacSecret {
    shared: SharedSecret,
    salts: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for OpenedHmacSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenedHmacSecret { .. }")
    }
}

impl HmacSecretInput<'_> {
    /// §12.5 authenticator processing steps 1–3: the shared secret from
    /// keyAgreement with the key's PIN/UV key agreement key (unsupported
    /// protocol CTAP1_ERR_INVALID_PARAMETER), saltAuth verified (else
    /// CTAP2_ERR_PIN_AUTH_INVALID), salts decrypted: 32 or 64 bytes (else
    /// CTAP1_ERR_INVALID_LENGTH).
    pub(crate) fn open<E: Env>(
        &self,
        pin: &mut PinState,
        env: &mut E,
    ) -> Result<OpenedHmacSecret, CtapError> {
        let input = self;
        let protocol = PinProtocol::from_number(input.protocol)?;
        let shared = pin.decapsulate(env, protocol, input.key_agreement)?;
        if !shared.verify(input.salt_enc, input.salt_auth) {
            return Err(CtapError::PinAuthInvalid);
        }
        let salts = shared
            .decrypt(input.salt_enc)
            .map_err(|_| CtapError::InvalidLength)?;
        if salts.len() != SALT_LEN && salts.len() != 2 * SALT_LEN {
            return Err(CtapError::InvalidLength);
        }
        Ok(OpenedHmacSecret { shared, salts })
    }
}

impl OpenedHmacSecret {
    /// Step 4–5: the encrypted output for one credential's CredRandom.
    pub(crate) fn output<E: Env>(
        &self,
        env: &mut E,
        cred_random: &[u8; 32],
    ) -> Result<Value, CtapError> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.salts.len()));
        for salt in self.salts.chunks_exact(SALT_LEN) {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(cred_random)
                .map_err(|_| CtapError::Other)?;
            mac.update(salt);
            out.extend_from_slice(&mac.finalize().into_bytes());
        }
        Ok(Value::Bytes(self.shared.encrypt(env, &out)?))
    }
}
