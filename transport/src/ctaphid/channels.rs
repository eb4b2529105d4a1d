//! The table of allocated CTAPHID channels (CTAP 2.1 §11.2.3, §11.2.9.1.3).
//!
//! Bounded: an INIT flood evicts the least recently used channel instead of
//! growing without limit. The channel of a running transaction is never
//! evicted.

use super::{BROADCAST_CID, RESERVED_CID};

/// Allocated channel ids with a use stamp for LRU eviction.
#[derive(Debug, Clone)]
pub struct ChannelTable {
    entries: Vec<(u32, u64)>,
    capacity: usize,
    clock: u64,
    next_cid: u32,
}

impl ChannelTable {
    /// An empty table holding at most `capacity` (≥ 1) channels; ids are
    /// handed out sequentially from `first_cid`.
    pub fn new(capacity: usize, first_cid: u32) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: Vec::with_capacity(capacity),
            capacity,
            clock: 0,
            next_cid: first_cid,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, cid: u32) -> bool {
        self.entries.iter().any(|&(c, _)| c == cid)
    }

    /// Marks `cid` as just used; no effect if it is not allocated.
    pub fn touch(&mut self, cid: u32) {
        self.clock += 1;
        let stamp = self.clock;
        if let Some(entry) = self.entries.iter_mut().find(|(c, _)| *c == cid) {
            entry.1 = stamp;
        }
    }

    /// Allocates a fresh id (never 0, never broadcast, never one in use),
    /// evicting the least recently used channel other than `protect` when full.
    pub fn allocate(&mut self, protect: Option<u32>) -> u32 {
        let cid = loop {
            let candidate = self.next_cid;
            self.next_cid = self.next_cid.wrapping_add(1);
            if candidate != RESERVED_CID && candidate != BROADCAST_CID && !self.contains(candidate)
            {
                break candidate;
            }
        };
        if self.entries.len() >= self.capacity {
            let victim = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, (c, _))| Some(*c) != protect)
                .min_by_key(|(_, (_, stamp))| *stamp)
                .map(|(i, _)| i);
            if let Some(i) = victim {
                let (evicted, _) = self.entries.swap_remove(i);
                tracing::trace!(cid = evicted, "ctaphid channel evicted");
            }
        }
        self.clock += 1;
        self.entries.push((cid, self.clock));
        cid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_reserved_and_broadcast_ids() {
        let mut t = ChannelTable::new(4, 0xFFFF_FFFE);
        assert_eq!(t.allocate(None), 0xFFFF_FFFE);
        assert_eq!(t.allocate(None), 1);
        assert!(t.contains(1));
        assert!(!t.contains(0));
    }

    #[test]
    fn evicts_least_recently_used_but_not_protected() {
        let mut t = ChannelTable::new(3, 10);
        let a = t.allocate(None);
        let b = t.allocate(None);
        let c = t.allocate(None);
        t.touch(a);
        // b is least recently used.
        let d = t.allocate(None);
        assert!(!t.contains(b));
        assert!(t.contains(a) && t.contains(c) && t.contains(d));
        // c is now the oldest but protected: a goes instead.
        let e = t.allocate(Some(c));
        assert!(t.contains(c) && t.contains(e) && !t.contains(a));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn flood_stays_bounded() {
        let mut t = ChannelTable::new(256, 1);
        for _ in 0..10_000 {
            t.allocate(None);
        }
        assert_eq!(t.len(), 256);
    }
}
