//! The credential store state (CTAP 2.2 §6.4 getInfo `encCredStoreState`):
//! a value that changes whenever the discoverable credentials change, so a
//! platform holding a persistent read-only token can tell whether the list
//! it cached is still current.
//!
//! It is a hash chain rather than a random value: every batch that adds,
//! replaces or removes credential records also writes
//! SHA-256(previous state ‖ the batch's changes) under
//! [`crate::store_keys::CRED_STORE_STATE`], in the same atomic batch, so the
//! state changes with the credentials or not at all, and needs no RNG at the
//! places that write credentials. A chain never returns to an earlier value.
//! Reads, refused writes and power cycles leave it alone; authenticatorReset
//! removes it with the credentials (the factory state is all zeros).

use sha2::{Digest, Sha256};

use crate::env::{Store, StoreChange, StoreError};
use crate::store_keys::CRED_STORE_STATE;

/// The state's length as stored; getInfo reports its first 16 bytes.
const STATE_LEN: usize = 32;

/// The current state: all zeros before the first change.
pub(crate) fn current<S: Store>(store: &S) -> Result<[u8; STATE_LEN], StoreError> {
    match store.get(CRED_STORE_STATE)? {
        None => Ok([0; STATE_LEN]),
        Some(raw) => raw
            .as_slice()
            .try_into()
            .map_err(|_| StoreError::corrupt("credential store state")),
    }
}

/// Appends the new state to `batch`, a batch that changes credentials.
pub(crate) fn stamp<S: Store>(store: &S, batch: &mut Vec<StoreChange>) -> Result<(), StoreError> {
    let mut hash = Sha256::new();
    hash.update(b"softkey credential store state");
    hash.update(current(store)?);
    for change in batch.iter() {
        let (tag, key, value): (u8, &[u8], &[u8]) = match change {
            StoreChange::Put(key, value) => (1, key, value),
            StoreChange::Delete(key) => (2, key, &[]),
        };
        hash.update([tag]);
        for part in [key, value] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
    }
    batch.push(StoreChange::Put(
        CRED_STORE_STATE.to_vec(),
        hash.finalize().to_vec(),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::MemoryStore;

    #[test]
    fn every_change_moves_the_state_and_never_back() {
        let mut store = MemoryStore::new();
        let mut seen = vec![current(&store).unwrap()];
        for batch in [
            vec![StoreChange::Put(b"cred/a".to_vec(), b"1".to_vec())],
            vec![StoreChange::Delete(b"cred/a".to_vec())],
            vec![StoreChange::Put(b"cred/a".to_vec(), b"1".to_vec())],
            vec![StoreChange::Delete(b"cred/a".to_vec())],
        ] {
            let mut batch = batch;
            stamp(&store, &mut batch).unwrap();
            store.apply(&batch).unwrap();
            let state = current(&store).unwrap();
            assert!(!seen.contains(&state), "the state came back");
            seen.push(state);
        }
    }

    #[test]
    fn a_damaged_state_is_an_error() {
        let mut store = MemoryStore::new();
        store.put(CRED_STORE_STATE, b"short").unwrap();
        assert!(current(&store).is_err());
    }
}
