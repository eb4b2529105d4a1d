//! Replay of a v2 file's record frames into the in-memory map, with the recovery rules.
//!
//! Implements FORMAT.md "Open and recovery". Frames are authenticated and decrypted in place in
//! the (zeroizing) file buffer, chained by their AAD and numbered strictly +1, and a batch takes
//! effect only at its commit frame. Only what our own crash can leave behind is recovered
//! silently (an incomplete final frame, an uncommitted final batch, an all-zero tail, a final
//! frame whose tag never reached the disk); anything else is an error and the file is untouched.

use std::sync::{Mutex, PoisonError};

use zeroize::Zeroizing;

use crate::Error;
use crate::frame::{
    self, Chain, FLAG_COMMIT, FLAG_START, FRAME_HEAD_LEN, MAX_SEALED_LEN, MIN_SEALED_LEN, OpRange,
};
use crate::header::{NONCE_LEN, TAG_LEN, VAULT_ID_LEN};
use crate::records::Records;
use crate::seal::{self, DataKey};

/// The state a file replays to.
#[derive(Debug)]
pub(crate) struct Replayed {
    pub records: Records,
    pub live_bytes: u64,
    /// Sequence and tag of the last committed frame.
    pub chain: Chain,
    /// End of the last committed frame: where the next append goes.
    pub valid_end: u64,
    /// Committed frames in the file.
    pub frames: u64,
    /// Bytes after `valid_end` that were discarded as a torn tail.
    pub recovered_tail: u64,
}

/// A frame located by the header walk (step 1).
struct FrameAt {
    pos: usize,
    len: usize,
    /// The frame's tag, read before anything is decrypted: the next frame's AAD.
    tag: [u8; TAG_LEN],
}

/// A frame after decryption and parsing (step 2).
enum Opened {
    /// Authentication failed.
    Forged,
    /// Authentic; its operations end at this index of the operation list.
    Ok { seq: u64, flags: u8, ops_end: usize },
    /// Authentic but malformed (a [`Error::Corrupt`] text).
    Bad(&'static str),
}

/// Files above this size are decrypted by two threads.
const PARALLEL_FROM: usize = 1024 * 1024;

/// Replays the frames after the header. `file` is decrypted in place.
///
/// Step 1 walks the length fields; step 2 authenticates, decrypts and parses every frame (two
/// threads for a large file: a frame's AAD needs only the previous frame's tag, which is in
/// the file); step 3 checks the chain in file order. The outcome is exactly that of checking
/// frame by frame: the first problem in file order decides.
pub(crate) fn replay(
    file: &mut [u8],
    header_len: usize,
    data_key: &DataKey,
    vault_id: &[u8; VAULT_ID_LEN],
) -> Result<Replayed, Error> {
    let total = file.len();
    let (found, bad_header) = walk(file, header_len);
    let (opened, mut ops) = open_all(file, &found, data_key, vault_id);

    let mut chain = Chain::fresh(0);
    // (end, chain, frames, ops) of the last commit frame.
    let mut committed: Option<(usize, Chain, u64, usize)> = None;
    for (n, (at, out)) in (0u64..).zip(found.iter().zip(&opened)) {
        let (seq, flags, ops_end) = match out {
            Opened::Ok {
                seq,
                flags,
                ops_end,
            } => (*seq, *flags, *ops_end),
            Opened::Forged if at.pos + at.len == total && at.tag == [0; TAG_LEN] => {
                break; // the final write stopped before its tag reached the disk
            }
            Opened::Forged => return Err(Error::Corrupt("a record failed authentication")),
            Opened::Bad(what) => return Err(Error::Corrupt(what)),
        };
        // FORMAT.md "Open and recovery" rules 3–4: the chain starts with a START frame and
        // continues strictly +1.
        let first = n == 0;
        if first != (flags & FLAG_START != 0) {
            return Err(Error::Corrupt("a snapshot record is out of place"));
        }
        if first && seq == 0 || !first && Some(seq) != chain.seq.checked_add(1) {
            return Err(Error::Corrupt("records are out of sequence"));
        }
        chain = Chain { seq, tag: at.tag };
        if flags & FLAG_COMMIT != 0 {
            committed = Some((at.pos + at.len, chain, n + 1, ops_end));
        }
        if n + 1 == found.len() as u64 && bad_header {
            // Not a frame we could have written: never silently dropped.
            return Err(if committed.is_some() {
                Error::TrailingData
            } else {
                Error::Corrupt("the first record has a damaged length")
            });
        }
    }
    if found.is_empty() && bad_header {
        return Err(Error::Corrupt("the first record has a damaged length"));
    }
    // The snapshot is written whole to a temp file before the rename: if even its batch is not
    // complete, the file was cut by something other than our crash.
    let (end, chain, frames, ops_end) = committed.ok_or(Error::Truncated)?;
    ops.truncate(ops_end);
    let (records, live_bytes) = build(file, ops);
    Ok(Replayed {
        records,
        live_bytes,
        chain,
        valid_end: u64::try_from(end).unwrap_or(u64::MAX),
        frames,
        recovered_tail: u64::try_from(total - end).unwrap_or(u64::MAX),
    })
}

/// Step 1: the complete frames up to the end of the file, a torn tail (an incomplete final
/// frame or an all-zero tail: not listed) or a length field we could not have written (then
/// `true`).
fn walk(file: &[u8], header_len: usize) -> (Vec<FrameAt>, bool) {
    let mut found = Vec::new();
    let mut pos = header_len;
    loop {
        let rest = file.get(pos..).unwrap_or_default();
        if rest.is_empty() || rest.iter().all(|b| *b == 0) {
            // Clean end, or a tail the file system extended but never filled.
            return (found, false);
        }
        let Some(len_bytes) = rest.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return (found, false); // the file ends inside a length field
        };
        let sealed_len = usize::try_from(u32::from_le_bytes(len_bytes)).unwrap_or(usize::MAX);
        if !(MIN_SEALED_LEN..=MAX_SEALED_LEN).contains(&sealed_len) {
            return (found, true);
        }
        let Some(check) = rest.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
            return (found, false); // the file ends inside the length check
        };
        if u32::from_le_bytes(check) != !u32::from_le_bytes(len_bytes) {
            return (found, true);
        }
        let len = FRAME_HEAD_LEN + sealed_len;
        let Some(tag) = rest
            .get(len - TAG_LEN..len)
            .and_then(|t| <[u8; TAG_LEN]>::try_from(t).ok())
        else {
            return (found, false); // incomplete final frame
        };
        found.push(FrameAt { pos, len, tag });
        pos += len;
    }
}

