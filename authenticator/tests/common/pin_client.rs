//! The platform side of PIN/UV auth protocols 1 and 2 (CTAP 2.1 §6.5.6,
//! §6.5.7) for the scenario tests: key agreement with the authenticator,
//! setPIN, getPinUvAuthTokenUsingPinWithPermissions, and pinUvAuthParams
//! for the commands a token authorises (credential management,
//! authenticatorConfig, largeBlobs).
//!
//! Written from the spec for the tests, independent of the authenticator's
//! own implementation, so the two check each other.
#![allow(dead_code)]

use aes::Aes256;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};
use softkey_authenticator::cbor::{self, Value};

use super::Harness;

pub const CLIENT_PIN: u8 = 0x06;
pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
pub const LARGE_BLOBS: u8 = 0x0C;
pub const CONFIG: u8 = 0x0D;

/// §6.5.5.7 permission bits.
pub const PERM_MC: u64 = 0x01;
pub const PERM_GA: u64 = 0x02;
pub const PERM_CM: u64 = 0x04;
pub const PERM_LBW: u64 = 0x10;
pub const PERM_ACFG: u64 = 0x20;

/// Sends `command || encode(params)`: `Ok(None)` for a bare CTAP2_OK,
/// `Ok(Some(body))` (proven canonical) for a response with a body,
/// `Err(status)` otherwise.
pub fn send(h: &mut Harness, command: u8, params: &Value) -> Result<Option<Value>, u8> {
    let mut request = vec![command];
    request.extend_from_slice(&cbor::encode(params));
    let out = h.raw(&request);
    match out.split_first() {
        Some((0, [])) => Ok(None),
        Some((0, body)) => Ok(Some(super::canonical(body))),
        Some((&status, [])) => Err(status),
        other => panic!("malformed response {other:?}"),
    }
}

/// A shared secret with the authenticator for one protocol.
pub struct PinClient {
    pub protocol: u64,
    /// Protocol 1: SHA-256(Z). Protocol 2: HMAC key (32) || AES key (32).
    shared: Vec<u8>,
    platform_cose: Value,
}

/// A pinUvAuthToken as the platform holds it.
#[derive(Clone)]
pub struct Token {
    pub protocol: u64,
    pub key: Vec<u8>,
}

impl Token {
    /// `authenticate(pinUvAuthToken, message)`.
    pub fn auth(&self, message: &[u8]) -> Vec<u8> {
        authenticate(self.protocol, &self.key, message)
    }
}

/// §6.5.6 / §6.5.7 `authenticate(key, message)`: HMAC-SHA-256, truncated
/// to 16 bytes for protocol 1.
pub fn authenticate(protocol: u64, key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    let full = mac.finalize().into_bytes().to_vec();
    if protocol == 1 {
        full[..16].to_vec()
    } else {
        full
    }
}

fn hkdf(z: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&[0u8; 32]), z)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn cbc(key: &[u8], iv: &[u8], data: &mut [u8], encrypt: bool) {
    assert_eq!(data.len() % 16, 0);
    if encrypt {
        let mut mode = cbc::Encryptor::<Aes256>::new_from_slices(key, iv).unwrap();
        for block in data.chunks_exact_mut(16) {
            mode.encrypt_block(block.try_into().unwrap());
        }
    } else {
        let mut mode = cbc::Decryptor::<Aes256>::new_from_slices(key, iv).unwrap();
        for block in data.chunks_exact_mut(16) {
            mode.decrypt_block(block.try_into().unwrap());
        }
    }
}

impl PinClient {
    /// getKeyAgreement, then ECDH with a fixed platform key (`seed`).
    pub fn new(h: &mut Harness, protocol: u64) -> Self {
        Self::with_seed(h, protocol, 0x42)
    }

