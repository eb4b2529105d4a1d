//! Discoverable credential records (CTAP 2.1 §6.1.2 step 17, §6.2.2 step 7)
//! and the credential listing for `softkey list`.
//!
//! Key layout: `cred/` || SHA-256(rp id) (32) || credential ID, so all of an
//! RP's credentials are one prefix scan (username-less login) and a given
//! credential is one `get` (allowList checks). The value is a canonical CBOR
//! map with integer keys:
//! `{1: rp id, 2: rp name?, 3: user id, 4: user name?, 5: display name?,
//! 6: credential ID, 7: created (unix s), 8: creation order,
//! 9: credProtect level?, 10: credBlob?, 11: largeBlobKey?}` (keys 9–11
//! since CTAP 2.1 support; absent means level 1, no blob, no key).
//! The creation order is the signature counter value of the makeCredential
//! that made the credential: unique and increasing, so "newest first" is a
//! sort by it. Unknown keys are ignored so later versions can add fields.

use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::{Store, StoreError};
use crate::status::CtapError;

const PREFIX: &[u8] = b"cred/";

/// A discoverable credential as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialRecord {
    pub(crate) rp_id: String,
    pub(crate) rp_name: Option<String>,
    pub(crate) user_id: Vec<u8>,
    pub(crate) user_name: Option<String>,
    pub(crate) user_display_name: Option<String>,
    pub(crate) credential_id: Vec<u8>,
    pub(crate) created: u64,
    pub(crate) order: u64,
    /// credProtect level 1..=3 (CTAP 2.1 §12.1), also sealed in the ID.
    pub(crate) cred_protect: u8,
    /// credBlob (CTAP 2.1 §12.2), at most 32 bytes.
    pub(crate) cred_blob: Option<Vec<u8>>,
    /// largeBlobKey (CTAP 2.1 §12.3).
    pub(crate) large_blob_key: Option<[u8; 32]>,
}

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
    for (key, value) in store.scan_prefix(PREFIX)? {
        let record = CredentialRecord::decode(&value).ok_or_else(|| {
            StoreError(format!(
                "corrupt credential record ({} byte key)",
                key.len()
            ))
        })?;
        records.push(record);
    }
    records.sort_by(|a, b| a.rp_id.cmp(&b.rp_id).then(b.order.cmp(&a.order)));
    Ok(records
        .into_iter()
        .map(|r| CredentialSummary {
            rp_id: r.rp_id,
            user_id: r.user_id,
            user_name: r.user_name,
            user_display_name: r.user_display_name,
            created: r.created,
            credential_id: r.credential_id,
        })
        .collect())
}

fn rp_prefix(rp_id_hash: &[u8; 32]) -> Vec<u8> {
    [PREFIX, rp_id_hash.as_slice()].concat()
}

fn key(rp_id_hash: &[u8; 32], credential_id: &[u8]) -> Vec<u8> {
    [PREFIX, rp_id_hash.as_slice(), credential_id].concat()
}

/// The RP's discoverable credentials, newest first. Undecodable records are
/// skipped here so one bad record cannot lock a user out of the others.
pub(crate) fn for_rp<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
) -> Result<Vec<CredentialRecord>, CtapError> {
    let mut records: Vec<CredentialRecord> = store
        .scan_prefix(&rp_prefix(rp_id_hash))?
        .iter()
        .filter_map(|(_, value)| CredentialRecord::decode(value))
        .collect();
    // CTAP 2.1 §6.2.2 step 7 (no allowList): most recently created first.
    records.sort_by_key(|r| core::cmp::Reverse(r.order));
    Ok(records)
}

/// Every decodable discoverable credential record (corrupt ones skipped),
/// in key order.
pub(crate) fn all<S: Store>(store: &S) -> Result<Vec<CredentialRecord>, CtapError> {
    Ok(store
        .scan_prefix(PREFIX)?
        .iter()
        .filter_map(|(_, value)| CredentialRecord::decode(value))
        .collect())
}

