//! Device secrets: the key that wraps non-discoverable credential private
//! keys into credential IDs (see [`crate::credential`]), and the wrap keys
//! of other devices imported from backups.
//!
//! Stored under `device/secrets` as `version (1) || wrap key (32)`. Created
//! from `Env::fill_random` on first need and persisted *before* first use,
//! so no credential ID is ever handed out under a key that could be lost.
//!
//! Imported wrap keys ([`ImportedWrapKeys`]) live under `device/wrap-keys`
//! as `version (1) || n × wrap key (32)`: new IDs are only ever made under
//! the device's own key, but IDs made under an imported key (by the device
//! a backup came from) still open, tried after the device's own key.
//!
//! Held in RAM in `Zeroizing` memory with a redacting `Debug`.

use core::fmt;

use zeroize::Zeroizing;

use crate::credential::Keyring;
use crate::env::{Env, Store, StoreError};
use crate::error::Error;
use crate::status::CtapError;
use crate::store_keys::{DEVICE_SECRETS, IMPORTED_WRAP_KEYS};

const FORMAT_VERSION: u8 = 1;
const RECORD_LEN: usize = 1 + 32;
const WRAP_KEY_LEN: usize = 32;

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
    pub(crate) fn load_or_create<E: Env>(env: &mut E) -> Result<Self, Error> {
        if let Some(raw) = env.store().get(DEVICE_SECRETS)? {
            return Self::parse(&raw)
                .map_err(|_| StoreError::corrupt("device secrets record").into());
        }
        let mut record = Zeroizing::new([0u8; RECORD_LEN]);
        let (version, key) = record.split_first_mut().ok_or(CtapError::Other)?;
        *version = FORMAT_VERSION;
        env.fill_random(key);
        env.store().put(DEVICE_SECRETS, record.as_slice())?;
        Ok(Self::parse(record.as_slice())?)
    }

    fn parse(raw: &[u8]) -> Result<Self, CtapError> {
        Self::from_record(raw).ok_or(CtapError::Other)
    }

    /// The secrets from their stored record; `None` if it is malformed.
    pub(crate) fn from_record(raw: &[u8]) -> Option<Self> {
        match raw.split_first() {
            Some((&FORMAT_VERSION, key)) => {
                let key: &[u8; 32] = key.try_into().ok()?;
                Some(DeviceSecrets {
                    wrap_key: Zeroizing::new(*key),
                })
            }
            _ => None,
        }
    }

    pub(crate) fn wrap_key(&self) -> &[u8; 32] {
        &self.wrap_key
    }
}

/// Wrap keys of other devices, imported with their credentials from a
/// backup, in the order they were added.
#[derive(Default)]
pub(crate) struct ImportedWrapKeys {
    keys: Vec<Zeroizing<[u8; WRAP_KEY_LEN]>>,
}

impl fmt::Debug for ImportedWrapKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImportedWrapKeys({} keys)", self.keys.len())
    }
}

impl ImportedWrapKeys {
    /// The stored keys; none when the record is absent.
    pub(crate) fn load<S: Store>(store: &S) -> Result<Self, Error> {
        match store.get(IMPORTED_WRAP_KEYS)? {
            None => Ok(Self::default()),
            Some(raw) => Ok(Self::from_record(&raw)
                .ok_or_else(|| StoreError::corrupt("imported wrap keys record"))?),
        }
    }

    /// The keys from their stored record; `None` if it is malformed.
    pub(crate) fn from_record(raw: &[u8]) -> Option<Self> {
        let (&FORMAT_VERSION, body) = raw.split_first()? else {
            return None;
        };
        let (chunks, rest) = body.as_chunks::<WRAP_KEY_LEN>();
        if !rest.is_empty() {
            return None;
        }
        Some(ImportedWrapKeys {
            keys: chunks.iter().map(|k| Zeroizing::new(*k)).collect(),
        })
    }

    /// The stored record: `version || keys`.
    pub(crate) fn to_record(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + self.keys.len() * WRAP_KEY_LEN));
        out.push(FORMAT_VERSION);
        for key in &self.keys {
            out.extend_from_slice(key.as_slice());
        }
        out
    }

    pub(crate) fn keys(&self) -> &[Zeroizing<[u8; WRAP_KEY_LEN]>] {
        &self.keys
    }

    /// Adds `key` unless it is already here; returns whether it was added.
    pub(crate) fn add(&mut self, key: &[u8; WRAP_KEY_LEN]) -> bool {
        if self.keys.iter().any(|k| **k == *key) {
            return false;
        }
        self.keys.push(Zeroizing::new(*key));
        true
    }
}

