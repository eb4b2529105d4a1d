//! Discoverable credentials seen device-wide, for credential management
//! (CTAP 2.1 §6.8): all of them, grouped by RP, found by credential ID
//! alone (deleteCredential and updateUserInformation name no RP), deleted,
//! and updated. Built on [`crate::record`]; reset wipes every key under
//! record's `cred/` prefix, decodable or not.

use std::collections::BTreeMap;

use crate::env::Store;
use crate::error::Error;
use crate::record::{self, CredentialRecord};
use crate::status::CtapError;

/// Every decodable discoverable credential. A record that does not decode
/// is skipped, as getAssertion skips it.
pub(crate) fn all<S: Store>(store: &S) -> Result<Vec<CredentialRecord>, Error> {
    record::all(store)
}

/// `existingResidentCredentialsCount` (§6.8.2).
pub(crate) fn count<S: Store>(store: &S) -> Result<u64, Error> {
    Ok(u64::try_from(all(store)?.len()).unwrap_or(u64::MAX))
}

/// `maxPossibleRemainingResidentCredentialsCount` (§6.8.2): the same
/// number as getInfo's `remainingDiscoverableCredentials` (§6.4, 0x14).
pub(crate) fn remaining<S: Store>(store: &S, capacity: u64) -> Result<u64, Error> {
    record::remaining(store, capacity)
}

/// The RPs that have discoverable credentials, as (rp id, rp name), sorted
/// by RP id. The name is the one stored with the newest credential.
pub(crate) fn relying_parties<S: Store>(store: &S) -> Result<Vec<(String, Option<String>)>, Error> {
    let mut rps: BTreeMap<String, (u64, Option<String>)> = BTreeMap::new();
    for r in all(store)? {
        let entry = rps.entry(r.rp_id).or_insert((r.order, r.rp_name.clone()));
        if r.order >= entry.0 {
            *entry = (r.order, r.rp_name);
        }
    }
    Ok(rps.into_iter().map(|(id, (_, name))| (id, name)).collect())
}

/// The credential with this ID, whatever its RP.
pub(crate) fn find_by_id<S: Store>(
    store: &S,
    credential_id: &[u8],
) -> Result<Option<CredentialRecord>, Error> {
    Ok(all(store)?
        .into_iter()
        .find(|r| r.credential_id == credential_id))
}

/// Deletes one credential's record. Its ID may still unwrap, but lookups
/// require the record for discoverable credentials, so it is gone.
pub(crate) fn delete<S: Store>(store: &mut S, record: &CredentialRecord) -> Result<(), Error> {
    let rp_id_hash = crate::auth_data::rp_id_hash(&record.rp_id);
    if record::delete(store, &rp_id_hash, &record.credential_id)? {
        Ok(())
    } else {
        Err(CtapError::NoCredentials.into())
    }
}

/// Replaces a stored record (same RP, user id and credential ID).
pub(crate) fn replace<S: Store>(store: &mut S, record: &CredentialRecord) -> Result<(), Error> {
    let rp_id_hash = crate::auth_data::rp_id_hash(&record.rp_id);
    record::save(store, &rp_id_hash, record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth_data::rp_id_hash;
    use crate::store_keys::CREDENTIALS;
    use crate::testing::{MemoryStore, credential_record};

    fn record(rp: &str, user: u8, cred: &[u8], order: u64, name: Option<&str>) -> CredentialRecord {
        CredentialRecord {
            rp_name: name.map(str::to_owned),
            user_name: Some(format!("user-{user}")),
            ..credential_record(rp, &[user], cred, order)
        }
    }

    fn put(store: &mut MemoryStore, r: &CredentialRecord) {
        record::save(store, &rp_id_hash(&r.rp_id), r).unwrap();
    }

    #[test]
    fn counts_groups_finds_and_deletes() {
        let mut store = MemoryStore::new();
        put(&mut store, &record("b.example", 1, b"b1", 1, Some("Old B")));
        put(&mut store, &record("a.example", 2, b"a1", 2, None));
        put(&mut store, &record("b.example", 3, b"b2", 3, Some("New B")));
        store.put(b"device/counter", &[0, 0, 1, 0]).unwrap();
        assert_eq!(count(&store).unwrap(), 3);
        assert_eq!(remaining(&store, 1000).unwrap(), 997);
        assert_eq!(
            relying_parties(&store).unwrap(),
            vec![
                ("a.example".to_owned(), None),
                ("b.example".to_owned(), Some("New B".to_owned()))
            ]
        );
        let b1 = find_by_id(&store, b"b1").unwrap().unwrap();
        assert_eq!(b1.rp_id, "b.example");
        assert!(find_by_id(&store, b"zz").unwrap().is_none());
        delete(&mut store, &b1).unwrap();
        assert!(find_by_id(&store, b"b1").unwrap().is_none());
        assert_eq!(
            delete(&mut store, &b1),
            Err(CtapError::NoCredentials.into())
        );
        assert_eq!(store.scan_prefix(CREDENTIALS).unwrap().len(), 2);
    }

    #[test]
    fn corrupt_and_odd_keys_are_skipped() {
        let mut store = MemoryStore::new();
        put(&mut store, &record("a.example", 1, b"a1", 1, None));
        store.put(b"cred/short", b"\xA0").unwrap();
        let mut bad = b"cred/".to_vec();
        bad.extend_from_slice(&[7; 32]);
        bad.extend_from_slice(b"id");
        store.put(&bad, b"\xFF").unwrap();
        assert_eq!(count(&store).unwrap(), 1);
        assert!(find_by_id(&store, b"id").unwrap().is_none());
        // A scan (reset's batch) still sees every key, decodable or not.
        assert_eq!(store.scan_prefix(CREDENTIALS).unwrap().len(), 3);
    }

    #[test]
    fn replace_keeps_one_record() {
        let mut store = MemoryStore::new();
        let mut r = record("a.example", 1, b"a1", 1, None);
        put(&mut store, &r);
        r.user_name = Some("renamed".into());
        replace(&mut store, &r).unwrap();
        assert_eq!(count(&store).unwrap(), 1);
        assert_eq!(
            find_by_id(&store, b"a1")
                .unwrap()
                .unwrap()
                .user_name
                .as_deref(),
            Some("renamed")
        );
    }
}
