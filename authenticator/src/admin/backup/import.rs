//! Import: validate a whole backup, then write it in one atomic batch.
//!
//! Rules (README "Back up": nothing is lost):
//! - Nothing is written unless every credential and the large-blob array
//!   are valid; then exactly one [`Store::apply`].
//! - A credential whose RP already has one with the same ID keeps the
//!   existing record. Another ID for the same RP and user is added beside
//!   it: an import never overwrites like CTAP makeCredential does.
//! - The backup's wrap keys are added to the imported ones (unless already
//!   known), so non-discoverable IDs the backed-up device issued open here.
//! - A credential whose ID opens under our wrap keys (the backup's now
//!   included) to the same key, as a discoverable credential with the same
//!   credProtect, is stored like one made here. Any other keeps its private
//!   key in its record; so do CredRandoms that differ from our derivation.
//! - Counter: each added credential takes a creation order above
//!   max(our ceiling, the backup's), and the ceiling is raised to cover
//!   them, so the next signature counts above every value the backed-up
//!   device ever signed with.
//! - The large-blob array is restored only onto a device that has none.

use std::collections::BTreeSet;

use super::device::DeviceState;
use super::{BackupContents, BackupCredential, BackupError, ImportReport, pkcs8};
use crate::auth_data::rp_id_hash;
use crate::counter::ceiling_record;
use crate::credential::{self, Keyring};
use crate::credential_index;
use crate::env::{Store, StoreChange};
use crate::extensions::cred_blob::MAX_CRED_BLOB_LENGTH;
use crate::keys::CredentialKey;
use crate::large_blob_array::{self, initial_array};
use crate::record::{
    self, CredentialRecord, MAX_RECORD_CREDENTIAL_ID_LEN, StoredCredRandoms, StoredKey,
};
use crate::store_keys::{IMPORTED_WRAP_KEYS, LARGE_BLOB_ARRAY, SIGN_COUNTER};

/// WebAuthn §5.4.3: a user handle is at most 64 bytes (as makeCredential
/// accepts it; empty ones it accepts too).
const MAX_USER_ID_LEN: usize = 64;

/// Imports `contents` into `store` (see the module docs). On any error
/// nothing was written.
pub fn import_backup<S: Store>(
    store: &mut S,
    contents: &BackupContents,
) -> Result<ImportReport, BackupError> {
    let keys = validate(contents)?;
    let mut device = DeviceState::load(store)?;
    let mut changes = Vec::new();

    let mut wrap_keys_added = false;
    for key in &contents.wrap_keys {
        let ours = device
            .primary
            .as_ref()
            .is_some_and(|p| p.wrap_key() == &**key);
        if !ours {
            wrap_keys_added |= device.imported.add(key);
        }
    }
    if wrap_keys_added {
        let record = device.imported.to_record();
        changes.push(StoreChange::Put(
            IMPORTED_WRAP_KEYS.to_vec(),
            record.to_vec(),
        ));
    }

    let keyring = device.keyring();
    let mut added = Vec::new();
    let mut kept_existing = Vec::new();
    for (index, (credential, key)) in contents.credentials.iter().zip(&keys).enumerate() {
        let hash = rp_id_hash(&credential.rp_id);
        if store
            .get(&record::key(&hash, &credential.credential_id))?
            .is_some()
        {
            kept_existing.push(credential.summary());
            continue;
        }
        let record = new_record(&keyring, &hash, credential, key)?;
        added.push((index, hash, record));
    }

    // Creation orders above every counter value either device handed out,
    // oldest first, then the ceiling over them.
    let base = device.ceiling.max(contents.sign_count);
    let mut by_age: Vec<usize> = (0..added.len()).collect();
    by_age.sort_by_key(|&i| added.get(i).map(|(index, _, r)| (r.created, *index)));
    let mut ceiling = base;
    for i in by_age {
        ceiling = ceiling
            .checked_add(1)
            .ok_or(BackupError::CounterExhausted)?;
        if let Some((_, _, record)) = added.get_mut(i) {
            record.order = u64::from(ceiling);
        }
    }
    if ceiling != device.ceiling {
        changes.push(StoreChange::Put(
            SIGN_COUNTER.to_vec(),
            ceiling_record(ceiling).to_vec(),
        ));
    }
    for (_, hash, record) in &added {
        changes.extend(credential_index::insertion(hash, record));
    }
    if !added.is_empty() {
        crate::cred_store_state::stamp(store, &mut changes)?;
    }

    let large_blobs_restored = match &contents.large_blob_array {
        Some(array) if device.large_blob_array.is_none() && *array != initial_array() => {
            changes.push(StoreChange::Put(LARGE_BLOB_ARRAY.to_vec(), array.clone()));
            true
        }
        _ => false,
    };

    if !changes.is_empty() {
        store.apply(&changes)?;
    }
    Ok(ImportReport {
        added: added
            .iter()
            .filter_map(|(index, _, _)| contents.credentials.get(*index))
            .map(BackupCredential::summary)
            .collect(),
        kept_existing,
        sign_count: ceiling,
        large_blobs_restored,
    })
}