/// Step 2: authenticates, decrypts in place and parses every found frame; two threads for a
/// large file (each on its own half of the buffer).
fn open_all(
    file: &mut [u8],
    found: &[FrameAt],
    data_key: &DataKey,
    vault_id: &[u8; VAULT_ID_LEN],
) -> (Vec<Opened>, Vec<OpRange>) {
    let cipher = seal::cipher(data_key);
    let split = found
        .iter()
        .position(|f| f.pos >= file.len() / 2)
        .filter(|_| file.len() >= PARALLEL_FROM)
        .unwrap_or(found.len());
    let (first, second) = found.split_at(split);
    let cut = second.first().map_or(file.len(), |f| f.pos);
    let (left, right) = file.split_at_mut(cut);
    let prev_of_second = first.last().map_or([0; TAG_LEN], |f| f.tag);
    // The second half goes to a helper thread through this slot; if the thread cannot be
    // started, this thread takes it back and does both halves.
    let right = Mutex::new(Some(right));
    let take = || right.lock().unwrap_or_else(PoisonError::into_inner).take();
    let second_half = |r: &mut [u8]| open_range(r, cut, second, prev_of_second, &cipher, vault_id);
    let (mut a, b) = std::thread::scope(|s| {
        let helper = (!second.is_empty())
            .then(|| {
                std::thread::Builder::new()
                    .spawn_scoped(s, || take().map(second_half))
                    .ok()
            })
            .flatten();
        let a = open_range(left, 0, first, [0; TAG_LEN], &cipher, vault_id);
        (a, helper.and_then(|h| h.join().ok()).flatten())
    });
    let b = b.or_else(|| take().map(second_half)).unwrap_or_else(|| {
        // The helper took the half and died: nothing of it can be trusted.
        (second.iter().map(|_| Opened::Forged).collect(), Vec::new())
    });
    let shift = a.1.len();
    a.0.extend(b.0.into_iter().map(|o| match o {
        Opened::Ok {
            seq,
            flags,
            ops_end,
        } => Opened::Ok {
            seq,
            flags,
            ops_end: ops_end + shift,
        },
        other => other,
    }));
    a.1.extend(b.1);
    a
}

/// Opens the frames of one part of the file; `buf` starts at file offset `base`.
fn open_range(
    buf: &mut [u8],
    base: usize,
    frames: &[FrameAt],
    mut prev: [u8; TAG_LEN],
    cipher: &aes_gcm::Aes256Gcm,
    vault_id: &[u8; VAULT_ID_LEN],
) -> (Vec<Opened>, Vec<OpRange>) {
    let mut opened = Vec::with_capacity(frames.len());
    let mut ops = Vec::new();
    for at in frames {
        let start = at.pos - base;
        let out = match buf.get_mut(start..start + at.len) {
            Some(bytes) => open_one(bytes, at, &prev, cipher, vault_id, &mut ops),
            None => Opened::Forged,
        };
        opened.push(out);
        prev = at.tag;
    }
    (opened, ops)
}

