//! What a relying-party test sets per credential, beyond what a served key
//! decides for itself: how it counts signatures and its backup flags
//! (WebAuthn §6.1 "Signature Counter Considerations", §6.1.3 BE and BS).
//!
//! A key served by `softkey serve` keeps one global counter that only goes
//! up, and clears BE and BS (a softkey passkey is device-bound). The test
//! lab may instead give credentials their own counter, no counter at all
//! (always 0, as synced passkeys report), or a counter set back on purpose
//! to test an RP's clone detection, and set BE and BS, as the W3C virtual
//! authenticator's `signCount`, `backupEligibility` and `backupState` do.
//!
//! Stored in the credential's record (keys 17–19, `crate::record`);
//! non-discoverable credentials have no record and follow the defaults.

use crate::auth_data::{FLAG_BE, FLAG_BS};
use crate::env::Store;
use crate::error::Error;
use crate::record::{self, CredentialRecord};

/// How a credential counts its signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignCounterKind {
    /// The key's one counter, shared by every credential (a served key).
    #[default]
    Global,
    /// Its own counter: the last value it signed with (the next is one more).
    Own(u32),
    /// No counter: every signature reports 0.
    Never,
}

/// How the next credentials count (the test lab's authenticator option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CounterMode {
    /// One counter for the key (the default).
    #[default]
    Global,
    /// Each discoverable credential its own counter, from 0.
    PerCredential,
    /// Always 0.
    Zero,
}

impl CounterMode {
    /// A new credential's counter.
    pub(crate) fn new_credential(self) -> SignCounterKind {
        match self {
            CounterMode::Global => SignCounterKind::Global,
            CounterMode::PerCredential => SignCounterKind::Own(0),
            CounterMode::Zero => SignCounterKind::Never,
        }
    }
}

/// A credential's counter and backup flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CredentialProperties {
    pub counter: SignCounterKind,
    /// BE: the credential may be backed up.
    pub backup_eligible: bool,
    /// BS: the credential is backed up.
    pub backup_state: bool,
}

impl CredentialProperties {
    /// The BE and BS bits of authenticator data flags.
    pub(crate) fn flags(self) -> u8 {
        (if self.backup_eligible { FLAG_BE } else { 0 })
            | (if self.backup_state { FLAG_BS } else { 0 })
    }
}

/// Changes one discoverable credential's properties (the lab's Set
/// Credential Properties and Add Credential). Returns false when no
/// credential has this id.
pub fn set_credential_properties<S: Store>(
    store: &mut S,
    credential_id: &[u8],
    properties: CredentialProperties,
) -> Result<bool, Error> {
    let Some(mut found) = find(store, credential_id)? else {
        return Ok(false);
    };
    found.properties = properties;
    let rp_id_hash = crate::auth_data::rp_id_hash(&found.rp_id);
    record::save(store, &rp_id_hash, &found)?;
    Ok(true)
}

/// Every discoverable credential's id and properties.
pub fn credential_properties<S: Store>(
    store: &S,
) -> Result<Vec<(Vec<u8>, CredentialProperties)>, Error> {
    Ok(record::all(store)?
        .into_iter()
        .map(|r| (r.credential_id, r.properties))
        .collect())
}

fn find<S: Store>(store: &S, credential_id: &[u8]) -> Result<Option<CredentialRecord>, Error> {
    Ok(record::all(store)?
        .into_iter()
        .find(|r| r.credential_id == credential_id))
}
