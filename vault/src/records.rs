//! What a vault holds in memory and what changes it: the ordered records and
//! one change of an atomic batch. A leaf, shared by the vault, its frame
//! codec and its replay.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// The records of a vault, in key order. Values are zeroed when dropped or replaced.
pub(crate) type Records = BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>;

/// One change of an atomic batch ([`crate::Vault::apply`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Insert or replace `key` (first) with `value` (second).
    Put(&'a [u8], &'a [u8]),
    /// Remove `key`; removing an absent key is allowed and has no effect.
    Delete(&'a [u8]),
}

impl fmt::Debug for Change<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keys and values may be secret: lengths only.
        match self {
            Self::Put(k, v) => f
                .debug_struct("Put")
                .field("key_len", &k.len())
                .field("value_len", &v.len())
                .finish(),
            Self::Delete(k) => f.debug_struct("Delete").field("key_len", &k.len()).finish(),
        }
    }
}
