//! Reader of the version-1 format (one sealed body rewritten on every write), kept so that old
//! vaults open and are migrated to v2 (FORMAT.md "Version 1 and migration").
//!
//! v1 layout: the v2 header without the vault id (99 bytes, key-wrap AAD = bytes 0..39), then
//! body nonce [12], body length `u32` (16 ..= 64 MiB), body = AES-256-GCM(data key, plaintext,
//! AAD = the 99 header bytes). Plaintext: generation `u64`, record count `u32`, then records
//! (key length `u32`, key, value length `u32`, value) in strictly increasing key order.

use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::Error;
use crate::header::{self, NONCE_LEN, Reader, TAG_LEN, WRAPPED_KEY_LEN};
use crate::kdf::{self, KdfParams, Kek, SALT_LEN};
use crate::records::Records;
use crate::seal::{self, DataKey};

/// Bytes 0..39 of a v1 file: the associated data of its key wrap.
const V1_WRAP_AAD_LEN: usize = 8 + 2 + 1 + 4 + 4 + 4 + SALT_LEN;
/// The v1 header: the associated data of its body.
const V1_HEADER_LEN: usize = V1_WRAP_AAD_LEN + NONCE_LEN + WRAPPED_KEY_LEN;
/// Largest v1 body ciphertext: 64 MiB.
const V1_MAX_BODY_LEN: usize = 64 * 1024 * 1024;

/// Everything a migration needs from a v1 file.
pub(crate) struct V1Contents {
    pub params: KdfParams,
    pub salt: [u8; SALT_LEN],
    /// Kept so the migration can re-wrap the data key without a second KDF run.
    pub kek: Kek,
    pub data_key: DataKey,
    pub generation: u64,
    pub records: Records,
    pub kdf_time: Duration,
}

/// Parses, unlocks and decodes a whole v1 file (magic and version already checked).
pub(crate) fn open(bytes: &[u8], passphrase: &[u8]) -> Result<V1Contents, Error> {
    let mut r = Reader::new(bytes);
    r.take(header::MAGIC.len() + 2)?;
    let (params, salt) = header::read_kdf(&mut r)?;
    let key_nonce: [u8; NONCE_LEN] = r.array()?;
    let wrapped: [u8; WRAPPED_KEY_LEN] = r.array()?;
    let body_nonce: [u8; NONCE_LEN] = r.array()?;
    let body_len = usize::try_from(u32::from_le_bytes(r.array()?))
        .map_err(|_| Error::Malformed("body too large"))?;
    if body_len < TAG_LEN {
        return Err(Error::Malformed("body shorter than its authentication tag"));
    }
    if body_len > V1_MAX_BODY_LEN {
        return Err(Error::Malformed("body larger than the 64 MiB limit"));
    }
    let ciphertext = r.take(body_len)?;
    if !r.rest().is_empty() {
        return Err(Error::TrailingData);
    }
    let wrap_aad = bytes.get(..V1_WRAP_AAD_LEN).ok_or(Error::Truncated)?;
    let body_aad = bytes.get(..V1_HEADER_LEN).ok_or(Error::Truncated)?;

    let started = Instant::now();
    let kek = kdf::derive_kek(passphrase, &salt, params)?;
    let kdf_time = started.elapsed();
    let data_key = seal::unwrap_key(&kek, &key_nonce, &wrapped, wrap_aad)?;
    let mut body = Zeroizing::new(ciphertext.to_vec());
    let plaintext = seal::open_in_place(&data_key, &body_nonce, body_aad, &mut body)?;
    let (generation, records) = decode(plaintext)?;
    Ok(V1Contents {
        params,
        salt,
        kek,
        data_key,
        generation,
        records,
        kdf_time,
    })
}

/// Parses an authenticated v1 plaintext into its generation and records.
fn decode(plaintext: &[u8]) -> Result<(u64, Records), Error> {
    let mut r = Reader::new(plaintext);
    let generation = u64::from_le_bytes(r.array().map_err(|_| short())?);
    let count = u32::from_le_bytes(r.array().map_err(|_| short())?);
    let count = usize::try_from(count).map_err(|_| short())?;
    // Every record takes at least 8 bytes: refuse counts the bytes cannot hold.
    if count > r.rest().len() / 8 {
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

    /// Written by the last v1 build (FAST params, passphrase "correct horse battery staple").
    const FIXTURE: &[u8] = include_bytes!("../tests/data/v1-fixture.bin");
    const PASS: &[u8] = b"correct horse battery staple";

    #[test]
    fn the_fixture_decodes() {
        let c = open(FIXTURE, PASS).unwrap();
        assert_eq!(c.generation, 7);
        assert_eq!(c.records.len(), 4);
        assert_eq!(
            c.records.get(&b"cred/1"[..]).map(|v| v.to_vec()),
            Some(b"replaced".to_vec())
        );
        assert!(matches!(
            open(FIXTURE, b"wrong"),
            Err(Error::WrongPassphraseOrCorrupt)
        ));
    }

    #[test]
    fn every_truncation_and_trailing_byte_is_refused() {
        for len in 10..FIXTURE.len() {
            assert!(
                matches!(open(&FIXTURE[..len], PASS), Err(Error::Truncated)),
                "{len}"
            );
        }
        let mut long = FIXTURE.to_vec();
        long.push(0);
        assert!(matches!(open(&long, PASS), Err(Error::TrailingData)));
    }

    #[test]
    fn plaintext_rules() {
        let mut ok = vec![1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
        ok.extend_from_slice(&[1, 0, 0, 0, b'a', 0, 0, 0, 0, 1, 0, 0, 0, b'b', 0, 0, 0, 0]);
        assert_eq!(decode(&ok).unwrap().1.len(), 2);
        let mut unordered = ok.clone();
        unordered[16] = b'c';
        assert!(matches!(decode(&unordered), Err(Error::Malformed(_))));
        let mut huge = ok.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(decode(&huge), Err(Error::Malformed(_))));
        for len in 0..ok.len() {
            assert!(matches!(decode(&ok[..len]), Err(Error::Malformed(_))));
        }
        ok.push(0);
        assert!(matches!(decode(&ok), Err(Error::Malformed(_))));
    }
}
