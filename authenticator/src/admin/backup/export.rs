//! Export: every discoverable credential with its private key, the wrap
//! keys, the counter ceiling and the large-blob array, read from a store.

use zeroize::Zeroizing;

use super::device::DeviceState;
use super::{BackupContents, BackupCredential, BackupError, HmacCredentials, pkcs8};
use crate::auth_data::rp_id_hash;
use crate::credential::{self, Keyring};
use crate::env::Store;
use crate::lookup;
use crate::record::{self, CredentialRecord};

/// Reads everything a backup holds from `store` (see [`super`]). Reads
/// only. Credentials come oldest first.
///
/// A credential record that does not decode, or whose key cannot be
/// recovered, fails the export ([`BackupError::Corrupt`]) rather than
/// being left out of a backup that would look complete.
pub fn export_backup<S: Store>(store: &S) -> Result<BackupContents, BackupError> {
    let device = DeviceState::load(store)?;
    let keyring = device.keyring();
    let mut records = Vec::new();
    for decoded in record::all_or_corrupt(store)? {
        records.push(decoded.ok_or(BackupError::Corrupt("a credential record does not decode"))?);
    }
    // The creation order: an import assigns new orders in backup order
    // (within a creation second), so "newest first" survives the trip.
    records.sort_by_key(|r| r.order);
    let credentials = records
        .iter()
        .map(|r| export_credential(&keyring, r))
        .collect::<Result<Vec<_>, _>>()?;
    let wrap_keys = device
        .primary
        .iter()
        .map(|secrets| Zeroizing::new(*secrets.wrap_key()))
        .chain(device.imported.keys().iter().cloned())
        .collect();
    Ok(BackupContents {
        credentials,
        sign_count: device.ceiling,
        wrap_keys,
        large_blob_array: device.large_blob_array,
    })
}

pub(crate) fn export_credential(
    keyring: &Keyring<'_>,
    record: &CredentialRecord,
) -> Result<BackupCredential, BackupError> {
    let hash = rp_id_hash(&record.rp_id);
    // The key lookups would use: the record's own, else the ID's.
    let opened = lookup::record_key(keyring, &hash, record).ok_or(BackupError::Corrupt(
        "a credential's private key cannot be recovered",
    ))?;
    let private_key_pkcs8 = pkcs8::encode(&opened.key).ok_or(BackupError::Corrupt(
        "a credential key does not encode as PKCS#8",
    ))?;
    // The CredRandoms getAssertion would use (CTAP 2.1 §12.5).
    let hmac = match &record.cred_randoms {
        Some(stored) => HmacCredentials {
            with_uv: stored.with_uv.clone(),
            without_uv: stored.without_uv.clone(),
        },
        None => {
            let derive = |uv| {
                credential::cred_random(&opened.key, uv)
                    .map_err(|_| BackupError::Corrupt("hmac-secret derivation failed"))
            };
            HmacCredentials {
                with_uv: derive(true)?,
                without_uv: derive(false)?,
            }
        }
    };
    Ok(BackupCredential {
        credential_id: record.credential_id.clone(),
        rp_id: record.rp_id.clone(),
        rp_name: record.rp_name.clone(),
        user_id: record.user_id.clone(),
        user_name: record.user_name.clone(),
        user_display_name: record.user_display_name.clone(),
        created: record.created,
        algorithm: opened.key.algorithm(),
        private_key_pkcs8,
        // As lookups see it: sealed in the ID, or the record's own.
        cred_protect: opened.flags.cred_protect,
        cred_blob: record.cred_blob.clone(),
        large_blob_key: record.large_blob_key.map(Zeroizing::new),
        hmac: Some(hmac),
        third_party_payment: opened.flags.third_party_payment,
    })
}
