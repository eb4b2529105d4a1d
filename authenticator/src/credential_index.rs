//! The newest-first index of each RP's discoverable credentials, so that a
//! username-less getAssertion (CTAP 2.1 §6.2.2 step 7 without an allowList,
//! §6.3 getNextAssertion) touches only what its answer needs: the count, and
//! one record per response. Its cost does not grow with the accounts on the
//! RP (BENCHMARKS.md "Accounts on one RP").
//!
//! Two families of entries, `family ‖ SHA-256(rpId) ‖ !order` (big-endian,
//! so the newest credential sorts first) → credential ID:
//! - [`Family::All`]: every credential, for a request with user verification;
//! - [`Family::WithoutUv`]: credProtect level 1 only, the ones a request
//!   without UV may see unlisted (§12.1, [`crate::extensions::cred_protect`]).
//!
//! The index is written in the same [`Store::apply`] batch as the record it
//! describes ([`insertion`], [`removal`]), so a crash leaves both or neither.
//! Vaults written before the index existed, or by another version, are
//! healed on use: when an RP's record count and index count differ, or an
//! entry points to no record, the RP's index is rebuilt from its records.
//! One case heals a request late: another version that deleted one
//! credential and added another leaves the counts equal, so the first walk
//! finds the stale entry only when it reaches it; credentials newer than
//! that point appear from the next request on.

use crate::env::{Store, StoreChange};
use crate::error::Error;
use crate::extensions::cred_protect;
use crate::record::{self, CredentialRecord};
use crate::store_keys::{CREDENTIALS_NEWEST_FIRST, CREDENTIALS_WITHOUT_UV_NEWEST_FIRST};

/// Which credentials a walk visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// Every discoverable credential (a request with UV).
    All,
    /// credProtect level 1 only (a request without UV).
    WithoutUv,
}

impl Family {
    /// The family a username-less request sees (§12.1: unlisted, only level
    /// 1 is visible without UV).
    pub(crate) fn for_request(uv: bool) -> Self {
        if uv { Family::All } else { Family::WithoutUv }
    }

    fn prefix(self, rp_id_hash: &[u8; 32]) -> Vec<u8> {
        let family = match self {
            Family::All => CREDENTIALS_NEWEST_FIRST,
            Family::WithoutUv => CREDENTIALS_WITHOUT_UV_NEWEST_FIRST,
        };
        [family, rp_id_hash.as_slice()].concat()
    }

    fn includes(self, record: &CredentialRecord) -> bool {
        cred_protect::visible_unlisted(record.cred_protect, self == Family::All)
    }
}

fn entry_key(family: Family, rp_id_hash: &[u8; 32], order: u64) -> Vec<u8> {
    [family.prefix(rp_id_hash), (!order).to_be_bytes().to_vec()].concat()
}

/// The changes that store `record` with its index entries.
pub(crate) fn insertion(rp_id_hash: &[u8; 32], record: &CredentialRecord) -> Vec<StoreChange> {
    let mut changes = vec![StoreChange::Put(
        record::key(rp_id_hash, &record.credential_id),
        record.encode().to_vec(),
    )];
    for family in [Family::All, Family::WithoutUv] {
        if family.includes(record) {
            changes.push(StoreChange::Put(
                entry_key(family, rp_id_hash, record.order),
                record.credential_id.clone(),
            ));
        }
    }
    changes
}

/// The changes that remove `record` and its index entries.
pub(crate) fn removal(rp_id_hash: &[u8; 32], record: &CredentialRecord) -> Vec<StoreChange> {
    let mut changes = vec![StoreChange::Delete(record::key(
        rp_id_hash,
        &record.credential_id,
    ))];
    for family in [Family::All, Family::WithoutUv] {
        // Deleting an absent entry is allowed: no need to know the level.
        changes.push(StoreChange::Delete(entry_key(
            family,
            rp_id_hash,
            record.order,
        )));
    }
    changes
}

/// A walk over one RP's credentials of one family, newest first, one
/// record per step (the state getNextAssertion continues).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewestFirst {
    rp_id_hash: [u8; 32],
    family: Family,
    /// The last entry returned; the walk continues after it.
    after: Option<Vec<u8>>,
}

impl NewestFirst {
    /// Starts a walk, healing the RP's index first if it does not match the
    /// records. Returns the walk and how many credentials it will visit.
    pub(crate) fn start<S: Store>(
        store: &mut S,
        rp_id_hash: &[u8; 32],
        family: Family,
    ) -> Result<(Self, usize), Error> {
        let records = store.count_prefix(&record::rp_prefix(rp_id_hash))?;
        let indexed = store.count_prefix(&Family::All.prefix(rp_id_hash))?;
        if records != indexed {
            rebuild(store, rp_id_hash)?;
        }
        let count = store.count_prefix(&family.prefix(rp_id_hash))?;
        let walk = NewestFirst {
            rp_id_hash: *rp_id_hash,
            family,
            after: None,
        };
        Ok((walk, count))
    }

