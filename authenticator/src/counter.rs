//! The global signature counter (CTAP 2.1 §6.1 authenticator data
//! `signCount`; WebAuthn §6.1.1 "Signature Counter Considerations").
//!
//! One counter for all credentials. It must never go backwards, not even
//! after a crash, yet we do not want a store write per signature. So the
//! store holds a *reserved ceiling* rather than the current value:
//!
//! - The store key `device/counter` holds a big-endian `u32` ceiling `C`:
//!   every value ever handed out is ≤ `C`.
//! - On first use after construction the RAM value starts at the stored
//!   ceiling (0 if absent): values up to it may already have been used.
//! - Each signature takes RAM value + 1. Before handing out a value above
//!   the ceiling, the next ceiling (value + [`RESERVE`] − 1) is written and
//!   must be durable; only then is the value used.
//! - A crash therefore skips the counter forward by at most [`RESERVE`],
//!   never backwards. If the write fails, no value is handed out and the
//!   request fails (nothing is signed with an unreserved value).
//! - The counter is a `u32` on the wire; at `u32::MAX` it stops and requests
//!   that need a signature fail rather than wrap.
//! - A backup import raises the stored ceiling (never lowers it) so that
//!   every signature after the restore counts above every one before the
//!   backup. The RAM state is read once per [`SignCounter`], so the import
//!   must happen with no authenticator running on the store.

use crate::env::{Store, StoreError};
use crate::error::Error;
use crate::status::CtapError;
use crate::store_keys::SIGN_COUNTER;

/// How many values one store write reserves.
pub(crate) const RESERVE: u32 = 256;

#[derive(Debug, Default)]
pub(crate) struct SignCounter {
    /// `(last value handed out, durable ceiling)`, once loaded.
    state: Option<(u32, u32)>,
}

impl SignCounter {
    /// The next counter value, reserving a new ceiling first when needed.
    pub(crate) fn next<S: Store>(&mut self, store: &mut S) -> Result<u32, Error> {
        let (last, ceiling) = match self.state {
            Some(state) => state,
            None => {
                let stored = read_ceiling(store)?;
                (stored, stored)
            }
        };
        let value = last.checked_add(1).ok_or(CtapError::Other)?;
        let ceiling = if value > ceiling {
            let new_ceiling = value.saturating_add(RESERVE - 1);
            store.put(SIGN_COUNTER, &ceiling_record(new_ceiling))?;
            new_ceiling
        } else {
            ceiling
        };
        self.state = Some((value, ceiling));
        Ok(value)
    }
}

fn read_ceiling<S: Store>(store: &S) -> Result<u32, Error> {
    match store.get(SIGN_COUNTER)? {
        None => Ok(0),
        Some(bytes) => {
            Ok(parse_ceiling(&bytes)
                .ok_or_else(|| StoreError::corrupt("signature counter record"))?)
        }
    }
}

/// The ceiling from its stored record; `None` if malformed.
pub(crate) fn parse_ceiling(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// The stored record of ceiling `ceiling`.
pub(crate) fn ceiling_record(ceiling: u32) -> [u8; 4] {
    ceiling.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    fn stored(store: &MemoryStore) -> u32 {
        read_ceiling(store).unwrap()
    }

    #[test]
    fn one_write_per_reserve_and_strictly_increasing() {
        let mut store = MemoryStore::new();
        let mut counter = SignCounter::default();
        let values: Vec<u32> = (0..600)
            .map(|_| counter.next(&mut store).unwrap())
            .collect();
        assert_eq!(values.first(), Some(&1));
        assert!(values.windows(2).all(|w| w[0] + 1 == w[1]));
        // 600 values need ceilings 256, 512, 768: the stored one covers all.
        assert_eq!(stored(&store), 768);
    }

    #[test]
    fn restart_continues_above_every_used_value() {
        let mut store = MemoryStore::new();
        let mut last = 0;
        {
            let mut first = SignCounter::default();
            for _ in 0..10 {
                last = first.next(&mut store).unwrap();
            }
            // "Crash": the RAM state goes out of scope with no shutdown write.
        }
        let mut second = SignCounter::default();
        let after = second.next(&mut store).unwrap();
        assert!(after > last);
        assert!(after - last <= RESERVE + 1);
    }

    #[test]
    fn failed_reservation_hands_out_nothing() {
        let mut store = crate::testing::TestStore::default();
        let mut counter = SignCounter::default();
        store.fail_next_write();
        let failed = counter.next(&mut store).unwrap_err();
        assert!(
            failed.is_fault() && failed.status() == CtapError::Other,
            "{failed}"
        );
        assert_eq!(counter.next(&mut store), Ok(1));
    }

    #[test]
    fn corrupt_ceiling_is_an_error_not_a_reset() {
        let mut store = MemoryStore::new();
        store.put(SIGN_COUNTER, &[1, 2, 3]).unwrap();
        let corrupt = SignCounter::default().next(&mut store).unwrap_err();
        assert_eq!(
            corrupt.to_string(),
            "corrupt store record: signature counter record"
        );
    }

    #[test]
    fn stops_at_u32_max_instead_of_wrapping() {
        let mut store = MemoryStore::new();
        store
            .put(SIGN_COUNTER, &(u32::MAX - 1).to_be_bytes())
            .unwrap();
        let mut counter = SignCounter::default();
        assert_eq!(counter.next(&mut store), Ok(u32::MAX));
        assert_eq!(counter.next(&mut store), Err(CtapError::Other.into()));
    }
}
