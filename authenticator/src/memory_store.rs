//! A [`Store`] kept in RAM, the store of `softkey serve --ephemeral` and of
//! tests: a `BTreeMap` of key → value, so `scan_prefix`
//! is a range scan in key order. Values are zeroized when replaced, deleted
//! or dropped, since they include device secrets.

use core::fmt;
use std::collections::BTreeMap;
use std::ops::Bound;

use zeroize::Zeroizing;

use crate::env::{Store, StoreChange, StoreError, StoredRecord};

/// An in-memory, ordered key/value store. Nothing survives the process.
#[derive(Default, Clone)]
pub struct MemoryStore {
    records: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// All keys in order (values stay private: they may be secrets).
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.records.keys().map(Vec::as_slice)
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.records.len())
            .finish()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        Ok(self.records.get(key).cloned())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.records
            .insert(key.to_vec(), Zeroizing::new(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.records.remove(key).is_some())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError> {
        Ok(self
            .records
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| StoredRecord::new(k, v))
            .collect())
    }

    fn next_in_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let start = match after {
            Some(after) => Bound::Excluded(after),
            None => Bound::Included(prefix),
        };
        Ok(self
            .records
            .range::<[u8], _>((start, Bound::Unbounded))
            .next()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| StoredRecord::new(k, v)))
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        Ok(self
            .records
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .count())
    }

    /// Atomic: nothing here can fail part-way.
    fn apply(&mut self, changes: &[StoreChange]) -> Result<(), StoreError> {
        for change in changes {
            match change {
                StoreChange::Put(key, value) => {
                    self.records
                        .insert(key.clone(), Zeroizing::new(value.clone()));
                }
                StoreChange::Delete(key) => {
                    self.records.remove(key);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_replace_delete() {
        let mut s = MemoryStore::new();
        assert_eq!(s.get(b"a").unwrap(), None);
        s.put(b"a", b"1").unwrap();
        s.put(b"a", b"2").unwrap();
        assert_eq!(s.get(b"a").unwrap(), Some(Zeroizing::new(b"2".to_vec())));
        assert_eq!(s.len(), 1);
        assert!(s.delete(b"a").unwrap());
        assert!(!s.delete(b"a").unwrap());
        assert!(s.is_empty());
    }

    #[test]
    fn scan_prefix_is_exact_and_ordered() {
        let mut s = MemoryStore::new();
        for k in [
            &b"cred/b2"[..],
            b"cred/a",
            b"cred",
            b"cred/b1",
            b"creda",
            b"device/x",
        ] {
            s.put(k, k).unwrap();
        }
        let keys: Vec<Vec<u8>> = s
            .scan_prefix(b"cred/")
            .unwrap()
            .into_iter()
            .map(|stored| stored.key.to_vec())
            .collect();
        assert_eq!(
            keys,
            vec![b"cred/a".to_vec(), b"cred/b1".to_vec(), b"cred/b2".to_vec()]
        );
        assert_eq!(s.scan_prefix(b"").unwrap().len(), 6);
        assert!(s.scan_prefix(b"zzz").unwrap().is_empty());
        // Prefix bytes at 0xFF do not overflow the range scan.
        s.put(&[0xFF, 0xFF], b"x").unwrap();
        assert_eq!(s.scan_prefix(&[0xFF]).unwrap().len(), 1);
        for prefix in [&b""[..], b"cred", b"cred/", b"cred/b", b"x", &[0xFF]] {
            assert_eq!(
                s.count_prefix(prefix).unwrap(),
                s.scan_prefix(prefix).unwrap().len(),
                "{prefix:?}"
            );
        }
    }

    #[test]
    fn apply_puts_and_deletes_in_order() {
        let mut s = MemoryStore::new();
        s.put(b"gone", b"1").unwrap();
        s.apply(&[
            StoreChange::Put(b"a".to_vec(), b"1".to_vec()),
            StoreChange::Delete(b"gone".to_vec()),
            StoreChange::Delete(b"never".to_vec()),
            StoreChange::Put(b"a".to_vec(), b"2".to_vec()),
        ])
        .unwrap();
        assert_eq!(s.keys().collect::<Vec<_>>(), vec![&b"a"[..]]);
        assert_eq!(s.get(b"a").unwrap(), Some(Zeroizing::new(b"2".to_vec())));
        s.apply(&[]).unwrap();
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn debug_does_not_show_values() {
        let mut s = MemoryStore::new();
        s.put(b"device/secrets", b"very secret").unwrap();
        assert!(!format!("{s:?}").contains("secret"));
    }
}
