//! Every key kept in the [`Store`](crate::Store), declared once, with what it
//! holds and whether authenticatorReset (CTAP 2.1 §6.6) wipes it — in the
//! manner of OpenSK's storage key partition. The store sees opaque ordered
//! keys; this table is the layout.
//!
//! Rules: a key is never reused for another meaning (retire it by keeping
//! its entry, marked as retired in its doc); no key starts with a prefix of
//! this table unless it belongs to that prefix (the tests check both); a new
//! key is one constant and one [`REGISTRY`] row here. The binary's keys live
//! here too, so that reset and the table see them.

use crate::env::{Store, StoreChange, StoreError};

/// Whether authenticatorReset removes a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// Factory state does not have it: reset removes it.
    WipedByReset,
    /// It outlives reset: the signature counter must never go back, and the
    /// attestation and USB identity name the model or the device, not the
    /// user.
    SurvivesReset,
}

/// Whether an entry names one record or a family of records under a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Exact,
    Prefix,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEntry {
    pub key: &'static [u8],
    pub shape: Shape,
    pub lifetime: Lifetime,
    /// What the record holds, for readers of the table.
    pub holds: &'static str,
}

/// Discoverable credential records: `cred/ ‖ SHA-256(rpId) ‖ credential ID`.
pub const CREDENTIALS: &[u8] = b"cred/";
/// Newest-first index of each RP's discoverable credentials
/// (`crate::credential_index`): `‖ SHA-256(rpId) ‖ !order` → credential ID.
pub const CREDENTIALS_NEWEST_FIRST: &[u8] = b"cred-newest/";
/// The same index for credProtect level 1 only: what a request without UV
/// may see unlisted.
pub const CREDENTIALS_WITHOUT_UV_NEWEST_FIRST: &[u8] = b"cred-newest-plain/";
/// Non-discoverable credentials added from the host side (the test lab's
/// Add Credential with `isResidentCredential: false`; admin/non_discoverable.rs),
/// `cred-nd/ ‖ rpIdHash ‖ credential ID`: a credential record carrying its
/// private key, found only by its ID.
pub const NON_DISCOVERABLE_CREDENTIALS: &[u8] = b"cred-nd/";
/// The device's wrapping key for non-discoverable credential IDs.
pub const DEVICE_SECRETS: &[u8] = b"device/secrets";
/// Wrapping keys of other devices, imported from backups.
pub const IMPORTED_WRAP_KEYS: &[u8] = b"device/wrap-keys";
/// The serialized large-blob array (CTAP 2.1 §6.10).
pub const LARGE_BLOB_ARRAY: &[u8] = b"device/large-blobs";
/// The PIN's hash and length.
pub const PIN: &[u8] = b"device/pin";
/// pinRetries, spent before each check (CTAP 2.1 §6.5.5.7.2).
pub const PIN_RETRIES: &[u8] = b"device/pin-retries";
/// uvRetries of built-in user verification (one byte; absent: the maximum).
pub const UV_RETRIES: &[u8] = b"device/uv-retries";
/// alwaysUv, enterprise attestation, minPINLength and its RP ids,
/// forcePINChange (CTAP 2.1 §6.11).
pub const DEVICE_SETTINGS: &[u8] = b"device/config";
/// The persistent read-only credential management token and the device
/// identifier getInfo encrypts under it (CTAP 2.2, `crate::pin::persistent`).
pub const PERSISTENT_TOKEN: &[u8] = b"device/persistent-token";
/// The credential store state, a hash chain over every change to the
/// credentials (`crate::cred_store_state`).
pub const CRED_STORE_STATE: &[u8] = b"device/cred-store-state";
/// The reserved ceiling of the global signature counter.
pub const SIGN_COUNTER: &[u8] = b"device/counter";
/// The batch attestation key and certificates from `softkey init`.
pub const ATTESTATION: &[u8] = b"device/attestation";
/// A test-lab key's attestation CA private key (never a vault's).
pub const TEST_CA_KEY: &[u8] = b"device/attestation-test-ca";
/// The U2F attestation key and certificate.
pub const U2F_ATTESTATION: &[u8] = b"device/attestation-u2f";
/// Which attestation makeCredential gives by default (self or batch).
pub const ATTESTATION_MODE: &[u8] = b"device/attestation-mode";
/// The RP ids allowed vendor-facilitated enterprise attestation.
pub const ENTERPRISE_RP_IDS: &[u8] = b"device/ep-rp-ids";
/// The USB serial number `softkey serve` presents, so the host sees the same
/// key every time.
pub const USB_SERIAL: &[u8] = b"softkey/usb-serial";