fn open_one(
    bytes: &mut [u8],
    at: &FrameAt,
    prev: &[u8; TAG_LEN],
    cipher: &aes_gcm::Aes256Gcm,
    vault_id: &[u8; VAULT_ID_LEN],
    ops: &mut Vec<OpRange>,
) -> Opened {
    let (head, body) = bytes.split_at_mut(FRAME_HEAD_LEN);
    let Some(nonce) = head
        .get(8..)
        .and_then(|n| <[u8; NONCE_LEN]>::try_from(n).ok())
    else {
        return Opened::Forged;
    };
    let Some((ct, _tag)) = body.split_at_mut_checked(body.len().saturating_sub(TAG_LEN)) else {
        return Opened::Forged;
    };
    let aad = frame::aad(vault_id, prev);
    if seal::open_detached(cipher, &nonce, &aad, ct, &at.tag).is_err() {
        return Opened::Forged;
    }
    let base = at.pos + FRAME_HEAD_LEN;
    let shift = |r: std::ops::Range<usize>| r.start + base..r.end + base;
    let before = ops.len();
    match frame::parse_ranges(ct, |op| {
        ops.push(OpRange {
            key: shift(op.key),
            value: op.value.map(shift),
        });
    }) {
        Ok((seq, flags)) => Opened::Ok {
            seq,
            flags,
            ops_end: ops.len(),
        },
        Err(e) => {
            ops.truncate(before);
            Opened::Bad(match e {
                Error::Corrupt(what) => what,
                _ => "a record's contents are malformed",
            })
        }
    }
}

/// Key bytes kept inline in each sort entry (after the prefix all keys share).
const HEAD_LEN: usize = 40;

/// The state the operations leave: for each key, its last operation wins.
///
/// A large log is sorted once and bulk-built into the map, allocating only the surviving
/// records: inserting it one operation at a time (random-order B-tree inserts, two allocations
/// per operation) was several times slower. The sort compares the first key bytes after the
/// prefix every key shares, held inline, so it rarely touches the 30 MB file buffer (every
/// such access is a cache miss); a snapshot is already sorted, which the sort detects.
fn build(file: &[u8], ops: Vec<OpRange>) -> (Records, u64) {
    let bytes = |r: &std::ops::Range<usize>| file.get(r.clone()).unwrap_or_default();
    let first = ops.first().map(|op| bytes(&op.key)).unwrap_or_default();
    let shared = ops.iter().fold(first.len(), |n, op| {
        let key = bytes(&op.key);
        first
            .iter()
            .zip(key)
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    });
    let mut order: Vec<([u8; HEAD_LEN], usize)> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut head = [0u8; HEAD_LEN];
            let key = bytes(&op.key).get(shared..).unwrap_or_default();
            // Zero padding sorts a shorter key before its extensions; ties fall through to the
            // full comparison.
            head.iter_mut().zip(key).for_each(|(h, k)| *h = *k);
            (head, i)
        })
        .collect();
    let key_of = |i: usize| ops.get(i).map(|op| bytes(&op.key)).unwrap_or_default();
    // Stable: operations on one key keep their file order.
    order.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| key_of(a.1).cmp(key_of(b.1))));
    let mut live_bytes = 0u64;
    let mut last: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)> = Vec::with_capacity(order.len());
    let mut iter = order.iter().filter_map(|(_, i)| ops.get(*i)).peekable();
    while let Some(op) = iter.next() {
        let key = bytes(&op.key);
        if iter.peek().is_some_and(|next| bytes(&next.key) == key) {
            continue; // superseded by a later operation on the same key
        }
        if let Some(v) = &op.value {
            let value = bytes(v);
            live_bytes += (key.len() + value.len()) as u64;
            last.push((key.to_vec(), Zeroizing::new(value.to_vec())));
        }
    }
    (last.into_iter().collect(), live_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_keeps_the_last_operation_per_key() {
        // "b1a1b22c3c333a" with ops pointing into it.
        let file = b"b1a1b22c3c333a";
        let put = |k: usize, v: std::ops::Range<usize>| OpRange {
            key: k..k + 1,
            value: Some(v),
        };
        let del = |k: usize| OpRange {
            key: k..k + 1,
            value: None,
        };
        let ops = vec![
            put(0, 1..2),    // b=1
            put(2, 3..4),    // a=1
            put(4, 5..7),    // b=22
            del(2),          // -a
            put(7, 8..9),    // c=3
            del(7),          // -c
            put(9, 10..13),  // c=333
            put(13, 13..13), // a=""
        ];
        let (records, live) = build(file, ops);
        let got: Vec<_> = records
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect();
        assert_eq!(
            got,
            [
                (b"a".to_vec(), vec![]),
                (b"b".to_vec(), b"22".to_vec()),
                (b"c".to_vec(), b"333".to_vec())
            ]
        );
        assert_eq!(live, 1 + 3 + 4);
    }
}
