//! The credential listing of `softkey list` and `softkey delete`: every
//! discoverable credential as a [`CredentialSummary`], by RP id, then
//! newest first.

use crate::env::{Store, StoreError};
use crate::record::CredentialRecord;
use crate::store_keys::CREDENTIALS;

/// One discoverable credential, as `softkey list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSummary {
    pub rp_id: String,
    pub user_id: Vec<u8>,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub credential_id: Vec<u8>,
}

/// Every discoverable credential, ordered by RP id, then newest first.
/// A record that does not decode is reported, not skipped.
pub fn list_credentials<S: Store>(store: &S) -> Result<Vec<CredentialSummary>, StoreError> {
    let mut records = Vec::new();
    for stored in store.scan_prefix(CREDENTIALS)? {
        let record = CredentialRecord::decode(&stored.value).ok_or_else(|| {
            StoreError::corrupt(format!("credential record ({} byte key)", stored.key.len()))
        })?;
        records.push(record);
    }
    sort_for_listing(&mut records);
    Ok(records
        .into_iter()
        .map(CredentialRecord::into_summary)
        .collect())
}

/// The order `softkey list` shows: by RP id, then newest first.
pub(crate) fn sort_for_listing(records: &mut [CredentialRecord]) {
    records.sort_by(|a, b| a.rp_id.cmp(&b.rp_id).then(b.order.cmp(&a.order)));
}

impl CredentialRecord {
    /// What `softkey list` shows of the record.
    pub(crate) fn into_summary(self) -> CredentialSummary {
        CredentialSummary {
            rp_id: self.rp_id,
            user_id: self.user_id,
            user_name: self.user_name,
            user_display_name: self.user_display_name,
            created: self.created,
            credential_id: self.credential_id,
        }
    }
}
