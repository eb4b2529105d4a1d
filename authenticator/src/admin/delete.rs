//! Deleting discoverable credentials from the host side (`softkey delete`),
//! the offline counterpart of authenticatorCredentialManagement's
//! deleteCredential (CTAP 2.1 §6.8.5).
//!
//! As in §6.8.5, removing the record is the whole deletion: lookups of a
//! discoverable credential require its record ([`crate::record`]), so the
//! credential can no longer sign. Every matching record goes in one
//! [`Store::apply`] batch, so either all of them are gone or none is.

use crate::admin::list::{self, CredentialSummary};
use crate::auth_data::rp_id_hash;
use crate::credential_index;
use crate::env::{Store, StoreChange, StoreError};
use crate::record::CredentialRecord;
use crate::store_keys;

/// Which discoverable credentials to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSelector<'a> {
    /// These exact credential ids (ids that are not in the store are ignored).
    Ids(&'a [Vec<u8>]),
    /// Every credential of `rp_id`; with `user_name`, only those whose user
    /// name is exactly that.
    Rp {
        rp_id: &'a str,
        user_name: Option<&'a str>,
    },
}

impl CredentialSelector<'_> {
    fn matches(&self, r: &CredentialRecord) -> bool {
        match *self {
            CredentialSelector::Ids(ids) => ids.contains(&r.credential_id),
            CredentialSelector::Rp { rp_id, user_name } => {
                r.rp_id == rp_id
                    && user_name.is_none_or(|name| r.user_name.as_deref() == Some(name))
            }
        }
    }
}

/// The discoverable credentials `selector` names, ordered as
/// [`crate::list_credentials`] orders them (what a delete would remove).
pub fn find_credentials<S: Store>(
    store: &S,
    selector: &CredentialSelector<'_>,
) -> Result<Vec<CredentialSummary>, StoreError> {
    Ok(matching(store, selector)?
        .into_iter()
        .map(CredentialRecord::into_summary)
        .collect())
}

/// Deletes the discoverable credentials `selector` names, atomically (one
/// store batch), and returns what was deleted. Nothing matching is not an
/// error: the list is empty and the store is not written.
pub fn delete_credentials<S: Store>(
    store: &mut S,
    selector: &CredentialSelector<'_>,
) -> Result<Vec<CredentialSummary>, StoreError> {
    let records = matching(store, selector)?;
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let mut batch: Vec<StoreChange> = records
        .iter()
        .flat_map(|r| credential_index::removal(&rp_id_hash(&r.rp_id), r))
        .collect();
    crate::cred_store_state::stamp(store, &mut batch)?;
    store.apply(&batch)?;
    Ok(records
        .into_iter()
        .map(CredentialRecord::into_summary)
        .collect())
}

/// Decodable records that match, by RP id then newest first. A corrupt
/// record cannot be matched (its RP and id are unknown) and stays.
fn matching<S: Store>(
    store: &S,
    selector: &CredentialSelector<'_>,
) -> Result<Vec<CredentialRecord>, StoreError> {
    let mut records: Vec<CredentialRecord> = store
        .scan_prefix(store_keys::CREDENTIALS)?
        .iter()
        .filter_map(|stored| CredentialRecord::decode(&stored.value))
        .filter(|r| selector.matches(r))
        .collect();
    list::sort_for_listing(&mut records);
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list_credentials;
    use crate::testing::{TestStore, credential_record};

    fn add(store: &mut TestStore, rp: &str, user: &str, cred: &[u8], order: u64) {
        let r = CredentialRecord {
            user_name: Some(user.into()),
            ..credential_record(rp, user.as_bytes(), cred, order)
        };
        crate::record::save(store, &rp_id_hash(rp), &r).unwrap();
    }

    fn store() -> TestStore {
        let mut s = TestStore::default();
        add(&mut s, "github.com", "alice", b"g1", 1);
        add(&mut s, "github.com", "bob", b"g2", 2);
        add(&mut s, "example.org", "alice", b"e1", 3);
        s
    }

    fn ids(list: &[CredentialSummary]) -> Vec<&[u8]> {
        list.iter().map(|c| c.credential_id.as_slice()).collect()
    }

    #[test]
    fn by_rp_and_user_deletes_only_that_account_in_one_write() {
        let mut s = store();
        let before = s.writes();
        let sel = CredentialSelector::Rp {
            rp_id: "github.com",
            user_name: Some("alice"),
        };
        assert_eq!(ids(&find_credentials(&s, &sel).unwrap()), vec![b"g1"]);
        let deleted = delete_credentials(&mut s, &sel).unwrap();
        assert_eq!(ids(&deleted), vec![b"g1"]);
        assert_eq!(deleted[0].user_name.as_deref(), Some("alice"));
        assert_eq!(s.writes(), before + 1);
        assert_eq!(ids(&list_credentials(&s).unwrap()), vec![&b"e1"[..], b"g2"]);
    }

    #[test]
    fn by_rp_deletes_every_account_atomically_newest_first() {
        let mut s = store();
        let before = s.writes();
        let sel = CredentialSelector::Rp {
            rp_id: "github.com",
            user_name: None,
        };
        let deleted = delete_credentials(&mut s, &sel).unwrap();
        assert_eq!(ids(&deleted), vec![&b"g2"[..], b"g1"]);
        assert_eq!(s.writes(), before + 1, "one batch");
        assert_eq!(ids(&list_credentials(&s).unwrap()), vec![b"e1"]);
    }

    #[test]
    fn by_ids_ignores_unknown_ids_and_nothing_matching_writes_nothing() {
        let mut s = store();
        let want = [b"e1".to_vec(), b"zz".to_vec(), b"g2".to_vec()];
        let deleted = delete_credentials(&mut s, &CredentialSelector::Ids(&want)).unwrap();
        assert_eq!(ids(&deleted), vec![&b"e1"[..], b"g2"]);
        let before = s.writes();
        let none = [b"zz".to_vec()];
        assert!(
            delete_credentials(&mut s, &CredentialSelector::Ids(&none))
                .unwrap()
                .is_empty()
        );
        let sel = CredentialSelector::Rp {
            rp_id: "github.com",
            user_name: Some("carol"),
        };
        assert!(delete_credentials(&mut s, &sel).unwrap().is_empty());
        assert_eq!(s.writes(), before);
        assert_eq!(ids(&list_credentials(&s).unwrap()), vec![b"g1"]);
    }

    #[test]
    fn a_failed_batch_deletes_nothing() {
        let mut s = store();
        s.fail_next_write();
        let sel = CredentialSelector::Rp {
            rp_id: "github.com",
            user_name: None,
        };
        assert!(delete_credentials(&mut s, &sel).is_err());
        assert_eq!(list_credentials(&s).unwrap().len(), 3);
    }
}
