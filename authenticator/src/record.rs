//! Discoverable credential records (CTAP 2.1 §6.1.2 step 17, §6.2.2 step 7).
//!
//! Key layout: `cred/` || SHA-256(rp id) (32) || credential ID, so all of an
//! RP's credentials are one prefix scan (username-less login) and a given
//! credential is one `get` (allowList checks). The value is a canonical CBOR
//! map with integer keys:
//! `{1: rp id, 2: rp name?, 3: user id, 4: user name?, 5: display name?,
//! 6: credential ID, 7: created (unix s), 8: creation order,
//! 9: credProtect level?, 10: credBlob?, 11: largeBlobKey?,
//! 12: key algorithm (COSE)?, 13: private key (as long as the algorithm's: 32, 48 or 66)?,
//! 14: CredRandom with UV (32)?, 15: CredRandom without UV (32)?,
//! 16: thirdPartyPayment (true)?, 17: own signature counter (uint) or no
//! counter (null)?, 18: backup eligible (true)?, 19: backed up (true)?}`
//! (keys 9–11 since CTAP 2.1 support; absent means level 1, no blob, no
//! key; keys 12–15 since backup import, see below; key 16 since CTAP 2.2,
//! present only when true).
//! The creation order is the signature counter value of the makeCredential
//! that made the credential (or one reserved by the import that added it):
//! unique and increasing, so "newest first" is a sort by it. Unknown keys
//! are ignored so later versions can add fields.
//!
//! Credentials made here keep their private key only inside the credential
//! ID. A credential imported from a backup whose ID is not one of ours
//! (another authenticator's, or sealed with other flags) carries its key in
//! keys 12–13 instead ([`StoredKey`]), and its hmac-secret CredRandoms in
//! 14–15 when they are not the ones we would derive from the key
//! ([`StoredCredRandoms`]). Both come as a pair or not at all.

use core::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::credential_index;
use crate::credential_properties::{CredentialProperties, SignCounterKind};
use crate::env::{Store, StoreChange, StoreError};
use crate::error::Error;
use crate::keys::{Algorithm, CredentialKey};
use crate::store_keys::{CREDENTIALS, NON_DISCOVERABLE_CREDENTIALS};

/// The longest credential ID a record may have: WebAuthn §4 "Credential
/// ID": "at most 1023 bytes long". Our own IDs are much shorter; imported
/// ones may be anything up to this.
pub(crate) const MAX_RECORD_CREDENTIAL_ID_LEN: usize = 1023;

/// A credential private key kept in its record (imported credentials
/// whose ID is not one of ours). `Debug` shows only the algorithm.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredKey {
    alg: Algorithm,
    /// [`Algorithm::private_len`] bytes.
    bytes: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredKey::{:?}(..)", self.alg)
    }
}

impl StoredKey {
    pub(crate) fn new(key: &CredentialKey) -> Self {
        StoredKey {
            alg: key.algorithm(),
            bytes: key.to_bytes(),
        }
    }

    /// The usable key; `None` only for bytes that are not a key (which
    /// [`CredentialRecord::decode`] already refuses).
    pub(crate) fn to_key(&self) -> Option<CredentialKey> {
        CredentialKey::from_bytes(self.alg, &self.bytes)
    }
}

/// hmac-secret CredRandoms kept in a record (CTAP 2.1 §12.5), imported
/// with a credential when they are not the ones we derive from its key.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredCredRandoms {
    pub(crate) with_uv: Zeroizing<[u8; 32]>,
    pub(crate) without_uv: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for StoredCredRandoms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredCredRandoms { .. }")
    }
}

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
    /// The private key, when the credential ID does not carry it.
    pub(crate) private_key: Option<StoredKey>,
    /// CredRandoms that replace the derived ones.
    pub(crate) cred_randoms: Option<StoredCredRandoms>,
    /// thirdPartyPayment (CTAP 2.2 §12.9), also sealed in our own IDs.
    pub(crate) third_party_payment: bool,
    /// Its counter and backup flags (`crate::credential_properties`).
    pub(crate) properties: CredentialProperties,
}

