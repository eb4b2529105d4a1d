//! The encrypted backup envelope: a passphrase-sealed blob for exports (FORMAT.md "Backup
//! envelope").
//!
//! Independent of any vault: its own magic `SKBACKUP`, its own random salt and Argon2id
//! parameters (bounded on open exactly like the vault's), and one AES-256-GCM body whose
//! associated data is the whole envelope header, so no header byte can change unnoticed. The
//! Argon2id output is the AES key directly: the envelope is written once, never re-keyed.

use zeroize::Zeroizing;

use crate::Error;
use crate::header::{NONCE_LEN, Reader, TAG_LEN, read_kdf};
use crate::kdf::{self, KdfParams, SALT_LEN};
use crate::seal;

/// First eight bytes of every backup envelope.
pub const MAGIC: [u8; 8] = *b"SKBACKUP";
/// The envelope version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Header bytes (magic through body length): the associated data of the body.
const HEADER_LEN: usize = 8 + 2 + 1 + 4 + 4 + 4 + SALT_LEN + NONCE_LEN + 4;
/// Largest body (ciphertext + tag): 1 GiB.
const MAX_BODY_LEN: usize = 1024 * 1024 * 1024;

/// Seals `plaintext` under `passphrase` with fresh salt and nonce; runs Argon2id once.
pub fn seal(plaintext: &[u8], passphrase: &[u8], params: KdfParams) -> Result<Vec<u8>, Error> {
    params.validate()?;
    let body_len = plaintext
        .len()
        .checked_add(TAG_LEN)
        .filter(|l| *l <= MAX_BODY_LEN)
        .and_then(|l| u32::try_from(l).ok())
        .ok_or_else(|| crate::frame::too_large("a backup is limited to 1 GiB"))?;
    let salt: [u8; SALT_LEN] = seal::random()?;
    let key = kdf::derive_kek(passphrase, &salt, params)?;
    let nonce: [u8; NONCE_LEN] = seal::random()?;
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(crate::KDF_ARGON2ID);
    out.extend_from_slice(&params.memory_kib.to_le_bytes());
    out.extend_from_slice(&params.iterations.to_le_bytes());
    out.extend_from_slice(&params.parallelism.to_le_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body_len.to_le_bytes());
    debug_assert_eq!(out.len(), HEADER_LEN);
    let mut body = Zeroizing::new(Vec::with_capacity(plaintext.len()));
    body.extend_from_slice(plaintext);
    let tag = seal::seal_with_nonce(&seal::cipher(&key), &nonce, &out, &mut body)?;
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The Argon2id cost an envelope asks for, read from its header without
/// running anything: a caller shows it, and may refuse it, before [`open`]
/// spends it. The same errors as [`open`] for the header.
pub fn kdf_params(bytes: &[u8]) -> Result<KdfParams, Error> {
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_seen.len()) != Some(magic_seen) {
        return Err(Error::NotABackup);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len())?;
    let version = u16::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    Ok(read_kdf(&mut r)?.0)
}