    pub fn with_seed(h: &mut Harness, protocol: u64, seed: u8) -> Self {
        let response = h
            .call(
                CLIENT_PIN,
                &Value::int_map(vec![
                    (1, Value::Unsigned(protocol)),
                    (2, Value::Unsigned(2)),
                ]),
            )
            .expect("getKeyAgreement");
        let cose = response.get(&Value::Unsigned(1)).expect("keyAgreement");
        let coord = |label: i64| match cose.get(&Value::int(label)) {
            Some(Value::Bytes(b)) => b.clone(),
            other => panic!("COSE {label}: {other:?}"),
        };
        let sec1 = [&[0x04][..], &coord(-2), &coord(-3)].concat();
        let peer = PublicKey::from_sec1_bytes(&sec1).unwrap();
        let mine = SecretKey::from_slice(&[seed; 32]).unwrap();
        let z = p256::ecdh::diffie_hellman(mine.to_nonzero_scalar(), peer.as_affine());
        let z = z.raw_secret_bytes().to_vec();
        let shared = if protocol == 1 {
            Sha256::digest(&z).to_vec()
        } else {
            [hkdf(&z, b"CTAP2 HMAC key"), hkdf(&z, b"CTAP2 AES key")].concat()
        };
        let point = mine.public_key().to_sec1_point(false);
        let platform_cose = Value::Map(vec![
            (Value::int(1), Value::int(2)),
            (Value::int(3), Value::int(-25)),
            (Value::int(-1), Value::int(1)),
            (Value::int(-2), Value::bytes(point.x().unwrap())),
            (Value::int(-3), Value::bytes(point.y().unwrap())),
        ]);
        PinClient {
            protocol,
            shared,
            platform_cose,
        }
    }

    fn hmac_key(&self) -> &[u8] {
        if self.protocol == 1 {
            &self.shared
        } else {
            &self.shared[..32]
        }
    }

    fn aes_key(&self) -> &[u8] {
        if self.protocol == 1 {
            &self.shared
        } else {
            &self.shared[32..]
        }
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut body = plaintext.to_vec();
        if self.protocol == 1 {
            cbc(self.aes_key(), &[0; 16], &mut body, true);
            body
        } else {
            let iv = [0x5A; 16];
            cbc(self.aes_key(), &iv, &mut body, true);
            [&iv[..], &body].concat()
        }
    }

    pub fn decrypt(&self, ciphertext: &[u8]) -> Vec<u8> {
        if self.protocol == 1 {
            let mut body = ciphertext.to_vec();
            cbc(self.aes_key(), &[0; 16], &mut body, false);
            body
        } else {
            let (iv, rest) = ciphertext.split_at(16);
            let mut body = rest.to_vec();
            cbc(self.aes_key(), iv, &mut body, false);
            body
        }
    }

    fn pin_request(&self, sub: u64, mut pairs: Vec<(u64, Value)>) -> Value {
        pairs.push((1, Value::Unsigned(self.protocol)));
        pairs.push((2, Value::Unsigned(sub)));
        pairs.push((3, self.platform_cose.clone()));
        Value::int_map(pairs)
    }

    /// setPIN (§6.5.5.5).
    pub fn set_pin(&self, h: &mut Harness, pin: &str) -> Result<(), u8> {
        let mut padded = pin.as_bytes().to_vec();
        padded.resize(64, 0);
        let new_pin_enc = self.encrypt(&padded);
        let param = authenticate(self.protocol, self.hmac_key(), &new_pin_enc);
        send(
            h,
            CLIENT_PIN,
            &self.pin_request(
                3,
                vec![(4, Value::Bytes(param)), (5, Value::Bytes(new_pin_enc))],
            ),
        )
        .map(|_| ())
    }

    /// changePIN (§6.5.5.6).
    pub fn change_pin(&self, h: &mut Harness, old: &str, new: &str) -> Result<(), u8> {
        let mut padded = new.as_bytes().to_vec();
        padded.resize(64, 0);
        let new_pin_enc = self.encrypt(&padded);
        let pin_hash_enc = self.encrypt(&Sha256::digest(old.as_bytes())[..16]);
        let param = authenticate(
            self.protocol,
            self.hmac_key(),
            &[new_pin_enc.as_slice(), &pin_hash_enc].concat(),
        );
        send(
            h,
            CLIENT_PIN,
            &self.pin_request(
                4,
                vec![
                    (4, Value::Bytes(param)),
                    (5, Value::Bytes(new_pin_enc)),
                    (6, Value::Bytes(pin_hash_enc)),
                ],
            ),
        )
        .map(|_| ())
    }