/// The store prefix of one RP's records.
pub(crate) fn rp_prefix(rp_id_hash: &[u8; 32]) -> Vec<u8> {
    [CREDENTIALS, rp_id_hash.as_slice()].concat()
}

/// The store key of one credential's record.
pub(crate) fn key(rp_id_hash: &[u8; 32], credential_id: &[u8]) -> Vec<u8> {
    [CREDENTIALS, rp_id_hash.as_slice(), credential_id].concat()
}

/// The store key of a non-discoverable credential added from the host side
/// (admin/non_discoverable.rs).
pub(crate) fn non_discoverable_key(rp_id_hash: &[u8; 32], credential_id: &[u8]) -> Vec<u8> {
    [
        NON_DISCOVERABLE_CREDENTIALS,
        rp_id_hash.as_slice(),
        credential_id,
    ]
    .concat()
}

/// The record of such a credential, if it exists.
pub(crate) fn find_non_discoverable<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
    credential_id: &[u8],
) -> Result<Option<CredentialRecord>, Error> {
    Ok(store
        .get(&non_discoverable_key(rp_id_hash, credential_id))?
        .and_then(|v| CredentialRecord::decode(&v)))
}

/// Rewrites such a record in place (its own signature counter).
pub(crate) fn put_non_discoverable<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    record: &CredentialRecord,
) -> Result<(), Error> {
    Ok(store.put(
        &non_discoverable_key(rp_id_hash, &record.credential_id),
        &record.encode(),
    )?)
}

/// The RP's discoverable credentials, newest first. Undecodable records are
/// skipped here so one bad record cannot lock a user out of the others.
pub(crate) fn for_rp<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
) -> Result<Vec<CredentialRecord>, Error> {
    let mut records: Vec<CredentialRecord> = store
        .scan_prefix(&rp_prefix(rp_id_hash))?
        .iter()
        .filter_map(|stored| CredentialRecord::decode(&stored.value))
        .collect();
    // CTAP 2.1 §6.2.2 step 7 (no allowList): most recently created first.
    records.sort_by_key(|r| core::cmp::Reverse(r.order));
    Ok(records)
}

/// Every decodable discoverable credential record (corrupt ones skipped),
/// in key order.
pub(crate) fn all<S: Store>(store: &S) -> Result<Vec<CredentialRecord>, Error> {
    Ok(store
        .scan_prefix(CREDENTIALS)?
        .iter()
        .filter_map(|stored| CredentialRecord::decode(&stored.value))
        .collect())
}

/// How many more discoverable credentials fit under `capacity` (getInfo
/// 0x14, CTAP 2.1 §6.1.2 step 17 KEY_STORE_FULL).
pub(crate) fn remaining<S: Store>(store: &S, capacity: u64) -> Result<u64, Error> {
    let used = u64::try_from(store.count_prefix(CREDENTIALS)?).unwrap_or(u64::MAX);
    Ok(capacity.saturating_sub(used))
}

/// Whether saving a new credential for (`rp_id_hash`, `user_id`) needs a
/// free slot: it does unless it replaces that user's existing credential.
pub(crate) fn needs_slot<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
    user_id: &[u8],
) -> Result<bool, Error> {
    Ok(!for_rp(store, rp_id_hash)?
        .iter()
        .any(|r| r.user_id == user_id))
}

/// Deletes one credential's record and index entries; `Ok(false)` if it
/// did not exist.
pub(crate) fn delete<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    credential_id: &[u8],
) -> Result<bool, Error> {
    let mut batch = match find(store, rp_id_hash, credential_id)? {
        Some(record) => credential_index::removal(rp_id_hash, &record),
        // An undecodable record still goes.
        None if store.get(&key(rp_id_hash, credential_id))?.is_some() => {
            vec![StoreChange::Delete(key(rp_id_hash, credential_id))]
        }
        None => return Ok(false),
    };
    crate::cred_store_state::stamp(store, &mut batch)?;
    store.apply(&batch)?;
    Ok(true)
}

/// Rewrites one record whose key fields (RP, credential ID, creation order,
/// credProtect) are unchanged, so its index entries stand: a credential's
/// own signature counter. Not a change of the credential set, so the
/// credential store state stays.
pub(crate) fn put_in_place<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    record: &CredentialRecord,
) -> Result<(), Error> {
    Ok(store.put(&key(rp_id_hash, &record.credential_id), &record.encode())?)
}

