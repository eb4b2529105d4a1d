//! The primitives both PIN/UV auth protocols build on (CTAP 2.1 §6.5.6,
//! §6.5.7): HMAC-SHA-256, AES-256-CBC over whole blocks, and a
//! constant-time comparison. A leaf: the protocols import it, it imports
//! neither.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// HMAC-SHA-256 of `message` under `key`: the MAC of both protocols
/// (§6.5.6 truncates it, §6.5.7 keys it with the HMAC half).
pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(message);
    mac
}

/// Equality of two byte strings in time that depends only on their
/// lengths, which are public (PIN hashes, MACs).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// AES-256-CBC without padding over whole blocks (both protocols).
pub(crate) mod cbc_blocks {
    use aes::Aes256;
    use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};

    use crate::status::CtapError;

    pub(crate) const BLOCK: usize = 16;

    pub(crate) fn encrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CtapError> {
        if !data.len().is_multiple_of(BLOCK) {
            return Err(CtapError::InvalidLength);
        }
        let mut mode =
            cbc::Encryptor::<Aes256>::new_from_slices(key, iv).map_err(|_| CtapError::Other)?;
        for chunk in data.chunks_exact_mut(BLOCK) {
            let block = chunk.try_into().map_err(|_| CtapError::Other)?;
            mode.encrypt_block(block);
        }
        Ok(())
    }

    pub(crate) fn decrypt(key: &[u8], iv: &[u8], data: &mut [u8]) -> Result<(), CtapError> {
        if !data.len().is_multiple_of(BLOCK) {
            return Err(CtapError::InvalidLength);
        }
        let mut mode =
            cbc::Decryptor::<Aes256>::new_from_slices(key, iv).map_err(|_| CtapError::Other)?;
        for chunk in data.chunks_exact_mut(BLOCK) {
            let block = chunk.try_into().map_err(|_| CtapError::Other)?;
            mode.decrypt_block(block);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_compares_contents_and_lengths() {
        assert!(ct_eq(b"same", b"same"));
        assert!(!ct_eq(b"same", b"samf"));
        assert!(!ct_eq(b"same", b"sam"));
        assert!(ct_eq(b"", b""));
    }
}
