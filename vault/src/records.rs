//! The plaintext of the body: a generation counter and the sorted records.
//!
//! Implements FORMAT.md "Body plaintext". Keys are opaque bytes in strictly increasing order (one
//! canonical encoding per state); values live in [`Zeroizing`] buffers. The plaintext is
//! authenticated before it is parsed, yet the parser still bounds every length, so a bug in an
//! older writer cannot make it panic or over-allocate.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::Error;
use crate::format::{MAX_BODY_LEN, Reader, TAG_LEN, too_large};

/// The records of a vault, in key order. Values are zeroed when dropped or replaced.
pub(crate) type Records = BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>;

/// Generation (8) + record count (4).
const PREAMBLE_LEN: usize = 8 + 4;
/// Key length (4) + value length (4): the smallest possible record.
const MIN_RECORD_LEN: usize = 4 + 4;
/// Largest plaintext that still fits the body limit once the tag is appended.
pub(crate) const MAX_PLAINTEXT_LEN: usize = MAX_BODY_LEN - TAG_LEN;

/// Serialises a state. The buffer is sized exactly up front so no reallocation leaves a stray
/// copy of record values on the heap.
pub(crate) fn encode(generation: u64, records: &Records) -> Result<Zeroizing<Vec<u8>>, Error> {
    let mut len = PREAMBLE_LEN;
    for (k, v) in records {
        len = len
            .checked_add(MIN_RECORD_LEN)
            .and_then(|l| l.checked_add(k.len()))
            .and_then(|l| l.checked_add(v.len()))
            .ok_or_else(too_large)?;
    }
    if len > MAX_PLAINTEXT_LEN {
        return Err(too_large());
    }
    let count = u32::try_from(records.len()).map_err(|_| too_large())?;
    // Capacity includes the tag so in-place encryption never reallocates either.
    let mut out = Zeroizing::new(Vec::with_capacity(len + TAG_LEN));
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for (k, v) in records {
        // Both fit in u32: their sum is below MAX_PLAINTEXT_LEN.
        let klen = u32::try_from(k.len()).map_err(|_| too_large())?;
        let vlen = u32::try_from(v.len()).map_err(|_| too_large())?;
        out.extend_from_slice(&klen.to_le_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&vlen.to_le_bytes());
        out.extend_from_slice(v);
    }
    debug_assert_eq!(out.len(), len);
    Ok(out)
}

/// Parses an authenticated plaintext into its generation and records.
pub(crate) fn decode(plaintext: &[u8]) -> Result<(u64, Records), Error> {
    let mut r = Reader::new(plaintext);
    let generation = u64::from_le_bytes(r.array().map_err(|_| short())?);
    let count = u32::from_le_bytes(r.array().map_err(|_| short())?);
    let count = usize::try_from(count).map_err(|_| Error::Malformed("record count too large"))?;
    // Every record takes at least MIN_RECORD_LEN bytes: refuse counts the bytes cannot hold.
    if count > r.rest().len() / MIN_RECORD_LEN {
        return Err(Error::Malformed("record count exceeds the body"));
    }
    let mut records = Records::new();
    let mut last: Option<&[u8]> = None;
    for _ in 0..count {
        let key = field(&mut r)?;
        let value = field(&mut r)?;
        if last.is_some_and(|prev| prev >= key) {
            return Err(Error::Malformed("records out of order or duplicated"));
        }
        last = Some(key);
        records.insert(key.to_vec(), Zeroizing::new(value.to_vec()));
    }
    if !r.rest().is_empty() {
        return Err(Error::Malformed("bytes after the last record"));
    }
    Ok((generation, records))
}

/// One length-prefixed field, borrowed from the plaintext.
fn field<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], Error> {
    let len = u32::from_le_bytes(r.array().map_err(|_| short())?);
    let len = usize::try_from(len).map_err(|_| short())?;
    r.take(len).map_err(|_| short())
}

/// Inside authenticated plaintext a short read is a format violation, not a truncated file.
fn short() -> Error {
    Error::Malformed("record extends past the end of the body")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Records {
        let mut m = Records::new();
        m.insert(b"b".to_vec(), Zeroizing::new(b"two".to_vec()));
        m.insert(b"a".to_vec(), Zeroizing::new(Vec::new()));
        m.insert(Vec::new(), Zeroizing::new(vec![0xff; 300]));
        m
    }

    #[test]
    fn round_trip_keeps_generation_and_order() {
        let m = sample();
        let bytes = encode(42, &m).unwrap();
        let (g, back) = decode(&bytes).unwrap();
        assert_eq!(g, 42);
        assert_eq!(back, m);
        assert!(bytes.capacity() >= bytes.len() + TAG_LEN);
    }

    #[test]
    fn exact_encoding_of_one_record() {
        let mut m = Records::new();
        m.insert(b"k".to_vec(), Zeroizing::new(b"vv".to_vec()));
        let bytes = encode(1, &m).unwrap();
        let want: &[u8] = &[
            1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, b'k', 2, 0, 0, 0, b'v', b'v',
        ];
        assert_eq!(bytes.as_slice(), want);
    }

    #[test]
    fn every_truncation_is_malformed_never_a_panic() {
        let bytes = encode(7, &sample()).unwrap();
        for len in 0..bytes.len() {
            assert!(
                matches!(decode(&bytes[..len]), Err(Error::Malformed(_))),
                "len {len}"
            );
        }
    }

    #[test]
    fn rejects_disorder_duplicates_trailing_and_huge_counts() {
        let mut unordered = encode(1, &Records::new()).unwrap().to_vec();
        unordered[8] = 2;
        unordered.extend_from_slice(&[1, 0, 0, 0, b'b', 0, 0, 0, 0, 1, 0, 0, 0, b'a', 0, 0, 0, 0]);
        assert!(matches!(decode(&unordered), Err(Error::Malformed(_))));
        let mut dup = unordered.clone();
        dup[16] = b'b';
        dup[25] = b'b';
        assert!(matches!(decode(&dup), Err(Error::Malformed(_))));
        let mut fixed = unordered.clone();
        fixed[16] = b'a';
        fixed[25] = b'b';
        assert_eq!(decode(&fixed).unwrap().1.len(), 2);

        let mut trailing = encode(1, &sample()).unwrap().to_vec();
        trailing.push(0);
        assert!(matches!(decode(&trailing), Err(Error::Malformed(_))));

        let mut huge = encode(1, &Records::new()).unwrap().to_vec();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(Error::Malformed(_))));
    }

    #[test]
    fn oversized_state_is_refused() {
        let mut m = Records::new();
        m.insert(b"big".to_vec(), Zeroizing::new(vec![0; MAX_PLAINTEXT_LEN]));
        assert!(
            matches!(encode(1, &m), Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::FileTooLarge)
        );
    }
}