/// Every key above, with its shape and lifetime.
pub const REGISTRY: [KeyEntry; 20] = [
    wiped(CREDENTIALS, Shape::Prefix, "discoverable credentials"),
    wiped(
        CREDENTIALS_NEWEST_FIRST,
        Shape::Prefix,
        "credentials by RP, newest first",
    ),
    wiped(
        CREDENTIALS_WITHOUT_UV_NEWEST_FIRST,
        Shape::Prefix,
        "credProtect-1 credentials by RP, newest first",
    ),
    wiped(
        NON_DISCOVERABLE_CREDENTIALS,
        Shape::Prefix,
        "non-discoverable credentials added by the test lab",
    ),
    wiped(DEVICE_SECRETS, Shape::Exact, "credential ID wrapping key"),
    wiped(IMPORTED_WRAP_KEYS, Shape::Exact, "imported wrapping keys"),
    wiped(LARGE_BLOB_ARRAY, Shape::Exact, "large-blob array"),
    wiped(PIN, Shape::Exact, "PIN hash"),
    wiped(PIN_RETRIES, Shape::Exact, "PIN retries"),
    wiped(UV_RETRIES, Shape::Exact, "built-in UV retries"),
    wiped(DEVICE_SETTINGS, Shape::Exact, "device settings"),
    wiped(PERSISTENT_TOKEN, Shape::Exact, "persistent read-only token"),
    wiped(CRED_STORE_STATE, Shape::Exact, "credential store state"),
    kept(SIGN_COUNTER, "signature counter ceiling"),
    kept(ATTESTATION, "batch attestation"),
    kept(TEST_CA_KEY, "test-lab attestation CA key"),
    kept(U2F_ATTESTATION, "U2F attestation"),
    kept(ATTESTATION_MODE, "default attestation"),
    kept(ENTERPRISE_RP_IDS, "enterprise attestation RP ids"),
    kept(USB_SERIAL, "USB serial number"),
];

const fn wiped(key: &'static [u8], shape: Shape, holds: &'static str) -> KeyEntry {
    KeyEntry {
        key,
        shape,
        lifetime: Lifetime::WipedByReset,
        holds,
    }
}

const fn kept(key: &'static [u8], holds: &'static str) -> KeyEntry {
    KeyEntry {
        key,
        shape: Shape::Exact,
        lifetime: Lifetime::SurvivesReset,
        holds,
    }
}

/// The batch that takes the store back to factory state: a delete of every
/// key of the [`Lifetime::WipedByReset`] class, those under a prefix
/// included whether or not their records decode. Applied as one
/// [`Store::apply`], a reset is all or nothing.
pub(crate) fn factory_reset_batch<S: Store>(store: &S) -> Result<Vec<StoreChange>, StoreError> {
    let mut batch = Vec::new();
    for entry in REGISTRY
        .iter()
        .filter(|entry| entry.lifetime == Lifetime::WipedByReset)
    {
        match entry.shape {
            Shape::Exact => batch.push(StoreChange::Delete(entry.key.to_vec())),
            Shape::Prefix => {
                for stored in store.scan_prefix(entry.key)? {
                    batch.push(StoreChange::Delete(stored.key.to_vec()));
                }
            }
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    /// The table row a stored key belongs to, if any.
    fn entry_of(key: &[u8]) -> Option<&'static KeyEntry> {
        REGISTRY.iter().find(|entry| match entry.shape {
            Shape::Exact => entry.key == key,
            Shape::Prefix => key.starts_with(entry.key),
        })
    }

    #[test]
    fn keys_are_distinct_and_no_key_falls_under_another_prefix() {
        for (i, a) in REGISTRY.iter().enumerate() {
            for b in REGISTRY.iter().skip(i + 1) {
                assert_ne!(a.key, b.key, "{} and {}", a.holds, b.holds);
                for (prefix, other) in [(a, b), (b, a)] {
                    if prefix.shape == Shape::Prefix {
                        assert!(
                            !other.key.starts_with(prefix.key),
                            "{} falls under the prefix of {}",
                            other.holds,
                            prefix.holds
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_key_finds_its_own_row() {
        for entry in &REGISTRY {
            assert_eq!(entry_of(entry.key), Some(entry));
        }
        let credential = [CREDENTIALS, &[7; 40]].concat();
        assert_eq!(entry_of(&credential).map(|e| e.key), Some(CREDENTIALS));
        assert_eq!(entry_of(b"device/unknown"), None);
    }

    #[test]
    fn the_reset_batch_removes_exactly_the_wiped_class() {
        let mut store = MemoryStore::new();
        for entry in &REGISTRY {
            store.put(entry.key, b"x").unwrap();
        }
        // Records under the prefix, decodable or not.
        for tail in [&b"a"[..], &[7; 40], b"\xFF"] {
            store.put(&[CREDENTIALS, tail].concat(), b"\xFF").unwrap();
        }
        let batch = factory_reset_batch(&store).unwrap();
        store.apply(&batch).unwrap();
        let left: Vec<Vec<u8>> = store
            .scan_prefix(b"")
            .unwrap()
            .into_iter()
            .map(|stored| stored.key.to_vec())
            .collect();
        let mut survivors: Vec<Vec<u8>> = REGISTRY
            .iter()
            .filter(|entry| entry.lifetime == Lifetime::SurvivesReset)
            .map(|entry| entry.key.to_vec())
            .collect();
        survivors.sort();
        assert_eq!(left, survivors);
    }
}
