//! The platform's side of the PIN/UV auth protocols (CTAP 2.1 §6.5.6
//! protocol 1, §6.5.7 protocol 2): ECDH with the key's keyAgreement key
//! (`encapsulate`), and encrypt / decrypt / authenticate under the shared
//! secret. The clientPIN client and the conformance catalog both use it.

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use super::cbor::{MapView, Value, as_bytes, int};
use crate::Error;

/// A PIN/UV auth protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    One,
    Two,
}

impl Protocol {
    pub fn number(self) -> i64 {
        match self {
            Protocol::One => 1,
            Protocol::Two => 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::One => "p1",
            Protocol::Two => "p2",
        }
    }

    /// §6.5.6 / §6.5.7 `authenticate(key, message)`.
    pub fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(message);
        let full = mac.finalize().into_bytes().to_vec();
        match self {
            Protocol::One => full.get(..16).unwrap_or_default().to_vec(),
            Protocol::Two => full,
        }
    }
}

/// The shared secret of one key agreement.
pub struct Shared {
    protocol: Protocol,
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// `encrypt`: AES-256-CBC of whole blocks; protocol 1 with a zero IV,
    /// protocol 2 with a random IV in front.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        if !plaintext.len().is_multiple_of(16) {
            return Err(Error::Usage("plaintext is not whole AES blocks".into()));
        }
        let mut iv = [0u8; 16];
        if self.protocol == Protocol::Two {
            crate::bytes::random_bytes(&mut iv)?;
        }
        let mut mode = cbc::Encryptor::<Aes256>::new_from_slices(&self.aes_key, &iv)
            .map_err(|_| Error::Usage("AES key or IV length".into()))?;
        let mut body = plaintext.to_vec();
        for chunk in body.chunks_exact_mut(16) {
            let block = chunk
                .try_into()
                .map_err(|_| Error::Usage("AES block".into()))?;
            mode.encrypt_block(block);
        }
        Ok(match self.protocol {
            Protocol::One => body,
            Protocol::Two => [iv.as_slice(), &body].concat(),
        })
    }

    /// `decrypt`, the inverse.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        let (iv, body) = match self.protocol {
            Protocol::One => ([0u8; 16], ciphertext),
            Protocol::Two => {
                let (iv, body) = ciphertext
                    .split_at_checked(16)
                    .ok_or_else(|| Error::cbor("a protocol 2 ciphertext shorter than its IV"))?;
                (iv.try_into().map_err(|_| Error::cbor("IV"))?, body)
            }
        };
        if !body.len().is_multiple_of(16) {
            return Err(Error::cbor("a ciphertext that is not whole AES blocks"));
        }
        let mut mode = cbc::Decryptor::<Aes256>::new_from_slices(&self.aes_key, &iv)
            .map_err(|_| Error::Usage("AES key or IV length".into()))?;
        let mut out = body.to_vec();
        for chunk in out.chunks_exact_mut(16) {
            let block = chunk
                .try_into()
                .map_err(|_| Error::Usage("AES block".into()))?;
            mode.decrypt_block(block);
        }
        Ok(out)
    }

    pub fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.hmac_key, message)
    }
}

/// `encapsulate(peerCoseKey)`: the platform's half of ECDH with the key's
/// keyAgreement COSE key `peer`; the platform's COSE key and the shared
/// secret.
pub fn encapsulate(peer: &Value, p: Protocol) -> Result<(Value, Shared), Error> {
    let m = MapView::new(peer, "keyAgreement")?;
    let x = as_bytes(m.require_int(-2)?, "keyAgreement x")?;
    let y = as_bytes(m.require_int(-3)?, "keyAgreement y")?;
    let peer = PublicKey::from_sec1_bytes(&[&[0x04][..], x, y].concat())
        .map_err(|_| Error::cbor("keyAgreement is not a P-256 point"))?;
    let secret = loop {
        let mut scalar = [0u8; 32];
        crate::bytes::random_bytes(&mut scalar)?;
        if let Ok(s) = SecretKey::from_slice(&scalar) {
            break s;
        }
    };
    let z = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    let mut shared = Shared {
        protocol: p,
        hmac_key: [0; 32],
        aes_key: [0; 32],
    };
    match p {
        Protocol::One => {
            let k: [u8; 32] = Sha256::digest(z.raw_secret_bytes()).into();
            shared.hmac_key = k;
            shared.aes_key = k;
        }
        Protocol::Two => {
            let kdf = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
            kdf.expand(b"CTAP2 HMAC key", &mut shared.hmac_key)
                .and_then(|()| kdf.expand(b"CTAP2 AES key", &mut shared.aes_key))
                .map_err(|_| Error::Usage("HKDF output length".into()))?;
        }
    }
    let ours = secret.public_key().to_sec1_point(false);
    let (Some(x), Some(y)) = (ours.x(), ours.y()) else {
        return Err(Error::Usage("our public key has no coordinates".into()));
    };
    let platform = Value::Map(vec![
        (int(1), int(2)),
        (int(3), int(-25)),
        (int(-1), int(1)),
        (int(-2), Value::Bytes(x.to_vec())),
        (int(-3), Value::Bytes(y.to_vec())),
    ]);
    Ok((platform, shared))
}

/// `pin` padded with zeros to 64 bytes (§6.5.5.5), or to `len`.
pub fn padded(pin: &[u8], len: usize) -> Vec<u8> {
    let mut out = pin.to_vec();
    out.resize(len.max(pin.len()), 0);
    out
}

/// LEFT(SHA-256(pin), 16).
pub fn pin_hash(pin: &str) -> Vec<u8> {
    Sha256::digest(pin.as_bytes())
        .get(..16)
        .unwrap_or_default()
        .to_vec()
}