    /// getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2).
    pub fn token(
        &self,
        h: &mut Harness,
        pin: &str,
        permissions: u64,
        rp_id: Option<&str>,
    ) -> Result<Token, u8> {
        let pin_hash_enc = self.encrypt(&Sha256::digest(pin.as_bytes())[..16]);
        let mut pairs = vec![
            (6, Value::Bytes(pin_hash_enc)),
            (9, Value::Unsigned(permissions)),
        ];
        if let Some(rp) = rp_id {
            pairs.push((0x0A, Value::text(rp)));
        }
        let response = h.call(CLIENT_PIN, &self.pin_request(9, pairs))?;
        let Some(Value::Bytes(enc)) = response.get(&Value::Unsigned(2)) else {
            panic!("no pinUvAuthToken in {response:?}");
        };
        Ok(Token {
            protocol: self.protocol,
            key: self.decrypt(enc),
        })
    }
}

/// A fresh PIN, and a token with `permissions` for it (protocol `protocol`).
pub fn pin_and_token(h: &mut Harness, protocol: u64, pin: &str, permissions: u64) -> Token {
    let client = PinClient::new(h, protocol);
    client.set_pin(h, pin).expect("setPIN");
    client.token(h, pin, permissions, None).expect("token")
}

/// A credentialManagement request (§6.8): the pinUvAuthParam is computed
/// over `subCommand || encode(params)`, the bytes the request carries.
pub fn cm_request(token: Option<&Token>, sub_command: u8, params: Option<&Value>) -> Value {
    let mut pairs = vec![(1, Value::Unsigned(u64::from(sub_command)))];
    let mut message = vec![sub_command];
    if let Some(p) = params {
        message.extend_from_slice(&cbor::encode(p));
        pairs.push((2, p.clone()));
    }
    if let Some(t) = token {
        pairs.push((3, Value::Unsigned(t.protocol)));
        pairs.push((4, Value::Bytes(t.auth(&message))));
    }
    Value::int_map(pairs)
}

/// An authenticatorConfig request (§6.11): pinUvAuthParam over
/// `32×0xff || 0x0d || subCommand || encode(params)`.
pub fn config_request(token: Option<&Token>, sub_command: u8, params: Option<&Value>) -> Value {
    let mut pairs = vec![(1, Value::Unsigned(u64::from(sub_command)))];
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0D, sub_command]);
    if let Some(p) = params {
        message.extend_from_slice(&cbor::encode(p));
        pairs.push((2, p.clone()));
    }
    if let Some(t) = token {
        pairs.push((3, Value::Unsigned(t.protocol)));
        pairs.push((4, Value::Bytes(t.auth(&message))));
    }
    Value::int_map(pairs)
}

/// A largeBlobs set fragment (§6.10): pinUvAuthParam over
/// `32×0xff || h'0c00' || uint32LE(offset) || SHA-256(set)`.
pub fn blob_set_request(
    token: Option<&Token>,
    offset: u64,
    set: &[u8],
    length: Option<u64>,
) -> Value {
    let mut pairs = vec![(2, Value::bytes(set)), (3, Value::Unsigned(offset))];
    if let Some(l) = length {
        pairs.push((4, Value::Unsigned(l)));
    }
    if let Some(t) = token {
        let mut message = vec![0xFF; 32];
        message.extend_from_slice(&[0x0C, 0x00]);
        message.extend_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
        message.extend_from_slice(&Sha256::digest(set));
        pairs.push((5, Value::Bytes(t.auth(&message))));
        pairs.push((6, Value::Unsigned(t.protocol)));
    }
    Value::int_map(pairs)
}

/// A serialized large-blob array with its integrity trailer (§6.10.1).
pub fn blob_array(cbor_array: &[u8]) -> Vec<u8> {
    let mut out = cbor_array.to_vec();
    out.extend_from_slice(&Sha256::digest(cbor_array)[..16]);
    out
}