/// Checks every field of the backup; returns each credential's key.
pub(crate) fn validate(contents: &BackupContents) -> Result<Vec<CredentialKey>, BackupError> {
    let mut seen = BTreeSet::new();
    let mut keys = Vec::with_capacity(contents.credentials.len());
    for (index, c) in contents.credentials.iter().enumerate() {
        let invalid = |reason| BackupError::InvalidCredential { index, reason };
        if c.credential_id.is_empty() || c.credential_id.len() > MAX_RECORD_CREDENTIAL_ID_LEN {
            return Err(invalid("the credential ID is not 1 to 1023 bytes long"));
        }
        if c.rp_id.is_empty() {
            return Err(invalid("the RP ID is empty"));
        }
        if c.user_id.len() > MAX_USER_ID_LEN {
            return Err(invalid("the user handle is longer than 64 bytes"));
        }
        // CTAP 2.1 §12.1: levels 1..=3 only.
        if !(1..=3).contains(&c.cred_protect) {
            return Err(invalid("credProtect is not 1, 2 or 3"));
        }
        // CTAP 2.1 §12.2: our maxCredBlobLength.
        if c.cred_blob
            .as_ref()
            .is_some_and(|b| b.len() > MAX_CRED_BLOB_LENGTH)
        {
            return Err(invalid("credBlob is longer than 32 bytes"));
        }
        if !seen.insert((c.rp_id.as_str(), c.credential_id.as_slice())) {
            return Err(invalid("the credential ID appears twice for this RP"));
        }
        let key = pkcs8::decode(c.algorithm, &c.private_key_pkcs8).ok_or(invalid(
            "the private key is not a PKCS#8 key of the stated algorithm",
        ))?;
        keys.push(key);
    }
    if let Some(array) = &contents.large_blob_array
        && !large_blob_array::is_valid_array(array)
    {
        return Err(BackupError::InvalidLargeBlobArray);
    }
    Ok(keys)
}

/// The record of a credential to add (its order is set by the caller).
pub(crate) fn new_record(
    keyring: &Keyring<'_>,
    rp_id_hash: &[u8; 32],
    c: &BackupCredential,
    key: &CredentialKey,
) -> Result<CredentialRecord, BackupError> {
    // An ID that opens, here, to this very key as a discoverable
    // credential of this level needs nothing more than a record.
    let id_carries_key = keyring
        .unwrap(rp_id_hash, &c.credential_id)
        .is_some_and(|opened| {
            opened.flags.discoverable
                && opened.flags.cred_protect == c.cred_protect
                && opened.flags.third_party_payment == c.third_party_payment
                && opened.key.algorithm() == key.algorithm()
                && *opened.key.to_bytes() == *key.to_bytes()
        });
    let derive = |uv| {
        credential::cred_random(key, uv)
            .map_err(|_| BackupError::Corrupt("hmac-secret derivation failed"))
    };
    let cred_randoms = match &c.hmac {
        Some(h) if *h.with_uv != *derive(true)? || *h.without_uv != *derive(false)? => {
            Some(StoredCredRandoms {
                with_uv: h.with_uv.clone(),
                without_uv: h.without_uv.clone(),
            })
        }
        _ => None,
    };
    Ok(CredentialRecord {
        rp_id: c.rp_id.clone(),
        rp_name: c.rp_name.clone(),
        user_id: c.user_id.clone(),
        user_name: c.user_name.clone(),
        user_display_name: c.user_display_name.clone(),
        credential_id: c.credential_id.clone(),
        created: c.created,
        order: 0,
        cred_protect: c.cred_protect,
        cred_blob: c.cred_blob.clone(),
        large_blob_key: c.large_blob_key.as_deref().copied(),
        private_key: (!id_carries_key).then(|| StoredKey::new(key)),
        cred_randoms,
        third_party_payment: c.third_party_payment,
        properties: Default::default(),
    })
}
