//! The platform side of authenticatorClientPIN for the checks, in both PIN/UV
//! auth protocols (CTAP 2.1 §6.5.6 protocol 1, §6.5.7 protocol 2): key
//! agreement, encrypt / decrypt / authenticate, and the subcommands as raw
//! requests whose status the checks judge.

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use super::Session;
use crate::Error;
use crate::ctap2::cbor::{MapView, Value, as_bytes, decode_canonical, int};
use crate::ctap2::command;

/// clientPIN subcommands (§6.5.5).
pub mod sub {
    pub const GET_PIN_RETRIES: i64 = 0x01;
    pub const GET_KEY_AGREEMENT: i64 = 0x02;
    pub const SET_PIN: i64 = 0x03;
    pub const CHANGE_PIN: i64 = 0x04;
    pub const GET_PIN_TOKEN: i64 = 0x05;
    pub const GET_UV_RETRIES: i64 = 0x07;
    pub const GET_TOKEN_WITH_PERMISSIONS: i64 = 0x09;
}

/// pinUvAuthToken permissions (§6.5.5.7).
pub mod permission {
    pub const MAKE_CREDENTIAL: u64 = 0x01;
    pub const GET_ASSERTION: u64 = 0x02;
    pub const CREDENTIAL_MANAGEMENT: u64 = 0x04;
    pub const BIO_ENROLLMENT: u64 = 0x08;
    pub const LARGE_BLOB_WRITE: u64 = 0x10;
    pub const AUTHENTICATOR_CONFIG: u64 = 0x20;
}

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

/// A clientPIN request with `pairs`: the status and body.
pub fn client_pin(s: &mut Session, pairs: Vec<(i64, Value)>) -> Result<(u8, Vec<u8>), Error> {
    let map = Value::Map(pairs.into_iter().map(|(k, v)| (int(k), v)).collect());
    s.send(command::CLIENT_PIN, Some(&map))
}

/// The key's keyAgreement key (getKeyAgreement), as its COSE map.
pub fn authenticator_key(s: &mut Session, p: Protocol) -> Result<Value, Error> {
    let (status, body) = client_pin(
        s,
        vec![(1, int(p.number())), (2, int(sub::GET_KEY_AGREEMENT))],
    )?;
    if status != 0 {
        return Err(Error::Ctap(status));
    }
    let value = decode_canonical(&body)?;
    Ok(MapView::new(&value, "getKeyAgreement response")?
        .require_int(1)?
        .clone())
}

/// getKeyAgreement, then the platform half of ECDH (`encapsulate`): the
/// platform's COSE key and the shared secret.
pub fn key_agreement(s: &mut Session, p: Protocol) -> Result<(Value, Shared), Error> {
    let cose = authenticator_key(s, p)?;
    let m = MapView::new(&cose, "keyAgreement")?;
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

/// setPIN with `new_pin_plain` (already padded as the check wants); the status.
pub fn set_pin_raw(s: &mut Session, p: Protocol, new_pin_plain: &[u8]) -> Result<u8, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let enc = shared.encrypt(new_pin_plain)?;
    let param = shared.authenticate(&enc);
    Ok(client_pin(
        s,
        vec![
            (1, int(p.number())),
            (2, int(sub::SET_PIN)),
            (3, platform),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(enc)),
        ],
    )?
    .0)
}

/// setPIN with `pin` padded to 64 bytes; the status.
pub fn set_pin(s: &mut Session, p: Protocol, pin: &str) -> Result<u8, Error> {
    set_pin_raw(s, p, &padded(pin.as_bytes(), 64))
}

/// changePIN from `current` to `new`; the status.
pub fn change_pin(s: &mut Session, p: Protocol, current: &str, new: &str) -> Result<u8, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let new_enc = shared.encrypt(&padded(new.as_bytes(), 64))?;
    let hash_enc = shared.encrypt(&pin_hash(current))?;
    let param = shared.authenticate(&[new_enc.as_slice(), &hash_enc].concat());
    Ok(client_pin(
        s,
        vec![
            (1, int(p.number())),
            (2, int(sub::CHANGE_PIN)),
            (3, platform),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(new_enc)),
            (6, Value::Bytes(hash_enc)),
        ],
    )?
    .0)
}

/// getPinToken (`None`) or getPinUvAuthTokenUsingPinWithPermissions
/// (`Some((permissions, rp id))`) with `pin`: the decrypted token, or the
/// status.
pub fn pin_token(
    s: &mut Session,
    p: Protocol,
    pin: &str,
    permissions: Option<(u64, Option<&str>)>,
) -> Result<Result<Vec<u8>, u8>, Error> {
    let (platform, shared) = key_agreement(s, p)?;
    let hash_enc = shared.encrypt(&pin_hash(pin))?;
    let mut pairs = vec![
        (1, int(p.number())),
        (
            2,
            int(if permissions.is_some() {
                sub::GET_TOKEN_WITH_PERMISSIONS
            } else {
                sub::GET_PIN_TOKEN
            }),
        ),
        (3, platform),
        (6, Value::Bytes(hash_enc)),
    ];
    if let Some((perms, rp)) = permissions {
        pairs.push((9, Value::Integer(perms.into())));
        if let Some(rp) = rp {
            pairs.push((10, crate::ctap2::cbor::text(rp)));
        }
    }
    let (status, body) = client_pin(s, pairs)?;
    if status != 0 {
        return Ok(Err(status));
    }
    let value = decode_canonical(&body)?;
    let enc = as_bytes(
        MapView::new(&value, "token response")?.require_int(2)?,
        "pinUvAuthToken",
    )?;
    Ok(Ok(shared.decrypt(enc)?))
}

/// getPINRetries: pinRetries, or the status.
pub fn pin_retries(s: &mut Session, p: Protocol) -> Result<Result<u64, u8>, Error> {
    let (status, body) = client_pin(
        s,
        vec![(1, int(p.number())), (2, int(sub::GET_PIN_RETRIES))],
    )?;
    if status != 0 {
        return Ok(Err(status));
    }
    let value = decode_canonical(&body)?;
    Ok(Ok(crate::ctap2::cbor::as_uint(
        MapView::new(&value, "getPINRetries response")?.require_int(3)?,
        "pinRetries",
    )?))
}
