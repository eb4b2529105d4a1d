//! Finding our credentials among the IDs a request names (CTAP 2.1 §6.1.2
//! step 12 excludeList, §6.2.2 step 7 allowList) and opening stored
//! discoverable credentials (§6.2.2 step 7 without an allowList).
//!
//! An ID is ours for an RP when it unwraps under one of our wrap keys (the
//! device's own, then those imported from backups) with that RP's hash. A
//! discoverable one must also still have its store record: a deleted
//! credential is gone even though its ID would still unwrap. A credential
//! imported with an ID that is not ours exists only as a record carrying
//! its private key ([`crate::record::StoredKey`]); the record's key wins
//! over the ID's. credProtect (§12.1) then decides whether a found
//! credential is visible to this request at all
//! ([`crate::extensions::cred_protect`]).

use zeroize::Zeroizing;

use crate::credential::{CredentialFlags, Keyring, Unwrapped};
use crate::env::Store;
use crate::error::Error;
use crate::extensions::cred_protect;
use crate::record::{self, CredentialRecord, MAX_RECORD_CREDENTIAL_ID_LEN};
use crate::status::CtapError;

/// A credential of ours, found by ID.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) credential_id: Vec<u8>,
    pub(crate) key: Unwrapped,
    /// The stored record: a discoverable credential's, or that of a
    /// non-discoverable one the test lab added (`key.flags.discoverable`
    /// tells which).
    pub(crate) record: Option<CredentialRecord>,
}

impl Found {
    /// The credential's CredRandom for hmac-secret (CTAP 2.1 §12.5): the
    /// one imported with it if its record has one, else derived from the key.
    pub(crate) fn cred_random(&self, with_uv: bool) -> Result<Zeroizing<[u8; 32]>, CtapError> {
        match self.record.as_ref().and_then(|r| r.cred_randoms.as_ref()) {
            Some(stored) if with_uv => Ok(stored.with_uv.clone()),
            Some(stored) => Ok(stored.without_uv.clone()),
            None => self.key.cred_random(with_uv),
        }
    }
}

/// The key of a stored discoverable credential: the record's own key if it
/// carries one, else its ID opened under the keyring.
pub(crate) fn record_key(
    keyring: &Keyring<'_>,
    rp_id_hash: &[u8; 32],
    record: &CredentialRecord,
) -> Option<Unwrapped> {
    stored_key(record).or_else(|| keyring.unwrap(rp_id_hash, &record.credential_id))
}

/// The key a record carries, with the flags an ID would have sealed.
fn stored_key(record: &CredentialRecord) -> Option<Unwrapped> {
    Some(Unwrapped {
        key: record.private_key.as_ref()?.to_key()?,
        flags: CredentialFlags {
            discoverable: true,
            cred_protect: record.cred_protect,
            third_party_payment: record.third_party_payment,
        },
    })
}

/// The first of `ids` that is a live credential of ours for the RP.
/// Reads only: a device without secrets yet has no credentials made here
/// (imported ones may still exist).
pub(crate) fn first_ours<S: Store>(
    keyring: &Keyring<'_>,
    store: &S,
    rp_id_hash: &[u8; 32],
    ids: &[&[u8]],
) -> Result<Option<Found>, Error> {
    for id in ids {
        let unwrapped = match keyring.unwrap(rp_id_hash, id) {
            // A non-discoverable credential needs nothing stored.
            Some(key) if !key.flags.discoverable => {
                return Ok(Some(Found {
                    credential_id: id.to_vec(),
                    key,
                    record: None,
                }));
            }
            other => other,
        };
        // Discoverable, or not an ID of ours: only a record makes it live.
        if unwrapped.is_none() && (id.is_empty() || id.len() > MAX_RECORD_CREDENTIAL_ID_LEN) {
            continue;
        }
        let Some(record) = record::find(store, rp_id_hash, id)? else {
            // A non-discoverable credential the test lab added: its record
            // carries the key, and it is found by this ID alone.
            if let Some(record) = record::find_non_discoverable(store, rp_id_hash, id)?
                && let Some(mut key) = stored_key(&record)
            {
                key.flags.discoverable = false;
                return Ok(Some(Found {
                    credential_id: id.to_vec(),
                    key,
                    record: Some(record),
                }));
            }
            continue;
        };
        let Some(key) = stored_key(&record).or(unwrapped) else {
            continue;
        };
        return Ok(Some(Found {
            credential_id: id.to_vec(),
            key,
            record: Some(record),
        }));
    }
    Ok(None)
}

/// The first of `ids` that is a live credential of ours for the RP and
/// visible to a request with (`uv`) or without user verification: a
/// credProtect level-3 credential is skipped without UV.
pub(crate) fn first_visible<S: Store>(
    keyring: &Keyring<'_>,
    store: &S,
    rp_id_hash: &[u8; 32],
    ids: &[&[u8]],
    uv: bool,
) -> Result<Option<Found>, Error> {
    for id in ids {
        if let Some(found) = first_ours(keyring, store, rp_id_hash, &[id])?
            && cred_protect::visible_when_listed(found.key.flags.cred_protect, uv)
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// Opens a stored discoverable credential (getAssertion without an
/// allowList, getNextAssertion).
pub(crate) fn open_record(
    keyring: &Keyring<'_>,
    rp_id_hash: &[u8; 32],
    record: CredentialRecord,
) -> Option<Found> {
    record_key(keyring, rp_id_hash, &record).map(|key| Found {
        credential_id: record.credential_id.clone(),
        key,
        record: Some(record),
    })
}