/// How many more discoverable credentials fit under `capacity` (getInfo
/// 0x14, CTAP 2.1 §6.1.2 step 17 KEY_STORE_FULL).
pub(crate) fn remaining<S: Store>(store: &S, capacity: u64) -> Result<u64, CtapError> {
    let used = u64::try_from(store.count_prefix(PREFIX)?).unwrap_or(u64::MAX);
    Ok(capacity.saturating_sub(used))
}

/// Whether saving a new credential for (`rp_id_hash`, `user_id`) needs a
/// free slot: it does unless it replaces that user's existing credential.
pub(crate) fn needs_slot<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
    user_id: &[u8],
) -> Result<bool, CtapError> {
    Ok(!for_rp(store, rp_id_hash)?
        .iter()
        .any(|r| r.user_id == user_id))
}

/// Deletes one credential's record; `Ok(false)` if it did not exist.
pub(crate) fn delete<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    credential_id: &[u8],
) -> Result<bool, CtapError> {
    Ok(store.delete(&key(rp_id_hash, credential_id))?)
}

/// The stored record of one credential, if it still exists.
pub(crate) fn find<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
    credential_id: &[u8],
) -> Result<Option<CredentialRecord>, CtapError> {
    Ok(store
        .get(&key(rp_id_hash, credential_id))?
        .and_then(|v| CredentialRecord::decode(&v)))
}

/// Stores `record`, then removes older credentials of the same RP and user
/// id (CTAP 2.1 §6.1.2 step 17: "overwrite that credential"). Writing the new
/// one first means a failure never loses the user's only credential.
pub(crate) fn save<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    record: &CredentialRecord,
) -> Result<(), CtapError> {
    let replaced: Vec<Vec<u8>> = store
        .scan_prefix(&rp_prefix(rp_id_hash))?
        .into_iter()
        .filter(|(_, value)| {
            CredentialRecord::decode(value).is_some_and(|old| {
                old.user_id == record.user_id && old.credential_id != record.credential_id
            })
        })
        .map(|(k, _)| k)
        .collect();
    store.put(&key(rp_id_hash, &record.credential_id), &record.encode())?;
    for old in replaced {
        store.delete(&old)?;
    }
    Ok(())
}

