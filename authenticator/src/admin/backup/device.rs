//! The device-wide state a backup reads and an import extends, read
//! straight from the store: wrap keys, counter ceiling, large-blob array.

use crate::counter;
use crate::credential::Keyring;
use crate::env::Store;
use crate::large_blob_array::initial_array;
use crate::secrets::{DeviceSecrets, ImportedWrapKeys};

use super::BackupError;
use crate::store_keys::{DEVICE_SECRETS, IMPORTED_WRAP_KEYS, LARGE_BLOB_ARRAY, SIGN_COUNTER};

/// What is stored besides the credential records.
#[derive(Debug)]
pub(crate) struct DeviceState {
    /// The device's own wrap key; absent until the first credential.
    pub(super) primary: Option<DeviceSecrets>,
    pub(super) imported: ImportedWrapKeys,
    /// The signature counter ceiling (0 when none is stored).
    pub(super) ceiling: u32,
    /// The stored large-blob array, unless it is the initial empty one.
    pub(super) large_blob_array: Option<Vec<u8>>,
}

impl DeviceState {
    pub(crate) fn load<S: Store>(store: &S) -> Result<Self, BackupError> {
        let primary = match store.get(DEVICE_SECRETS)? {
            None => None,
            Some(raw) => Some(
                DeviceSecrets::from_record(&raw).ok_or(BackupError::Corrupt("device secrets"))?,
            ),
        };
        let imported = match store.get(IMPORTED_WRAP_KEYS)? {
            None => ImportedWrapKeys::default(),
            Some(raw) => ImportedWrapKeys::from_record(&raw)
                .ok_or(BackupError::Corrupt("imported wrap keys"))?,
        };
        let ceiling = match store.get(SIGN_COUNTER)? {
            None => 0,
            Some(raw) => {
                counter::parse_ceiling(&raw).ok_or(BackupError::Corrupt("signature counter"))?
            }
        };
        let large_blob_array = store
            .get(LARGE_BLOB_ARRAY)?
            .map(|array| array.to_vec())
            .filter(|array| *array != initial_array());
        Ok(DeviceState {
            primary,
            imported,
            ceiling,
            large_blob_array,
        })
    }

    /// The wrap keys credential IDs open under, as lookups try them.
    pub(crate) fn keyring(&self) -> Keyring<'_> {
        Keyring {
            primary: self.primary.as_ref().map(DeviceSecrets::wrap_key),
            imported: self.imported.keys(),
        }
    }
}