/// The stored record of one credential, if it still exists.
pub(crate) fn find<S: Store>(
    store: &S,
    rp_id_hash: &[u8; 32],
    credential_id: &[u8],
) -> Result<Option<CredentialRecord>, Error> {
    Ok(store
        .get(&key(rp_id_hash, credential_id))?
        .and_then(|v| CredentialRecord::decode(&v)))
}

/// Stores `record` with its index entries and removes older credentials of
/// the same RP and user id (CTAP 2.1 §6.1.2 step 17: "overwrite that
/// credential"), in one batch: a failure changes nothing, so the user never
/// loses the only credential.
pub(crate) fn save<S: Store>(
    store: &mut S,
    rp_id_hash: &[u8; 32],
    record: &CredentialRecord,
) -> Result<(), Error> {
    let mut batch = Vec::new();
    for stored in store.scan_prefix(&rp_prefix(rp_id_hash))? {
        if let Some(old) = CredentialRecord::decode(&stored.value)
            && old.credential_id != record.credential_id
            && old.user_id == record.user_id
        {
            batch.extend(credential_index::removal(rp_id_hash, &old));
        }
    }
    batch.extend(credential_index::insertion(rp_id_hash, record));
    crate::cred_store_state::stamp(store, &mut batch)?;
    Ok(store.apply(&batch)?)
}

/// Every record under `cred/` in key order, `None` where one does not
/// decode (the backup export refuses those rather than skip them).
pub(crate) fn all_or_corrupt<S: Store>(
    store: &S,
) -> Result<Vec<Option<CredentialRecord>>, StoreError> {
    Ok(store
        .scan_prefix(CREDENTIALS)?
        .into_iter()
        .map(|stored| CredentialRecord::decode(&stored.value))
        .collect())
}

impl CredentialRecord {
    /// The canonical CBOR of the record (zeroized on drop: it may hold
    /// key material).
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
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
        if let Some(key) = &self.private_key {
            pairs.push((12, Value::int(key.alg.cose())));
            pairs.push((13, Value::bytes(key.bytes.as_slice())));
        }
        if let Some(randoms) = &self.cred_randoms {
            pairs.push((14, Value::bytes(randoms.with_uv.as_slice())));
            pairs.push((15, Value::bytes(randoms.without_uv.as_slice())));
        }
        if self.third_party_payment {
            pairs.push((16, Value::Bool(true)));
        }
        match self.properties.counter {
            SignCounterKind::Global => {}
            SignCounterKind::Own(n) => pairs.push((17, Value::Unsigned(u64::from(n)))),
            SignCounterKind::Never => pairs.push((17, Value::Null)),
        }
        if self.properties.backup_eligible {
            pairs.push((18, Value::Bool(true)));
        }
        if self.properties.backup_state {
            pairs.push((19, Value::Bool(true)));
        }
        let mut value = Value::int_map(pairs);
        let encoded = Zeroizing::new(cbor::encode(&value));
        wipe(&mut value);
        encoded
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut value = cbor::decode(bytes).ok()?;
        let record = Self::from_value(&value);
        wipe(&mut value);
        record
    }

    fn from_value(value: &Value) -> Option<Self> {
        let f = Fields::of(value).ok()?;
        let secret = |k| -> Option<Option<Zeroizing<[u8; 32]>>> {
            match optional(f.int(k), fields::bytes).ok()? {
                None => Some(None),
                Some(b) => Some(Some(Zeroizing::new(b.try_into().ok()?))),
            }
        };
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
            private_key: match (
                optional(f.int(12), fields::integer).ok()?,
                optional(f.int(13), fields::bytes).ok()?,
            ) {
                (None, None) => None,
                (Some(alg), Some(bytes)) => {
                    let alg = Algorithm::from_cose(alg?)?;
                    let bytes = Zeroizing::new(bytes.to_vec());
                    // Refuse bytes that are not a key now, not at sign time.
                    CredentialKey::from_bytes(alg, &bytes)?;
                    Some(StoredKey { alg, bytes })
                }
                _ => return None,
            },
            cred_randoms: match (secret(14)?, secret(15)?) {
                (None, None) => None,
                (Some(with_uv), Some(without_uv)) => Some(StoredCredRandoms {
                    with_uv,
                    without_uv,
                }),
                _ => return None,
            },
            third_party_payment: optional(f.int(16), fields::boolean).ok()?.unwrap_or(false),
            properties: CredentialProperties {
                counter: match f.int(17) {
                    None => SignCounterKind::Global,
                    Some(Value::Null) => SignCounterKind::Never,
                    Some(v) => SignCounterKind::Own(u32::try_from(fields::unsigned(v).ok()?).ok()?),
                },
                backup_eligible: optional(f.int(18), fields::boolean).ok()?.unwrap_or(false),
                backup_state: optional(f.int(19), fields::boolean).ok()?.unwrap_or(false),
            },
        })
    }
}