/// Opens an envelope. Bad magic → [`Error::NotABackup`]; other version →
/// [`Error::UnsupportedVersion`]; KDF parameters out of bounds → [`Error::KdfParamsOutOfBounds`]
/// (before the KDF runs); too short → [`Error::Truncated`]; bytes after the body →
/// [`Error::TrailingData`]; wrong passphrase or any altered byte →
/// [`Error::WrongPassphraseOrCorrupt`].
pub fn open(bytes: &[u8], passphrase: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_seen.len()) != Some(magic_seen) {
        return Err(Error::NotABackup);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len())?;
    let version = u16::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    let (params, salt) = read_kdf(&mut r)?;
    let nonce: [u8; NONCE_LEN] = r.array()?;
    let body_len = usize::try_from(u32::from_le_bytes(r.array()?)).unwrap_or(usize::MAX);
    if !(TAG_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return Err(Error::Malformed("backup body length out of range"));
    }
    let body = r.take(body_len)?;
    if !r.rest().is_empty() {
        return Err(Error::TrailingData);
    }
    let aad = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    let key = kdf::derive_kek(passphrase, &salt, params)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain_len = seal::open_in_place(&key, &nonce, aad, &mut buf)?.len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    };

    fn sealed() -> Vec<u8> {
        seal(b"credentials in CXF", b"backup pass", FAST).unwrap()
    }

    #[test]
    fn kdf_params_are_read_without_running_the_kdf() {
        assert_eq!(kdf_params(&sealed()).unwrap(), FAST);
        // A hostile header: 4 GiB × 64 passes is within the open bounds,
        // and is reported in microseconds, not run.
        let mut hostile = sealed();
        hostile[11..15].copy_from_slice(&(4 * 1024 * 1024u32).to_le_bytes());
        hostile[15..19].copy_from_slice(&64u32.to_le_bytes());
        let started = std::time::Instant::now();
        let p = kdf_params(&hostile).unwrap();
        assert_eq!((p.memory_kib, p.iterations), (4 * 1024 * 1024, 64));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        hostile[11..15].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(
            kdf_params(&hostile),
            Err(Error::KdfParamsOutOfBounds)
        ));
        assert!(matches!(kdf_params(b"SKVAULT!"), Err(Error::NotABackup)));
        assert!(matches!(kdf_params(b"SKBA"), Err(Error::Truncated)));
    }

    #[test]
    fn round_trip_layout_and_fresh_randomness() {
        let a = sealed();
        assert_eq!(a.len(), HEADER_LEN + 18 + TAG_LEN);
        assert_eq!(HEADER_LEN, 55);
        assert_eq!(&a[..8], b"SKBACKUP");
        assert_eq!(&a[8..10], &[1, 0]);
        assert_eq!(a[10], 1);
        assert_eq!(&a[11..15], &8192u32.to_le_bytes());
        assert_eq!(&a[51..55], &(18u32 + 16).to_le_bytes());
        assert_eq!(&*open(&a, b"backup pass").unwrap(), b"credentials in CXF");
        let b = sealed();
        assert_ne!(a[23..51], b[23..51], "fresh salt and nonce");
        let empty = seal(b"", b"p", FAST).unwrap();
        assert!(open(&empty, b"p").unwrap().is_empty());
    }

    #[test]
    fn distinct_errors() {
        let good = sealed();
        let open_ = |b: &[u8]| open(b, b"backup pass");
        assert!(matches!(
            open(&good, b"wrong"),
            Err(Error::WrongPassphraseOrCorrupt)
        ));
        assert!(matches!(
            open_(b"SKVAULT\0 is a vault"),
            Err(Error::NotABackup)
        ));
        assert!(matches!(open_(b"PK"), Err(Error::NotABackup)));
        for len in 0..good.len() {
            assert!(
                matches!(open_(&good[..len]), Err(Error::Truncated)),
                "{len}"
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(matches!(open_(&long), Err(Error::TrailingData)));
        let mut v = good.clone();
        v[8] = 2;
        assert!(matches!(open_(&v), Err(Error::UnsupportedVersion(2))));
        let mut k = good.clone();
        k[11..15].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(open_(&k), Err(Error::KdfParamsOutOfBounds)));
        let mut l = good.clone();
        l[51..55].copy_from_slice(&3u32.to_le_bytes());
        assert!(matches!(open_(&l), Err(Error::Malformed(_))));
        // Every other byte is authenticated: salt, nonce, body, tag, in-bounds params.
        for i in (15..51).chain(55..good.len()) {
            let mut t = good.clone();
            t[i] ^= 0x01;
            let r = open_(&t);
            assert!(
                matches!(
                    r,
                    Err(Error::WrongPassphraseOrCorrupt | Error::KdfParamsOutOfBounds)
                ),
                "byte {i}: {r:?}"
            );
        }
        assert!(matches!(
            seal(
                b"x",
                b"p",
                KdfParams {
                    memory_kib: 1,
                    ..FAST
                }
            ),
            Err(Error::KdfParamsOutOfBounds)
        ));
    }
}
