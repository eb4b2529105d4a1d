//! The v2 file header and the bounded byte reader shared by every parser of the crate.
//!
//! Implements FORMAT.md "Byte layout". Everything is explicit little-endian. Parsing never indexes,
//! never allocates from an unchecked length, and checks the KDF bounds before anything can run
//! the KDF with the file's numbers (age caps its work factor the same way).

use crate::Error;
use crate::kdf::{KdfParams, SALT_LEN};

/// First eight bytes of every vault file.
pub const MAGIC: [u8; 8] = *b"SKVAULT\0";
/// The format version this crate writes (version 1 is still read and migrated on open).
pub const FORMAT_VERSION: u16 = 2;
/// The previous, whole-file-rewrite format version.
pub(crate) const FORMAT_VERSION_V1: u16 = 1;
/// KDF identifier for Argon2id v0x13 (the only one defined).
pub const KDF_ARGON2ID: u8 = 1;

/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the random per-vault data key (AES-256).
pub(crate) const DATA_KEY_LEN: usize = 32;
/// Data key sealed under the KEK: ciphertext plus tag.
pub(crate) const WRAPPED_KEY_LEN: usize = DATA_KEY_LEN + TAG_LEN;
/// Length of the random vault id.
pub(crate) const VAULT_ID_LEN: usize = 16;
/// Bytes from the magic through the salt: the associated data of the key wrap.
pub(crate) const KEY_WRAP_AAD_LEN: usize = 8 + 2 + VAULT_ID_LEN + 1 + 4 + 4 + 4 + SALT_LEN;
/// The whole v2 header; the first record frame starts here.
pub(crate) const HEADER_LEN: usize = KEY_WRAP_AAD_LEN + NONCE_LEN + WRAPPED_KEY_LEN;

/// The fixed-size header of a v2 vault. Nothing in it is secret (the data key is wrapped).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub vault_id: [u8; VAULT_ID_LEN],
    pub params: KdfParams,
    pub salt: [u8; SALT_LEN],
    pub key_nonce: [u8; NONCE_LEN],
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Header")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// The key-wrap associated data: header bytes 0..55 (FORMAT.md "Byte layout").
    pub fn wrap_aad(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&self.vault_id);
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&self.params.memory_kib.to_le_bytes());
        out.extend_from_slice(&self.params.iterations.to_le_bytes());
        out.extend_from_slice(&self.params.parallelism.to_le_bytes());
        out.extend_from_slice(&self.salt);
        debug_assert_eq!(out.len(), KEY_WRAP_AAD_LEN);
        out
    }

    /// Serialises the whole header (offsets 0..115).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.wrap_aad();
        out.extend_from_slice(&self.key_nonce);
        out.extend_from_slice(&self.wrapped_key);
        debug_assert_eq!(out.len(), HEADER_LEN);
        out
    }
}

/// Checks the magic and returns the format version. A file shorter than the magic that is a
/// prefix of it is `Truncated`; anything else that does not start with it is `NotAVault`.
pub(crate) fn version(bytes: &[u8]) -> Result<u16, Error> {
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_seen.len()) != Some(magic_seen) {
        return Err(Error::NotAVault);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len())?;
    Ok(u16::from_le_bytes(r.array()?))
}

/// Parses a v2 header: magic, version, vault id, KDF id, KDF bounds, salt, key wrap.
pub(crate) fn parse(bytes: &[u8]) -> Result<Header, Error> {
    let v = version(bytes)?;
    if v != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion(v));
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len() + 2)?;
    let vault_id = r.array()?;
    let (params, salt) = read_kdf(&mut r)?;
    Ok(Header {
        vault_id,
        params,
        salt,
        key_nonce: r.array()?,
        wrapped_key: r.array()?,
    })
}

/// The KDF fields of a v1 or v2 header (the file's first [`HEADER_LEN`] bytes, or all of a
/// shorter one): what [`crate::Vault::lock`] reads and bounds-checks before any passphrase
/// exists.
pub(crate) fn kdf_params_of(bytes: &[u8]) -> Result<KdfParams, Error> {
    let v = version(bytes)?;
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len() + 2)?;
    match v {
        FORMAT_VERSION => {
            r.take(VAULT_ID_LEN)?;
        }
        // FORMAT.md "Version 1 and migration": the KDF fields follow the version directly.
        FORMAT_VERSION_V1 => {}
        v => return Err(Error::UnsupportedVersion(v)),
    }
    Ok(read_kdf(&mut r)?.0)
}

