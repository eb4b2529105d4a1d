//! Record frames: the individually sealed units of the v2 append log.
//!
//! Implements FORMAT.md "Record frames". A frame is `len u32 | !len u32 | nonce [12] |
//! ciphertext‖tag` (the complement makes a damaged length detectable instead of looking like
//! a torn final frame),
//! sealed under the data key with AAD = vault id ‖ tag of the previous frame (zeros for the
//! first frame of the file), so frames cannot be moved between vaults, reordered, dropped from the
//! middle or spliced in from another copy without failing authentication. The plaintext starts
//! with the frame's sequence number (the generation), its flags and its operations.

use aes_gcm::Aes256Gcm;
use zeroize::Zeroizing;

use crate::Error;
use crate::header::{NONCE_LEN, Reader, TAG_LEN, VAULT_ID_LEN};
use crate::records::Change;
use crate::seal;

/// `len`, its complement and the nonce: the bytes of a frame before its ciphertext.
pub(crate) const FRAME_HEAD_LEN: usize = 4 + 4 + NONCE_LEN;
/// Sequence (8) + flags (1) + operation count (4).
pub(crate) const PLAIN_HEAD_LEN: usize = 8 + 1 + 4;
/// Smallest `len` (ciphertext + tag) a frame can have.
pub(crate) const MIN_SEALED_LEN: usize = PLAIN_HEAD_LEN + TAG_LEN;
/// Largest `len` accepted or written: 16 MiB, checked before anything is allocated for it.
pub(crate) const MAX_SEALED_LEN: usize = 16 * 1024 * 1024;
/// Largest frame plaintext.
const MAX_PLAIN_LEN: usize = MAX_SEALED_LEN - TAG_LEN;
/// Plaintext size at which a batch starts a new frame (snapshots pack many entries per frame).
pub(crate) const CHUNK_LEN: usize = 1024 * 1024;

/// Last frame of a batch: the batch takes effect only once this frame is read.
pub(crate) const FLAG_COMMIT: u8 = 0x01;
/// First frame of the file (the snapshot written by create, compaction or migration).
pub(crate) const FLAG_START: u8 = 0x02;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

/// What the next frame depends on: the last sequence number and the last tag written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chain {
    pub seq: u64,
    pub tag: [u8; TAG_LEN],
}

impl Chain {
    /// The state before the first frame of a file whose snapshot continues after `generation`.
    pub fn fresh(generation: u64) -> Self {
        Self {
            seq: generation,
            tag: [0; TAG_LEN],
        }
    }
}

/// Associated data of a frame: vault id ‖ previous tag.
pub(crate) fn aad(vault_id: &[u8; VAULT_ID_LEN], prev_tag: &[u8; TAG_LEN]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let (a, b) = out.split_at_mut(VAULT_ID_LEN);
    a.copy_from_slice(vault_id);
    b.copy_from_slice(prev_tag);
    out
}

/// Encoded size of one operation in a frame plaintext.
pub(crate) fn op_len(change: &Change<'_>) -> usize {
    match change {
        Change::Put(k, v) => 1 + 4 + k.len() + 4 + v.len(),
        Change::Delete(k) => 1 + 4 + k.len(),
    }
}

/// The error for a record or vault that would exceed a size limit.
pub(crate) fn too_large(what: &'static str) -> Error {
    Error::Io(std::io::Error::new(std::io::ErrorKind::FileTooLarge, what))
}

/// Builds the sealed frames of one batch (FORMAT.md "Frame plaintext").
pub(crate) struct BatchWriter<'a> {
    cipher: &'a Aes256Gcm,
    vault_id: [u8; VAULT_ID_LEN],
    chain: Chain,
    start: bool,
    chunk: usize,
    plain: Zeroizing<Vec<u8>>,
    count: u32,
    out: Vec<u8>,
    frames: u64,
}

impl<'a> BatchWriter<'a> {
    /// `start`: this batch is the snapshot at the start of a new file. The frames are appended
    /// to `out` (empty, or the header of a new file).
    pub fn new(
        cipher: &'a Aes256Gcm,
        vault_id: [u8; VAULT_ID_LEN],
        chain: Chain,
        start: bool,
        out: Vec<u8>,
    ) -> Self {
        Self {
            cipher,
            vault_id,
            chain,
            start,
            chunk: CHUNK_LEN,
            plain: Zeroizing::new(Vec::new()),
            count: 0,
            out,
            frames: 0,
        }
    }

    /// Plaintext size at which a new frame starts (tests use small frames).
    pub fn with_chunk(mut self, chunk: usize) -> Self {
        self.chunk = chunk;
        self
    }

