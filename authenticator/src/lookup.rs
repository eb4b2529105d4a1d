//! Finding our credentials among the IDs a request names (CTAP 2.1 §6.1.2
//! step 12 excludeList, §6.2.2 step 7 allowList).
//!
//! An ID is ours for an RP when it unwraps under the device key with that
//! RP's hash. A discoverable one must also still have its store record:
//! a deleted credential is gone even though its ID would still unwrap.
//! credProtect (§12.1) then decides whether a found credential is visible
//! to this request at all ([`crate::extensions::cred_protect`]).

use crate::Authenticator;
use crate::credential::{self, Unwrapped};
use crate::env::Env;
use crate::extensions::cred_protect;
use crate::record::{self, CredentialRecord};
use crate::status::CtapError;

/// A credential of ours, found by ID.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) credential_id: Vec<u8>,
    pub(crate) key: Unwrapped,
    /// The stored record, for discoverable credentials.
    pub(crate) record: Option<CredentialRecord>,
}

impl Authenticator {
    /// The first of `ids` that is a live credential of ours for the RP.
    /// Reads only: a device without secrets yet has no credentials.
    pub(crate) fn first_ours<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        ids: &[&[u8]],
    ) -> Result<Option<Found>, CtapError> {
        let Some(secrets) = self.existing_secrets(env)? else {
            return Ok(None);
        };
        for id in ids {
            let Some(key) = credential::unwrap(secrets, rp_id_hash, id) else {
                continue;
            };
            let record = if key.flags.discoverable {
                match record::find(env.store(), rp_id_hash, id)? {
                    Some(record) => Some(record),
                    None => continue,
                }
            } else {
                None
            };
            return Ok(Some(Found {
                credential_id: id.to_vec(),
                key,
                record,
            }));
        }
        Ok(None)
    }

    /// The first of `ids` that is a live credential of ours for the RP and
    /// visible to a request with (`uv`) or without user verification: a
    /// credProtect level-3 credential is skipped without UV.
    pub(crate) fn first_visible<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        ids: &[&[u8]],
        uv: bool,
    ) -> Result<Option<Found>, CtapError> {
        for id in ids {
            if let Some(found) = self.first_ours(env, rp_id_hash, &[id])?
                && cred_protect::visible_when_listed(found.key.flags.cred_protect, uv)
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Opens a stored discoverable credential's ID (getAssertion without an
    /// allowList, getNextAssertion).
    pub(crate) fn open_record<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        record: CredentialRecord,
    ) -> Result<Option<Found>, CtapError> {
        let Some(secrets) = self.existing_secrets(env)? else {
            return Ok(None);
        };
        Ok(
            credential::unwrap(secrets, rp_id_hash, &record.credential_id).map(|key| Found {
                credential_id: record.credential_id.clone(),
                key,
                record: Some(record),
            }),
        )
    }
}