/// Overwrites every byte and text string in `value`: the decoded or
/// to-be-encoded copy of a record may hold key material.
pub(crate) fn wipe(value: &mut Value) {
    match value {
        Value::Bytes(b) => b.zeroize(),
        Value::Text(t) => t.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            wipe(k);
            wipe(v);
        }),
        Value::Unsigned(_) | Value::Negative(_) | Value::Bool(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::list::list_credentials;
    use crate::testing::{MemoryStore, credential_record};

    fn record(rp: &str, user: &[u8], cred: &[u8], order: u64) -> CredentialRecord {
        CredentialRecord {
            user_name: Some(format!("user-{}", user[0])),
            ..credential_record(rp, user, cred, order)
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
    fn stored_key_and_cred_randoms_round_trip() {
        let mut env = crate::testing::TestEnv::new(3);
        for alg in crate::keys::SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let mut r = record("example.com", b"u", b"c", 5);
            r.private_key = Some(StoredKey::new(&key));
            r.cred_randoms = Some(StoredCredRandoms {
                with_uv: Zeroizing::new([1; 32]),
                without_uv: Zeroizing::new([2; 32]),
            });
            let encoded = r.encode();
            // Canonical: re-encoding the strict decode gives the same bytes.
            assert_eq!(cbor::encode(&cbor::decode(&encoded).unwrap()), *encoded);
            let back = CredentialRecord::decode(&encoded).unwrap();
            assert_eq!(back, r);
            let stored = back.private_key.unwrap().to_key().unwrap();
            assert_eq!(stored.sign(b"m"), key.sign(b"m"));
            let debug = format!("{r:?}");
            assert!(
                debug.contains(&format!("StoredKey::{alg:?}(..)")),
                "{debug}"
            );
            assert!(debug.contains("StoredCredRandoms { .. }"));
        }
    }

    #[test]
    fn half_pairs_and_bad_keys_are_refused() {
        let base = |extra: Vec<(u64, Value)>| {
            let mut pairs = vec![
                (1, Value::text("a")),
                (3, Value::bytes(b"u")),
                (6, Value::bytes(b"c")),
                (7, Value::Unsigned(1)),
                (8, Value::Unsigned(2)),
            ];
            pairs.extend(extra);
            CredentialRecord::decode(&cbor::encode(&Value::int_map(pairs)))
        };
        assert!(base(vec![]).is_some());
        let key = (13, Value::bytes(&[7; 32]));
        assert!(base(vec![(12, Value::int(-7)), key.clone()]).is_some());
        assert!(base(vec![(12, Value::int(-7))]).is_none(), "alg only");
        assert!(base(vec![key.clone()]).is_none(), "key only");
        assert!(base(vec![(12, Value::int(-257)), key.clone()]).is_none());
        assert!(base(vec![(12, Value::int(-7)), (13, Value::bytes(&[0; 32]))]).is_none());
        assert!(base(vec![(12, Value::int(-8)), (13, Value::bytes(&[7; 31]))]).is_none());
        assert!(
            base(vec![(14, Value::bytes(&[1; 32]))]).is_none(),
            "one random"
        );
        assert!(
            base(vec![
                (14, Value::bytes(&[1; 32])),
                (15, Value::bytes(&[1; 31]))
            ])
            .is_none()
        );
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
