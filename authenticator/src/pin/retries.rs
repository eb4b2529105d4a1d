//! The stored PIN and its retry counter (CTAP 2.1 §6.5.2 "authenticator
//! configuration" pinRetries, §6.5.5.5 setPIN step "store LEFT(SHA-256(newPin), 16)").
//!
//! Store records:
//! - `device/pin`: `version (1) = 1 || LEFT(SHA-256(PIN), 16) || PIN length
//!   in code points (1)`. The length is kept so setMinPINLength can tell
//!   whether the current PIN still satisfies a new minimum (§6.11.4).
//! - `device/pin-retries`: one byte, pinRetries. Absent means the maximum.
//!
//! The retry counter is written *before* the PIN is compared and every
//! write must be durable (SECURITY.md "The CTAP PIN"): a process killed between the
//! compare and a later write has still paid for the guess.

use core::fmt;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::env::Store;
use crate::error::Error;
use crate::status::CtapError;
use crate::store_keys::{PIN, PIN_RETRIES};

/// §6.5.2: "maximum value of pinRetries ... MUST be no greater than 8".
pub(crate) const MAX_PIN_RETRIES: u8 = 8;
/// The stored and compared PIN hash prefix (§6.5.5.5: LEFT(SHA-256(PIN), 16)).
pub(crate) const PIN_HASH_LEN: usize = 16;
const FORMAT_VERSION: u8 = 1;

/// The PIN as stored: its hash prefix and length.
pub(crate) struct StoredPin {
    pub(crate) hash: Zeroizing<[u8; PIN_HASH_LEN]>,
    pub(crate) code_points: u8,
}

impl fmt::Debug for StoredPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoredPin { .. }")
    }
}

/// LEFT(SHA-256(pin), 16).
pub(crate) fn pin_hash(pin: &[u8]) -> Zeroizing<[u8; PIN_HASH_LEN]> {
    let digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(pin)));
    let mut hash = Zeroizing::new([0u8; PIN_HASH_LEN]);
    if let Some(left) = digest.get(..PIN_HASH_LEN) {
        hash.copy_from_slice(left);
    }
    hash
}

pub(crate) fn load_pin<S: Store>(store: &S) -> Result<Option<StoredPin>, Error> {
    let Some(raw) = store.get(PIN)? else {
        return Ok(None);
    };
    match raw.split_first() {
        Some((&FORMAT_VERSION, rest)) if rest.len() == PIN_HASH_LEN + 1 => {
            let (hash, len) = rest.split_at(PIN_HASH_LEN);
            let mut stored = Zeroizing::new([0u8; PIN_HASH_LEN]);
            stored.copy_from_slice(hash);
            Ok(Some(StoredPin {
                hash: stored,
                code_points: len.first().copied().ok_or(CtapError::Other)?,
            }))
        }
        // A corrupt PIN record must not read as "no PIN".
        _ => Err(CtapError::Other.into()),
    }
}

/// Stores a new PIN (its hash) and restores pinRetries to the maximum.
/// Retries are written first: a crash in between leaves no PIN and a full
/// counter, never a PIN with a stale low counter.
pub(crate) fn save_pin<S: Store>(store: &mut S, pin: &[u8], code_points: u8) -> Result<(), Error> {
    set_retries(store, MAX_PIN_RETRIES)?;
    let hash = pin_hash(pin);
    let mut record = Zeroizing::new(Vec::with_capacity(2 + PIN_HASH_LEN));
    record.push(FORMAT_VERSION);
    record.extend_from_slice(hash.as_slice());
    record.push(code_points);
    store.put(PIN, &record)?;
    Ok(())
}

pub(crate) fn retries<S: Store>(store: &S) -> Result<u8, Error> {
    match store.get(PIN_RETRIES)? {
        None => Ok(MAX_PIN_RETRIES),
        Some(raw) => match raw.as_slice() {
            [n] if *n <= MAX_PIN_RETRIES => Ok(*n),
            _ => Err(CtapError::Other.into()),
        },
    }
}

pub(crate) fn set_retries<S: Store>(store: &mut S, n: u8) -> Result<(), Error> {
    store.put(PIN_RETRIES, &[n])?;
    Ok(())
}

/// Decrements pinRetries durably and returns the new value. The caller
/// compares the PIN only after this returned `Ok`.
pub(crate) fn decrement<S: Store>(store: &mut S) -> Result<u8, Error> {
    let left = retries(store)?.saturating_sub(1);
    set_retries(store, left)?;
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryStore, TestStore};

    #[test]
    fn pin_round_trip_and_hash_is_left_16_of_sha256() {
        let mut s = MemoryStore::new();
        assert!(load_pin(&s).unwrap().is_none());
        save_pin(&mut s, b"1234", 4).unwrap();
        let p = load_pin(&s).unwrap().unwrap();
        let full = Sha256::digest(b"1234");
        assert_eq!(p.hash.as_slice(), &full[..16]);
        assert_eq!(p.code_points, 4);
        assert_eq!(format!("{p:?}"), "StoredPin { .. }");
    }

    #[test]
    fn retries_default_decrement_floor_and_reset_on_save() {
        let mut s = MemoryStore::new();
        assert_eq!(retries(&s).unwrap(), 8);
        assert_eq!(decrement(&mut s).unwrap(), 7);
        assert_eq!(retries(&s).unwrap(), 7);
        set_retries(&mut s, 0).unwrap();
        assert_eq!(decrement(&mut s).unwrap(), 0);
        save_pin(&mut s, b"abcd", 4).unwrap();
        assert_eq!(retries(&s).unwrap(), 8);
        // authenticatorReset's batch forgets both.
        let reset = crate::store_keys::factory_reset_batch(&s).unwrap();
        s.apply(&reset).unwrap();
        assert!(load_pin(&s).unwrap().is_none());
        assert_eq!(retries(&s).unwrap(), 8);
    }

    #[test]
    fn failed_decrement_is_an_error_and_changes_nothing() {
        let mut s = TestStore::default();
        s.fail_next_write();
        assert_eq!(decrement(&mut s).unwrap_err(), CtapError::Other);
        assert_eq!(retries(&s).unwrap(), 8);
    }

    #[test]
    fn corrupt_records_are_errors_not_defaults() {
        let mut s = MemoryStore::new();
        s.put(PIN_RETRIES, &[9]).unwrap();
        assert!(retries(&s).is_err());
        s.put(PIN, &[1, 2, 3]).unwrap();
        assert!(load_pin(&s).is_err());
    }
}
