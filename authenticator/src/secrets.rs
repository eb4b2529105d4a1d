//! Device secrets: the key that wraps non-discoverable credential private
//! keys into credential IDs (see [`crate::credential`]).
//!
//! Stored under `device/secrets` as `version (1) || wrap key (32)`. Created
//! from `Env::fill_random` on first need and persisted *before* first use,
//! so no credential ID is ever handed out under a key that could be lost.
//! Held in RAM in `Zeroizing` memory with a redacting `Debug`.

use core::fmt;

use zeroize::Zeroizing;

use crate::env::{Env, Store};
use crate::status::CtapError;

pub(crate) const SECRETS_KEY: &[u8] = b"device/secrets";
const FORMAT_VERSION: u8 = 1;
const RECORD_LEN: usize = 1 + 32;

pub(crate) struct DeviceSecrets {
    wrap_key: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for DeviceSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceSecrets { .. }")
    }
}

impl DeviceSecrets {
    /// Loads the secrets, creating and persisting them if absent.
    pub(crate) fn load_or_create<E: Env>(env: &mut E) -> Result<Self, CtapError> {
        if let Some(raw) = env.store().get(SECRETS_KEY)? {
            return Self::parse(&Zeroizing::new(raw));
        }
        let mut record = Zeroizing::new([0u8; RECORD_LEN]);
        let (version, key) = record.split_first_mut().ok_or(CtapError::Other)?;
        *version = FORMAT_VERSION;
        env.fill_random(key);
        env.store().put(SECRETS_KEY, record.as_slice())?;
        Self::parse(record.as_slice())
    }

    fn parse(raw: &[u8]) -> Result<Self, CtapError> {
        match raw.split_first() {
            Some((&FORMAT_VERSION, key)) => {
                let mut wrap_key = Zeroizing::new([0u8; 32]);
                let key: &[u8; 32] = key.try_into().map_err(|_| CtapError::Other)?;
                wrap_key.copy_from_slice(key);
                Ok(DeviceSecrets { wrap_key })
            }
            _ => Err(CtapError::Other),
        }
    }

    pub(crate) fn wrap_key(&self) -> &[u8; 32] {
        &self.wrap_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn created_once_persisted_and_reloaded() {
        let mut env = TestEnv::new(1);
        let first = DeviceSecrets::load_or_create(&mut env).unwrap();
        assert!(env.store().get(SECRETS_KEY).unwrap().is_some());
        let again = DeviceSecrets::load_or_create(&mut env).unwrap();
        assert_eq!(first.wrap_key(), again.wrap_key());
        assert_ne!(first.wrap_key(), &[0u8; 32]);
        assert_eq!(format!("{first:?}"), "DeviceSecrets { .. }");
    }

    #[test]
    fn store_failure_means_no_secrets() {
        let mut env = TestEnv::new(1);
        env.store().fail_next_write();
        assert_eq!(
            DeviceSecrets::load_or_create(&mut env).unwrap_err(),
            CtapError::Other
        );
        assert!(env.store().get(SECRETS_KEY).unwrap().is_none());
    }

    #[test]
    fn corrupt_record_is_refused() {
        let mut env = TestEnv::new(1);
        env.store().put(SECRETS_KEY, &[2; RECORD_LEN]).unwrap();
        assert_eq!(
            DeviceSecrets::load_or_create(&mut env).unwrap_err(),
            CtapError::Other
        );
        env.store().put(SECRETS_KEY, &[1; 5]).unwrap();
        assert_eq!(
            DeviceSecrets::load_or_create(&mut env).unwrap_err(),
            CtapError::Other
        );
    }
}