impl CredentialRecord {
    fn encode(&self) -> Vec<u8> {
        let mut pairs = vec![
            (1, Value::text(&self.rp_id)),
            (3, Value::bytes(&self.user_id)),
        ];
        let optional_text = [
            (2, &self.rp_name),
            (4, &self.user_name),
            (5, &self.user_display_name),
        ];
        for (k, v) in optional_text {
            if let Some(v) = v {
                pairs.push((k, Value::text(v)));
            }
        }
        pairs.push((6, Value::bytes(&self.credential_id)));
        pairs.push((7, Value::Unsigned(self.created)));
        pairs.push((8, Value::Unsigned(self.order)));
        if self.cred_protect != 1 {
            pairs.push((9, Value::Unsigned(u64::from(self.cred_protect))));
        }
        if let Some(blob) = &self.cred_blob {
            pairs.push((10, Value::bytes(blob)));
        }
        if let Some(k) = &self.large_blob_key {
            pairs.push((11, Value::bytes(k)));
        }
        cbor::encode(&Value::int_map(pairs))
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let value = cbor::decode(bytes).ok()?;
        let f = Fields::of(&value).ok()?;
        let text = |k| {
            optional(f.int(k), fields::text)
                .ok()
                .map(|t| t.map(str::to_owned))
        };
        Some(CredentialRecord {
            rp_id: fields::text(required(f.int(1)).ok()?).ok()?.to_owned(),
            rp_name: text(2)?,
            user_id: fields::bytes(required(f.int(3)).ok()?).ok()?.to_vec(),
            user_name: text(4)?,
            user_display_name: text(5)?,
            credential_id: fields::bytes(required(f.int(6)).ok()?).ok()?.to_vec(),
            created: fields::unsigned(required(f.int(7)).ok()?).ok()?,
            order: fields::unsigned(required(f.int(8)).ok()?).ok()?,
            cred_protect: match optional(f.int(9), fields::unsigned).ok()? {
                None => 1,
                Some(level @ 1..=3) => u8::try_from(level).ok()?,
                Some(_) => return None,
            },
            cred_blob: optional(f.int(10), fields::bytes).ok()?.map(<[u8]>::to_vec),
            large_blob_key: match optional(f.int(11), fields::bytes).ok()? {
                None => None,
                Some(k) => Some(k.try_into().ok()?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    fn record(rp: &str, user: &[u8], cred: &[u8], order: u64) -> CredentialRecord {
        CredentialRecord {
            rp_id: rp.into(),
            rp_name: None,
            user_id: user.to_vec(),
            user_name: Some(format!("user-{}", user[0])),
            user_display_name: None,
            credential_id: cred.to_vec(),
            created: 1000 + order,
            order,
            cred_protect: 1,
            cred_blob: None,
            large_blob_key: None,
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut r = record("example.com", b"u", b"c", 5);
        r.rp_name = Some("Example".into());
        assert_eq!(CredentialRecord::decode(&r.encode()).as_ref(), Some(&r));
        r.cred_protect = 3;
        r.cred_blob = Some(vec![1, 2, 3]);
        r.large_blob_key = Some([7; 32]);
        assert_eq!(CredentialRecord::decode(&r.encode()).as_ref(), Some(&r));
        // A record written before CTAP 2.1 support reads as level 1, no blob, no key.
        let old = cbor::encode(&Value::int_map(vec![
            (1, Value::text("a")),
            (3, Value::bytes(b"u")),
            (6, Value::bytes(b"c")),
            (7, Value::Unsigned(1)),
            (8, Value::Unsigned(2)),
        ]));
        let old = CredentialRecord::decode(&old).unwrap();
        assert_eq!(
            (old.cred_protect, old.cred_blob, old.large_blob_key),
            (1, None, None)
        );
        assert_eq!(CredentialRecord::decode(&[0xA0]), None);
    }

    #[test]
    fn save_replaces_same_user_only() {
        let mut store = MemoryStore::new();
        let h = [1u8; 32];
        save(&mut store, &h, &record("a", b"\x01", b"c1", 1)).unwrap();
        save(&mut store, &h, &record("a", b"\x02", b"c2", 2)).unwrap();
        save(&mut store, &h, &record("a", b"\x01", b"c3", 3)).unwrap();
        let ids: Vec<Vec<u8>> = for_rp(&store, &h)
            .unwrap()
            .into_iter()
            .map(|r| r.credential_id)
            .collect();
        assert_eq!(ids, vec![b"c3".to_vec(), b"c2".to_vec()]);
        assert!(find(&store, &h, b"c1").unwrap().is_none());
        assert!(find(&store, &h, b"c3").unwrap().is_some());
        assert!(find(&store, &[2; 32], b"c3").unwrap().is_none());
        assert_eq!(all(&store).unwrap().len(), 2);
        assert!(delete(&mut store, &h, b"c3").unwrap());
        assert!(!delete(&mut store, &h, b"c3").unwrap());
        assert_eq!(all(&store).unwrap().len(), 1);
    }

    #[test]
    fn listing_is_rp_order_then_newest_first() {
        let mut store = MemoryStore::new();
        save(
            &mut store,
            &[9; 32],
            &record("b.example", b"\x01", b"b1", 1),
        )
        .unwrap();
        save(
            &mut store,
            &[1; 32],
            &record("c.example", b"\x02", b"c1", 2),
        )
        .unwrap();
        save(
            &mut store,
            &[9; 32],
            &record("b.example", b"\x03", b"b2", 3),
        )
        .unwrap();
        let list = list_credentials(&store).unwrap();
        let got: Vec<(&str, &[u8])> = list
            .iter()
            .map(|s| (s.rp_id.as_str(), s.credential_id.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("b.example", &b"b2"[..]),
                ("b.example", b"b1"),
                ("c.example", b"c1")
            ]
        );
        assert_eq!(list[0].created, 1003);
    }

    #[test]
    fn listing_reports_corrupt_records() {
        let mut store = MemoryStore::new();
        store.put(b"cred/garbage", b"\xFF").unwrap();
        assert!(list_credentials(&store).is_err());
        // ...while the lookup for an RP just skips it.
        assert!(for_rp(&store, &[0; 32]).unwrap().is_empty());
    }
}
