//! The v1 file layout: header encoding and the bounded parse of a whole vault file.
//!
//! Implements FORMAT.md "Byte layout". Everything is explicit little-endian. Parsing never
//! allocates from a length it has not checked against the bytes that remain, never indexes, and
//! finishes *before* any KDF or decryption runs, so damaged files fail fast with a precise error.

use crate::Error;
use crate::kdf::{KdfParams, SALT_LEN};

/// First eight bytes of every vault file.
pub const MAGIC: [u8; 8] = *b"SKVAULT\0";
/// The format version this crate writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// KDF identifier for Argon2id v0x13 (the only one defined in v1).
pub const KDF_ARGON2ID: u8 = 1;

/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the random per-vault data key (AES-256).
pub(crate) const DATA_KEY_LEN: usize = 32;
/// Data key sealed under the KEK: ciphertext plus tag.
pub(crate) const WRAPPED_KEY_LEN: usize = DATA_KEY_LEN + TAG_LEN;
/// Bytes from the magic through the salt: the associated data of the key wrap.
pub(crate) const KEY_WRAP_AAD_LEN: usize = 8 + 2 + 1 + 4 + 4 + 4 + SALT_LEN;
/// The whole header: the associated data of the body.
pub(crate) const HEADER_LEN: usize = KEY_WRAP_AAD_LEN + NONCE_LEN + WRAPPED_KEY_LEN;
/// Largest body ciphertext (tag included) accepted or written: 64 MiB.
pub(crate) const MAX_BODY_LEN: usize = 64 * 1024 * 1024;
/// Largest file `open` will read.
pub(crate) const MAX_FILE_LEN: usize = HEADER_LEN + NONCE_LEN + 4 + MAX_BODY_LEN;

/// The fixed-size header of a v1 vault.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub params: KdfParams,
    pub salt: [u8; SALT_LEN],
    pub key_nonce: [u8; NONCE_LEN],
    pub wrapped_key: [u8; WRAPPED_KEY_LEN],
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Nothing here is secret, but keep Debug short.
        f.debug_struct("Header")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// Serialises the header (FORMAT.md table, offsets 0..99).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&self.params.memory_kib.to_le_bytes());
        out.extend_from_slice(&self.params.iterations.to_le_bytes());
        out.extend_from_slice(&self.params.parallelism.to_le_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.key_nonce);
        out.extend_from_slice(&self.wrapped_key);
        debug_assert_eq!(out.len(), HEADER_LEN);
        out
    }
}

/// A structurally valid file, not yet authenticated.
#[derive(Debug)]
pub(crate) struct ParsedFile<'a> {
    pub header: Header,
    /// The exact header bytes from the file: the AAD of the body.
    pub header_bytes: &'a [u8],
    pub body_nonce: [u8; NONCE_LEN],
    /// Body ciphertext with its tag.
    pub ciphertext: &'a [u8],
}

/// Parses a whole file. Checks, in order: magic, version, KDF id, KDF bounds, lengths.
pub(crate) fn parse_file(bytes: &[u8]) -> Result<ParsedFile<'_>, Error> {
    // Magic first: a short file that is not a prefix of the magic is not a vault at all.
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_seen.len()) != Some(magic_seen) {
        return Err(Error::NotAVault);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len())?;
    let version = u16::from_le_bytes(r.array()?);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let kdf_id = u8::from_le_bytes(r.array()?);
    if kdf_id != KDF_ARGON2ID {
        return Err(Error::Malformed("unknown key-derivation function id"));
    }
    let params = KdfParams {
        memory_kib: u32::from_le_bytes(r.array()?),
        iterations: u32::from_le_bytes(r.array()?),
        parallelism: u32::from_le_bytes(r.array()?),
    };
    // Bounded before anything can run the KDF with these numbers.
    params.validate()?;
    let header = Header {
        params,
        salt: r.array()?,
        key_nonce: r.array()?,
        wrapped_key: r.array()?,
    };
    let header_bytes = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    let body_nonce = r.array()?;
    let body_len = u32::from_le_bytes(r.array()?);
    let body_len = usize::try_from(body_len).map_err(|_| Error::Malformed("body too large"))?;
    if body_len < TAG_LEN {
        return Err(Error::Malformed("body shorter than its authentication tag"));
    }
    if body_len > MAX_BODY_LEN {
        return Err(Error::Malformed("body larger than the 64 MiB limit"));
    }
    let ciphertext = r.take(body_len)?;
    if !r.rest().is_empty() {
        return Err(Error::TrailingData);
    }
    Ok(ParsedFile {
        header,
        header_bytes,
        body_nonce,
        ciphertext,
    })
}

