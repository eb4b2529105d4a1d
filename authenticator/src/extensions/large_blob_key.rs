//! largeBlobKey (CTAP 2.1 §12.3): a 32-byte random key per discoverable
//! credential, returned as makeCredential response member 0x05 and
//! getAssertion member 0x07 so the platform can encrypt that credential's
//! entry of the largeBlobs array. The input must be `true`; `false` is
//! CTAP2_ERR_INVALID_OPTION. Non-discoverable credentials get no key.

use crate::cbor::Value;
use crate::cbor::fields::{self, optional};
use crate::env::Env;
use crate::status::CtapError;

pub(crate) const KEY_LEN: usize = 32;
/// makeCredential response member (§6.1.2 step 19).
pub(crate) const MC_RESPONSE_KEY: u64 = 0x05;
/// getAssertion response member (§6.2.2 step 12).
pub(crate) const GA_RESPONSE_KEY: u64 = 0x07;

pub(crate) fn parse(value: Option<&Value>) -> Result<bool, CtapError> {
    match optional(value, fields::boolean)? {
        Some(false) => Err(CtapError::InvalidOption),
        Some(true) => Ok(true),
        None => Ok(false),
    }
}

/// A fresh key for a new discoverable credential.
pub(crate) fn generate<E: Env>(env: &mut E) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    env.fill_random(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn input_must_be_true_and_keys_are_random() {
        assert_eq!(parse(None), Ok(false));
        assert_eq!(parse(Some(&Value::Bool(true))), Ok(true));
        assert_eq!(
            parse(Some(&Value::Bool(false))),
            Err(CtapError::InvalidOption)
        );
        let mut env = TestEnv::new(1);
        assert_ne!(generate(&mut env), generate(&mut env));
    }
}