    /// Adds one operation, sealing the current frame first if it is full.
    pub fn push(&mut self, change: &Change<'_>) -> Result<(), Error> {
        let need = op_len(change);
        if need > MAX_PLAIN_LEN - PLAIN_HEAD_LEN {
            return Err(too_large("a record is larger than the 16 MiB frame limit"));
        }
        if self.count > 0 && self.plain.len().saturating_add(need) > self.chunk {
            self.seal_frame(false)?;
        }
        if self.plain.is_empty() {
            reserve(&mut self.plain, PLAIN_HEAD_LEN + need);
            self.plain.resize(PLAIN_HEAD_LEN, 0);
        }
        reserve(&mut self.plain, need);
        // Lengths fit u32: need is below MAX_PLAIN_LEN.
        let len32 = |b: &[u8]| u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes();
        match change {
            Change::Put(k, v) => {
                self.plain.push(OP_PUT);
                self.plain.extend_from_slice(&len32(k));
                self.plain.extend_from_slice(k);
                self.plain.extend_from_slice(&len32(v));
                self.plain.extend_from_slice(v);
            }
            Change::Delete(k) => {
                self.plain.push(OP_DELETE);
                self.plain.extend_from_slice(&len32(k));
                self.plain.extend_from_slice(k);
            }
        }
        self.count = self
            .count
            .checked_add(1)
            .ok_or(too_large("too many operations"))?;
        Ok(())
    }

    /// Seals the last frame with the commit flag; returns the bytes, the new chain state and
    /// the number of frames.
    pub fn finish(mut self) -> Result<(Vec<u8>, Chain, u64), Error> {
        self.seal_frame(true)?;
        Ok((self.out, self.chain, self.frames))
    }

    fn seal_frame(&mut self, commit: bool) -> Result<(), Error> {
        if self.plain.is_empty() {
            self.plain.resize(PLAIN_HEAD_LEN, 0);
        }
        let seq = self
            .chain
            .seq
            .checked_add(1)
            .ok_or(Error::Corrupt("generation counter exhausted"))?;
        let flags = if commit { FLAG_COMMIT } else { 0 } | if self.start { FLAG_START } else { 0 };
        let mut head = Vec::with_capacity(PLAIN_HEAD_LEN);
        head.extend_from_slice(&seq.to_le_bytes());
        head.push(flags);
        head.extend_from_slice(&self.count.to_le_bytes());
        self.plain
            .get_mut(..PLAIN_HEAD_LEN)
            .ok_or(Error::Malformed("frame buffer"))?
            .copy_from_slice(&head);
        let aad = aad(&self.vault_id, &self.chain.tag);
        let (nonce, tag) = seal::seal_detached(self.cipher, &aad, &mut self.plain)?;
        let sealed_len =
            u32::try_from(self.plain.len() + TAG_LEN).map_err(|_| too_large("frame too large"))?;
        self.out
            .reserve(FRAME_HEAD_LEN + self.plain.len() + TAG_LEN);
        self.out.extend_from_slice(&sealed_len.to_le_bytes());
        self.out.extend_from_slice(&(!sealed_len).to_le_bytes());
        self.out.extend_from_slice(&nonce);
        self.out.extend_from_slice(&self.plain);
        self.out.extend_from_slice(&tag);
        self.chain = Chain { seq, tag };
        self.start = false;
        self.count = 0;
        self.frames += 1;
        // Now ciphertext, but clear it so the buffer can be reused for the next plaintext.
        self.plain.clear();
        Ok(())
    }
}

/// Grows a secret buffer without leaving an unzeroed copy behind in freed memory.
fn reserve(buf: &mut Zeroizing<Vec<u8>>, additional: usize) {
    let want = buf.len().saturating_add(additional);
    if buf.capacity() >= want {
        return;
    }
    let cap = want
        .max(buf.capacity().saturating_mul(2))
        .saturating_add(TAG_LEN);
    let mut bigger = Zeroizing::new(Vec::with_capacity(cap));
    bigger.extend_from_slice(buf);
    // The old buffer is zeroed as it drops.
    *buf = bigger;
}

/// One operation located in a frame plaintext: byte ranges of its key and (for a put) value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OpRange {
    pub key: std::ops::Range<usize>,
    pub value: Option<std::ops::Range<usize>>,
}

/// Parses an authenticated frame plaintext, calling `each` for every operation in order.
/// Returns the sequence number and flags. Any violation is [`Error::Corrupt`]: the bytes were
/// authenticated, so only a damaged writer could produce them.
#[cfg_attr(not(test), expect(dead_code, reason = "replay uses the range form"))]
pub(crate) fn parse_plain<'a>(
    plain: &'a [u8],
    mut each: impl FnMut(Change<'a>),
) -> Result<(u64, u8), Error> {
    let part = |r: &std::ops::Range<usize>| plain.get(r.clone()).unwrap_or_default();
    parse_ranges(plain, |op| match &op.value {
        Some(v) => each(Change::Put(part(&op.key), part(v))),
        None => each(Change::Delete(part(&op.key))),
    })
}