/// Assembles a file from the header bytes and a sealed body.
pub(crate) fn encode_file(
    header_bytes: &[u8],
    body_nonce: &[u8; NONCE_LEN],
    ciphertext: &[u8],
) -> Result<Vec<u8>, Error> {
    if ciphertext.len() > MAX_BODY_LEN {
        return Err(too_large());
    }
    let body_len = u32::try_from(ciphertext.len()).map_err(|_| too_large())?;
    let mut out = Vec::with_capacity(header_bytes.len() + NONCE_LEN + 4 + ciphertext.len());
    out.extend_from_slice(header_bytes);
    out.extend_from_slice(body_nonce);
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(ciphertext);
    Ok(out)
}

/// The error for a write that would make the vault exceed [`MAX_BODY_LEN`].
pub(crate) fn too_large() -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        "the vault would exceed its 64 MiB size limit",
    ))
}

/// A cursor over untrusted bytes; every read is checked against what remains.
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

    const PARAMS: KdfParams = KdfParams {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    };

    fn header() -> Header {
        Header {
            params: PARAMS,
            salt: [1; SALT_LEN],
            key_nonce: [2; NONCE_LEN],
            wrapped_key: [3; WRAPPED_KEY_LEN],
        }
    }

    fn file() -> Vec<u8> {
        encode_file(&header().encode(), &[4; NONCE_LEN], &[5; 40]).unwrap()
    }

    #[test]
    fn layout_offsets_match_format_md() {
        assert_eq!(KEY_WRAP_AAD_LEN, 39);
        assert_eq!(HEADER_LEN, 99);
        let f = file();
        assert_eq!(&f[..8], b"SKVAULT\0");
        assert_eq!(&f[8..10], &[1, 0]);
        assert_eq!(f[10], 1);
        assert_eq!(&f[11..15], &8192u32.to_le_bytes());
        assert_eq!(&f[15..19], &1u32.to_le_bytes());
        assert_eq!(&f[19..23], &1u32.to_le_bytes());
        assert_eq!(&f[23..39], &[1; 16]);
        assert_eq!(&f[39..51], &[2; 12]);
        assert_eq!(&f[51..99], &[3; 48]);
        assert_eq!(&f[99..111], &[4; 12]);
        assert_eq!(&f[111..115], &40u32.to_le_bytes());
        assert_eq!(f.len(), 115 + 40);
    }

    #[test]
    fn round_trip() {
        let f = file();
        let p = parse_file(&f).unwrap();
        assert_eq!(p.header, header());
        assert_eq!(p.header_bytes, &f[..HEADER_LEN]);
        assert_eq!(p.body_nonce, [4; NONCE_LEN]);
        assert_eq!(p.ciphertext, &[5; 40]);
    }

    #[test]
    fn every_truncation_is_truncated() {
        let f = file();
        for len in 0..f.len() {
            let r = parse_file(&f[..len]);
            assert!(matches!(r, Err(Error::Truncated)), "len {len}: {r:?}");
        }
    }

    #[test]
    fn structural_errors() {
        let mut f = file();
        f.push(0);
        assert!(matches!(parse_file(&f), Err(Error::TrailingData)));

        let mut f = file();
        f[0] ^= 0x20;
        assert!(matches!(parse_file(&f), Err(Error::NotAVault)));
        assert!(matches!(parse_file(b"PK\x03"), Err(Error::NotAVault)));

        let mut f = file();
        f[8] = 2;
        assert!(matches!(parse_file(&f), Err(Error::UnsupportedVersion(2))));

        let mut f = file();
        f[10] = 2;
        assert!(matches!(parse_file(&f), Err(Error::Malformed(_))));

        let mut f = file();
        f[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_file(&f), Err(Error::KdfParamsOutOfBounds)));

        let mut f = file();
        f[111..115].copy_from_slice(&15u32.to_le_bytes());
        assert!(matches!(parse_file(&f), Err(Error::Malformed(_))));

        let mut f = file();
        f[111..115].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_file(&f), Err(Error::Malformed(_))));

        let mut f = file();
        f[111..115].copy_from_slice(&41u32.to_le_bytes());
        assert!(matches!(parse_file(&f), Err(Error::Truncated)));
    }
}