    /// The next credential's record, `None` at the end. An entry that
    /// points to no record means the index is stale: it is rebuilt and the
    /// walk goes on from the same place (entries of surviving records keep
    /// their keys).
    pub(crate) fn next<S: Store>(
        &mut self,
        store: &mut S,
    ) -> Result<Option<CredentialRecord>, Error> {
        let prefix = self.family.prefix(&self.rp_id_hash);
        let mut healed = false;
        loop {
            let Some(entry) = store.next_in_prefix(&prefix, self.after.as_deref())? else {
                return Ok(None);
            };
            match record::find(store, &self.rp_id_hash, &entry.value)? {
                Some(record) => {
                    self.after = Some(entry.key.to_vec());
                    return Ok(Some(record));
                }
                None if !healed => {
                    rebuild(store, &self.rp_id_hash)?;
                    healed = true;
                }
                // Still dangling after a rebuild: the record no longer
                // decodes. Skip it, as the record list always did.
                None => self.after = Some(entry.key.to_vec()),
            }
        }
    }
}

/// Rewrites the RP's index from its records (undecodable records get no
/// entry), in one batch; writes nothing when the index is already right.
fn rebuild<S: Store>(store: &mut S, rp_id_hash: &[u8; 32]) -> Result<(), Error> {
    let mut wanted = Vec::new();
    for record in record::for_rp(store, rp_id_hash)? {
        for family in [Family::All, Family::WithoutUv] {
            if family.includes(&record) {
                wanted.push((
                    entry_key(family, rp_id_hash, record.order),
                    record.credential_id.clone(),
                ));
            }
        }
    }
    let mut present = Vec::new();
    for family in [Family::All, Family::WithoutUv] {
        for stored in store.scan_prefix(&family.prefix(rp_id_hash))? {
            present.push((stored.key.to_vec(), stored.value.to_vec()));
        }
    }
    wanted.sort();
    present.sort();
    if wanted == present {
        return Ok(());
    }
    let mut batch: Vec<StoreChange> = present
        .into_iter()
        .map(|(key, _)| StoreChange::Delete(key))
        .collect();
    batch.extend(
        wanted
            .into_iter()
            .map(|(key, id)| StoreChange::Put(key, id)),
    );
    Ok(store.apply(&batch)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStore, credential_record};

    const RP: [u8; 32] = [7; 32];

    fn add(store: &mut MemoryStore, id: &[u8], order: u64, level: u8) -> CredentialRecord {
        let record = CredentialRecord {
            cred_protect: level,
            ..credential_record("rp.example", id, id, order)
        };
        store.apply(&insertion(&RP, &record)).unwrap();
        record
    }

    fn walk(store: &mut MemoryStore, family: Family) -> (usize, Vec<Vec<u8>>) {
        let (mut walk, count) = NewestFirst::start(store, &RP, family).unwrap();
        let mut ids = Vec::new();
        while let Some(record) = walk.next(store).unwrap() {
            ids.push(record.credential_id);
        }
        (count, ids)
    }

    #[test]
    fn walks_newest_first_and_hides_protected_credentials_without_uv() {
        let mut store = MemoryStore::new();
        add(&mut store, b"a", 1, 1);
        add(&mut store, b"b", 5, 3);
        add(&mut store, b"c", 3, 2);
        add(&mut store, b"d", 4, 1);
        let all = walk(&mut store, Family::All);
        assert_eq!(
            all,
            (
                4,
                vec![b"b".to_vec(), b"d".to_vec(), b"c".to_vec(), b"a".to_vec()]
            )
        );
        let plain = walk(&mut store, Family::WithoutUv);
        assert_eq!(plain, (2, vec![b"d".to_vec(), b"a".to_vec()]));
    }

    #[test]
    fn removal_takes_the_entries_with_the_record() {
        let mut store = MemoryStore::new();
        let a = add(&mut store, b"a", 1, 1);
        add(&mut store, b"b", 2, 1);
        store.apply(&removal(&RP, &a)).unwrap();
        assert_eq!(walk(&mut store, Family::All), (1, vec![b"b".to_vec()]));
        assert_eq!(
            walk(&mut store, Family::WithoutUv),
            (1, vec![b"b".to_vec()])
        );
        assert_eq!(store.len(), 3, "one record, two entries");
    }

    #[test]
    fn an_index_that_does_not_match_the_records_is_rebuilt() {
        let mut store = MemoryStore::new();
        add(&mut store, b"a", 1, 1);
        // A record written without its entries (an older version).
        let b = credential_record("rp.example", b"b", b"b", 2);
        store.put(&record::key(&RP, b"b"), &b.encode()).unwrap();
        assert_eq!(
            walk(&mut store, Family::All),
            (2, vec![b"b".to_vec(), b"a".to_vec()])
        );
        // An entry whose record is gone, with the counts still equal: the
        // walk heals the index when it meets the stale entry, and the next
        // walk sees the new credential.
        store.delete(&record::key(&RP, b"a")).unwrap();
        let c = credential_record("rp.example", b"c", b"c", 3);
        store.put(&record::key(&RP, b"c"), &c.encode()).unwrap();
        assert_eq!(walk(&mut store, Family::All), (2, vec![b"b".to_vec()]));
        assert_eq!(
            walk(&mut store, Family::All),
            (2, vec![b"c".to_vec(), b"b".to_vec()])
        );
        // Healed: a second look writes nothing.
        let before = store.len();
        assert_eq!(walk(&mut store, Family::All).0, 2);
        assert_eq!(store.len(), before);
    }
}