/// The device secrets and the imported wrap keys, read from the store on
/// first need and kept in RAM. The store must not change behind it (see
/// [`crate::Authenticator`]); reset calls [`SecretsCache::forget`].
#[derive(Debug, Default)]
pub(crate) struct SecretsCache {
    device: Option<DeviceSecrets>,
    /// Wrap keys imported from backups, once read.
    imported: Option<ImportedWrapKeys>,
}

impl SecretsCache {
    /// The device secrets, created and persisted on first need.
    pub(crate) fn get_or_create<E: Env>(&mut self, env: &mut E) -> Result<&DeviceSecrets, Error> {
        Ok(match &mut self.device {
            Some(secrets) => secrets,
            empty => empty.insert(DeviceSecrets::load_or_create(env)?),
        })
    }

    /// Drops the RAM copy of the device secrets (authenticatorReset deleted
    /// the stored ones: old credential IDs must stop opening).
    pub(crate) fn forget(&mut self) {
        self.device = None;
        self.imported = None;
    }

    /// The device secrets if they exist, without creating them: lookups
    /// (excludeList, allowList) must not write to the store.
    pub(crate) fn existing<E: Env>(
        &mut self,
        env: &mut E,
    ) -> Result<Option<&DeviceSecrets>, Error> {
        if self.device.is_none() && env.store().get(DEVICE_SECRETS)?.is_some() {
            self.device = Some(DeviceSecrets::load_or_create(env)?);
        }
        Ok(self.device.as_ref())
    }

    /// Every wrap key credential IDs may open under (the device's own if it
    /// exists, then imported ones), without creating any: reads only.
    pub(crate) fn keyring<E: Env>(&mut self, env: &mut E) -> Result<Keyring<'_>, Error> {
        self.existing(env)?;
        if self.imported.is_none() {
            self.imported = Some(ImportedWrapKeys::load(env.store())?);
        }
        Ok(Keyring {
            primary: self.device.as_ref().map(DeviceSecrets::wrap_key),
            imported: self.imported.as_ref().map_or(&[], ImportedWrapKeys::keys),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn imported_wrap_keys_round_trip_and_reject_bad_records() {
        let mut env = TestEnv::new(1);
        assert!(
            ImportedWrapKeys::load(env.store())
                .unwrap()
                .keys()
                .is_empty()
        );
        let mut keys = ImportedWrapKeys::default();
        assert!(keys.add(&[1; 32]));
        assert!(keys.add(&[2; 32]));
        assert!(!keys.add(&[1; 32]), "no duplicates");
        env.store()
            .put(IMPORTED_WRAP_KEYS, &keys.to_record())
            .unwrap();
        let loaded = ImportedWrapKeys::load(env.store()).unwrap();
        assert_eq!(loaded.keys().len(), 2);
        assert_eq!(*loaded.keys()[1], [2; 32]);
        assert_eq!(format!("{loaded:?}"), "ImportedWrapKeys(2 keys)");
        assert_eq!(
            ImportedWrapKeys::from_record(&[1]).map(|k| k.keys().len()),
            Some(0)
        );
        for bad in [&[][..], &[2], &[1, 0]] {
            assert!(ImportedWrapKeys::from_record(bad).is_none(), "{bad:?}");
        }
        env.store().put(IMPORTED_WRAP_KEYS, &[1; 5]).unwrap();
        assert_eq!(
            ImportedWrapKeys::load(env.store()).unwrap_err(),
            CtapError::Other
        );
    }

    #[test]
    fn created_once_persisted_and_reloaded() {
        let mut env = TestEnv::new(1);
        let first = DeviceSecrets::load_or_create(&mut env).unwrap();
        assert!(env.store().get(DEVICE_SECRETS).unwrap().is_some());
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
        assert!(env.store().get(DEVICE_SECRETS).unwrap().is_none());
    }

    #[test]
    fn corrupt_record_is_refused() {
        let mut env = TestEnv::new(1);
        env.store().put(DEVICE_SECRETS, &[2; RECORD_LEN]).unwrap();
        assert_eq!(
            DeviceSecrets::load_or_create(&mut env).unwrap_err(),
            CtapError::Other
        );
        env.store().put(DEVICE_SECRETS, &[1; 5]).unwrap();
        assert_eq!(
            DeviceSecrets::load_or_create(&mut env).unwrap_err(),
            CtapError::Other
        );
    }
}
