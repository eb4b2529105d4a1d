//! The platform side of authenticatorClientPIN with PIN/UV auth protocol 2
//! (CTAP 2.1 §6.5.5, §6.5.7): key agreement, setPIN, getPINRetries and
//! getPinToken, enough to set a PIN and to try one (right or wrong) over
//! the wire as a real platform does.

use aes::Aes256;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use ciborium::Value;
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use super::cbor::{self, MapView, as_bytes, as_uint, int};
use super::{Ctap2, command};
use crate::Error;
use crate::ctaphid::HidDevice;

/// PIN/UV auth protocol 2 (§6.5.7).
const PROTOCOL: i64 = 2;

mod sub {
    pub const GET_PIN_RETRIES: i64 = 0x01;
    pub const GET_KEY_AGREEMENT: i64 = 0x02;
    pub const SET_PIN: i64 = 0x03;
    pub const GET_PIN_TOKEN: i64 = 0x05;
}

/// Protocol 2's shared secret: HMAC key then AES key (§6.5.7 `kdf`).
struct SharedSecret {
    hmac_key: [u8; 32],
    aes_key: [u8; 32],
}

impl SharedSecret {
    /// `encrypt`: a random IV, then AES-256-CBC of whole blocks.
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut iv = [0u8; 16];
        getrandom::fill(&mut iv).map_err(|e| Error::Usage(format!("no randomness: {e}")))?;
        let mut mode = cbc::Encryptor::<Aes256>::new_from_slices(&self.aes_key, &iv)
            .map_err(|_| Error::Usage("AES key or IV length".into()))?;
        let mut body = plaintext.to_vec();
        if !body.len().is_multiple_of(16) {
            return Err(Error::Usage("plaintext is not whole AES blocks".into()));
        }
        for chunk in body.chunks_exact_mut(16) {
            let block = chunk
                .try_into()
                .map_err(|_| Error::Usage("AES block".into()))?;
            mode.encrypt_block(block);
        }
        Ok([iv.as_slice(), &body].concat())
    }

    /// `authenticate`: HMAC-SHA-256 over the message, 32 bytes.
    fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        // HMAC takes keys of any length: this never fails.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.hmac_key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

impl<D: HidDevice> Ctap2<D> {
    /// getPINRetries (§6.5.5.2): the retries left.
    pub fn pin_retries(&mut self) -> Result<u64, Error> {
        let body = self.client_pin(vec![(1, int(PROTOCOL)), (2, int(sub::GET_PIN_RETRIES))])?;
        let value = cbor::decode_canonical(&body)?;
        as_uint(
            MapView::new(&value, "getPINRetries response")?.require_int(3)?,
            "pinRetries",
        )
    }

    /// setPIN (§6.5.5.5).
    pub fn set_pin(&mut self, pin: &str) -> Result<(), Error> {
        let (platform_key, shared) = self.key_agreement()?;
        let mut padded = [0u8; 64];
        padded
            .get_mut(..pin.len())
            .ok_or_else(|| Error::Usage("a PIN is at most 63 bytes".into()))?
            .copy_from_slice(pin.as_bytes());
        let new_pin_enc = shared.encrypt(&padded)?;
        let param = shared.authenticate(&new_pin_enc);
        self.client_pin(vec![
            (1, int(PROTOCOL)),
            (2, int(sub::SET_PIN)),
            (3, platform_key),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(new_pin_enc)),
        ])
        .map(|_| ())
    }

    /// getPinToken (§6.5.5.7.1) with `pin`: `Ok` if the key took it (the
    /// token itself is not needed here), the CTAP error otherwise.
    pub fn try_pin(&mut self, pin: &str) -> Result<(), Error> {
        let (platform_key, shared) = self.key_agreement()?;
        let hash = Sha256::digest(pin.as_bytes());
        let pin_hash_enc = shared.encrypt(hash.get(..16).unwrap_or_default())?;
        self.client_pin(vec![
            (1, int(PROTOCOL)),
            (2, int(sub::GET_PIN_TOKEN)),
            (3, platform_key),
            (6, Value::Bytes(pin_hash_enc)),
        ])
        .map(|_| ())
    }

    fn client_pin(&mut self, pairs: Vec<(i64, Value)>) -> Result<Vec<u8>, Error> {
        let map = Value::Map(pairs.into_iter().map(|(k, v)| (int(k), v)).collect());
        self.command(command::CLIENT_PIN, &cbor::encode(&map))
    }

    /// getKeyAgreement, then the platform half of ECDH: the platform's
    /// COSE key and the shared secret (§6.5.7 `encapsulate`).
    fn key_agreement(&mut self) -> Result<(Value, SharedSecret), Error> {
        let body = self.client_pin(vec![(1, int(PROTOCOL)), (2, int(sub::GET_KEY_AGREEMENT))])?;
        let value = cbor::decode_canonical(&body)?;
        let response = MapView::new(&value, "getKeyAgreement response")?;
        let cose = MapView::new(response.require_int(1)?, "keyAgreement")?;
        let x = as_bytes(cose.require_int(-2)?, "keyAgreement x")?;
        let y = as_bytes(cose.require_int(-3)?, "keyAgreement y")?;
        let sec1 = [&[0x04][..], x, y].concat();
        let peer = PublicKey::from_sec1_bytes(&sec1)
            .map_err(|_| Error::cbor("keyAgreement is not a P-256 point"))?;
        let secret = loop {
            let mut scalar = [0u8; 32];
            getrandom::fill(&mut scalar)
                .map_err(|e| Error::Usage(format!("no randomness: {e}")))?;
            if let Ok(s) = SecretKey::from_slice(&scalar) {
                break s;
            }
        };
        let z = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
        let kdf = hkdf::Hkdf::<Sha256>::new(Some(&[0u8; 32]), z.raw_secret_bytes());
        let mut shared = SharedSecret {
            hmac_key: [0; 32],
            aes_key: [0; 32],
        };
        kdf.expand(b"CTAP2 HMAC key", &mut shared.hmac_key)
            .and_then(|()| kdf.expand(b"CTAP2 AES key", &mut shared.aes_key))
            .map_err(|_| Error::Usage("HKDF output length".into()))?;
        let ours = secret.public_key().to_sec1_point(false);
        let (Some(x), Some(y)) = (ours.x(), ours.y()) else {
            return Err(Error::Usage("our public key has no coordinates".into()));
        };
        let platform_key = Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-25)),
            (int(-1), int(1)),
            (int(-2), Value::Bytes(x.to_vec())),
            (int(-3), Value::Bytes(y.to_vec())),
        ]);
        Ok((platform_key, shared))
    }
}