/// [`parse_plain`] giving byte ranges within `plain` instead of slices, so replay can keep
/// offsets into the file buffer rather than copying every key and value.
pub(crate) fn parse_ranges(
    plain: &[u8],
    mut each: impl FnMut(OpRange),
) -> Result<(u64, u8), Error> {
    let bad = |_| Error::Corrupt("a record's contents are malformed");
    let mut r = Reader::new(plain);
    let seq = u64::from_le_bytes(r.array().map_err(bad)?);
    let flags = u8::from_le_bytes(r.array().map_err(bad)?);
    if flags & !(FLAG_COMMIT | FLAG_START) != 0 {
        return Err(Error::Corrupt("a record has unknown flags"));
    }
    let count = u32::from_le_bytes(r.array().map_err(bad)?);
    for _ in 0..count {
        let op = u8::from_le_bytes(r.array().map_err(bad)?);
        let key = field(plain, &mut r).map_err(bad)?;
        match op {
            OP_PUT => {
                let value = field(plain, &mut r).map_err(bad)?;
                each(OpRange {
                    key,
                    value: Some(value),
                });
            }
            OP_DELETE => each(OpRange { key, value: None }),
            _ => return Err(Error::Corrupt("a record has an unknown operation")),
        }
    }
    if !r.rest().is_empty() {
        return Err(Error::Corrupt("bytes after the last operation of a record"));
    }
    Ok((seq, flags))
}

/// A length-prefixed field; returns its range within `plain`.
fn field(plain: &[u8], r: &mut Reader<'_>) -> Result<std::ops::Range<usize>, Error> {
    let len = u32::from_le_bytes(r.array()?);
    let len = usize::try_from(len).map_err(|_| Error::Truncated)?;
    let start = plain.len() - r.rest().len();
    r.take(len)?;
    Ok(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(plain: &[u8]) -> Result<(u64, u8, Vec<String>), Error> {
        let mut ops = Vec::new();
        let (s, f) = parse_plain(plain, |c| ops.push(format!("{c:?}")))?;
        Ok((s, f, ops))
    }

    #[test]
    fn exact_plaintext_encoding() {
        let c = seal::cipher(&[1; 32]);
        let mut w = BatchWriter::new(&c, [2; 16], Chain::fresh(41), true, Vec::new());
        w.push(&Change::Put(b"k", b"vv")).unwrap();
        w.push(&Change::Delete(b"x")).unwrap();
        let (bytes, chain, frames) = w.finish().unwrap();
        assert_eq!(frames, 1);
        assert_eq!(chain.seq, 42);
        let sealed_len = u32::from_le_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), FRAME_HEAD_LEN + sealed_len);
        assert_eq!(bytes[4..8], (!(sealed_len as u32)).to_le_bytes());
        let nonce: [u8; 12] = bytes[8..20].try_into().unwrap();
        let mut body = bytes[20..].to_vec();
        let plain = seal::open_in_place(&[1; 32], &nonce, &aad(&[2; 16], &[0; 16]), &mut body)
            .unwrap()
            .to_vec();
        let want: &[u8] = &[
            42, 0, 0, 0, 0, 0, 0, 0, 0x03, 2, 0, 0, 0, // seq, COMMIT|START, count
            1, 1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'v', // put
            2, 1, 0, 0, 0, b'x', // delete
        ];
        assert_eq!(plain, want);
        assert_eq!(chain.tag, bytes[bytes.len() - 16..]);
    }

    #[test]
    fn batches_split_at_the_chunk_and_commit_only_the_last() {
        let c = seal::cipher(&[1; 32]);
        let mut w = BatchWriter::new(&c, [2; 16], Chain::fresh(0), false, Vec::new());
        let v = vec![7u8; 400 * 1024];
        for _ in 0..5 {
            w.push(&Change::Put(b"big", &v)).unwrap();
        }
        let (bytes, chain, frames) = w.finish().unwrap();
        assert_eq!(frames, 3, "two 400 KiB ops per 1 MiB frame");
        assert_eq!(chain.seq, 3);
        assert!(bytes.len() > 5 * 400 * 1024);
    }

    #[test]
    fn plaintext_violations_are_corrupt() {
        assert_eq!(
            collect(&[1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap().0,
            1
        );
        let good = [1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 1, 0, 0, 0, b'x'];
        let (_, _, ops) = collect(&good).unwrap();
        assert_eq!(ops, ["Delete { key_len: 1 }"]);
        for len in 0..good.len() {
            assert!(
                matches!(collect(&good[..len]), Err(Error::Corrupt(_))),
                "{len}"
            );
        }
        let mut bad = good;
        bad[8] = 0x04;
        assert!(matches!(collect(&bad), Err(Error::Corrupt(_))));
        let mut bad = good;
        bad[13] = 3;
        assert!(matches!(collect(&bad), Err(Error::Corrupt(_))));
        let mut bad = good.to_vec();
        bad.push(0);
        assert!(matches!(collect(&bad), Err(Error::Corrupt(_))));
        let mut huge = good;
        huge[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(collect(&huge), Err(Error::Corrupt(_))));
    }

    #[test]
    fn oversized_record_is_refused() {
        let c = seal::cipher(&[1; 32]);
        let mut w = BatchWriter::new(&c, [2; 16], Chain::fresh(0), false, Vec::new());
        let v = vec![0u8; MAX_SEALED_LEN];
        assert!(matches!(
            w.push(&Change::Put(b"k", &v)),
            Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::FileTooLarge
        ));
    }
}