/// KDF id, m, t, p and salt; the bounds are checked before anyone can run the KDF.
pub(crate) fn read_kdf(r: &mut Reader<'_>) -> Result<(KdfParams, [u8; SALT_LEN]), Error> {
    let kdf_id = u8::from_le_bytes(r.array()?);
    if kdf_id != KDF_ARGON2ID {
        return Err(Error::Malformed("unknown key-derivation function id"));
    }
    let params = KdfParams {
        memory_kib: u32::from_le_bytes(r.array()?),
        iterations: u32::from_le_bytes(r.array()?),
        parallelism: u32::from_le_bytes(r.array()?),
    };
    params.validate()?;
    Ok((params, r.array()?))
}

/// A cursor over untrusted bytes; every read is checked against what remains.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` bytes, or `Truncated` if fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(Error::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let head = self.take(N)?;
        head.try_into().map_err(|_| Error::Truncated)
    }

    /// What has not been read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            vault_id: [9; VAULT_ID_LEN],
            params: KdfParams {
                memory_kib: 8192,
                iterations: 1,
                parallelism: 1,
            },
            salt: [1; SALT_LEN],
            key_nonce: [2; NONCE_LEN],
            wrapped_key: [3; WRAPPED_KEY_LEN],
        }
    }

    #[test]
    fn layout_offsets_match_format_md() {
        assert_eq!(KEY_WRAP_AAD_LEN, 55);
        assert_eq!(HEADER_LEN, 115);
        let h = header().encode();
        assert_eq!(&h[..8], b"SKVAULT\0");
        assert_eq!(&h[8..10], &[2, 0]);
        assert_eq!(&h[10..26], &[9; 16]);
        assert_eq!(h[26], 1);
        assert_eq!(&h[27..31], &8192u32.to_le_bytes());
        assert_eq!(&h[31..35], &1u32.to_le_bytes());
        assert_eq!(&h[35..39], &1u32.to_le_bytes());
        assert_eq!(&h[39..55], &[1; 16]);
        assert_eq!(&h[55..67], &[2; 12]);
        assert_eq!(&h[67..115], &[3; 48]);
        assert_eq!(header().wrap_aad(), h[..55].to_vec());
    }

    #[test]
    fn round_trip_and_structural_errors() {
        let h = header().encode();
        assert_eq!(parse(&h).unwrap(), header());
        for len in 0..h.len() {
            assert!(matches!(parse(&h[..len]), Err(Error::Truncated)), "{len}");
        }
        let mut bad = h.clone();
        bad[0] ^= 0x20;
        assert!(matches!(parse(&bad), Err(Error::NotAVault)));
        assert!(matches!(parse(b"PK\x03"), Err(Error::NotAVault)));
        let mut bad = h.clone();
        bad[8] = 3;
        assert!(matches!(parse(&bad), Err(Error::UnsupportedVersion(3))));
        let mut bad = h.clone();
        bad[26] = 2;
        assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
        let mut bad = h;
        bad[27..31].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(Error::KdfParamsOutOfBounds)));
    }

    #[test]
    fn kdf_params_come_from_v1_and_v2_headers_with_bounds_checked() {
        let h = header().encode();
        assert_eq!(kdf_params_of(&h).unwrap(), header().params);
        // v1: the same fields without the 16-byte vault id.
        let mut v1 = h[..10].to_vec();
        v1[8] = 1;
        v1.extend_from_slice(&h[26..]);
        assert_eq!(kdf_params_of(&v1).unwrap(), header().params);
        assert!(matches!(kdf_params_of(&h[..30]), Err(Error::Truncated)));
        assert!(matches!(kdf_params_of(b"hello"), Err(Error::NotAVault)));
        let mut bad = h.clone();
        bad[8] = 9;
        assert!(matches!(
            kdf_params_of(&bad),
            Err(Error::UnsupportedVersion(9))
        ));
        let mut bad = h;
        bad[31..35].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(
            kdf_params_of(&bad),
            Err(Error::KdfParamsOutOfBounds)
        ));
    }
}
