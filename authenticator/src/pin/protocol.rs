//! PIN/UV auth protocols 1 and 2 as the authenticator runs them (CTAP 2.1
//! §6.5.4 "PIN/UV Auth Protocol Abstract Definition"): the key agreement
//! key, `getPublicKey`, `decapsulate` (ECDH P-256 + the protocol's KDF) and
//! the shared secret's `encrypt` / `decrypt` / `verify`. The per-protocol
//! primitives are in [`super::protocol1`] and [`super::protocol2`].

use core::fmt;

use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use zeroize::Zeroizing;

use super::{protocol1, protocol2};
use crate::cbor::Value;
use crate::cbor::fields::{self, required};
use crate::env::Env;
use crate::status::CtapError;

/// COSE key type EC2 (RFC 9053 §7.1).
const KTY_EC2: i64 = 2;
/// COSE algorithm "ECDH-ES + HKDF-256", which CTAP 2.1 §6.5.6 names for
/// the keyAgreement key whatever the protocol's actual KDF.
const ALG_ECDH_ES_HKDF_256: i64 = -25;
/// COSE curve P-256.
const CRV_P256: i64 = 1;
/// A stuck RNG must fail rather than loop forever.
const MAX_KEYGEN_ATTEMPTS: usize = 64;

/// A supported pinUvAuthProtocol (CTAP 2.1 §6.5.6, §6.5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinProtocol {
    One,
    Two,
}

impl PinProtocol {
    /// The protocol a request names; unsupported numbers are
    /// CTAP1_ERR_INVALID_PARAMETER (§6.5.5.1 "If the pinUvAuthProtocol is
    /// not supported").
    pub(crate) fn from_number(n: u64) -> Result<Self, CtapError> {
        match n {
            1 => Ok(PinProtocol::One),
            2 => Ok(PinProtocol::Two),
            _ => Err(CtapError::InvalidParameter),
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            PinProtocol::One => 0,
            PinProtocol::Two => 1,
        }
    }

    /// `authenticate(key, message)` with the protocol's MAC (§6.5.6: 16-byte
    /// truncated HMAC; §6.5.7: full 32-byte HMAC keyed by the first 32 bytes).
    /// The platform's side: tests only.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn authenticate(self, key: &[u8], message: &[u8]) -> Vec<u8> {
        match self {
            PinProtocol::One => protocol1::authenticate(key, message),
            PinProtocol::Two => protocol2::authenticate(key, message),
        }
    }

    /// `verify(key, message, signature)`, constant time.
    pub(crate) fn verify(self, key: &[u8], message: &[u8], signature: &[u8]) -> bool {
        match self {
            PinProtocol::One => protocol1::verify(key, message, signature),
            PinProtocol::Two => protocol2::verify(key, message, signature),
        }
    }
}

/// The authenticator's key agreement key pair for one protocol, generated
/// at power-up and again after each PIN mismatch (§6.5.5.7 step "regenerate").
pub(crate) struct KeyAgreementKey {
    secret: SecretKey,
}

impl fmt::Debug for KeyAgreementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyAgreementKey { .. }")
    }
}

impl KeyAgreementKey {
    pub(crate) fn generate<E: Env>(env: &mut E) -> Result<Self, CtapError> {
        for _ in 0..MAX_KEYGEN_ATTEMPTS {
            let mut scalar = Zeroizing::new([0u8; 32]);
            env.fill_random(scalar.as_mut_slice());
            if let Ok(secret) = SecretKey::from_slice(scalar.as_slice()) {
                return Ok(KeyAgreementKey { secret });
            }
        }
        Err(CtapError::Other)
    }

    /// `getPublicKey()`: `{1: 2, 3: -25, -1: 1, -2: x, -3: y}`.
    pub(crate) fn cose_public_key(&self) -> Result<Value, CtapError> {
        cose_key(&self.secret.public_key())
    }

    /// `decapsulate(peerCoseKey)`: ECDH with the platform's key, then the
    /// protocol's KDF. A key that does not parse or is not on the curve is
    /// CTAP1_ERR_INVALID_PARAMETER (§6.5.6 `ecdh` step 1).
    pub(crate) fn decapsulate(
        &self,
        protocol: PinProtocol,
        peer: &Value,
    ) -> Result<SharedSecret, CtapError> {
        let peer = parse_cose_key(peer)?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        let z: &[u8] = shared.raw_secret_bytes();
        Ok(SharedSecret::derive(protocol, z))
    }
}

/// A COSE_Key for an ECDH P-256 public key, as both sides send it.
pub(crate) fn cose_key(public: &PublicKey) -> Result<Value, CtapError> {
    let point = public.to_sec1_point(false);
    let x = point.x().ok_or(CtapError::Other)?;
    let y = point.y().ok_or(CtapError::Other)?;
    Ok(Value::Map(vec![
        (Value::int(1), Value::int(KTY_EC2)),
        (Value::int(3), Value::int(ALG_ECDH_ES_HKDF_256)),
        (Value::int(-1), Value::int(CRV_P256)),
        (Value::int(-2), Value::bytes(x)),
        (Value::int(-3), Value::bytes(y)),
    ]))
}

/// Parses a platform keyAgreement COSE_Key. Wrong CBOR types are
/// CBOR_UNEXPECTED_TYPE, absent members MISSING_PARAMETER, and a key that
/// is not an EC2 P-256 point on the curve INVALID_PARAMETER.
pub(crate) fn parse_cose_key(value: &Value) -> Result<PublicKey, CtapError> {
    let Value::Map(pairs) = value else {
        return Err(CtapError::CborUnexpectedType);
    };
    let member = |label: i64| {
        pairs
            .iter()
            .find(|(k, _)| k.as_i64() == Some(label))
            .map(|(_, v)| v)
    };
    let kty = fields::integer(required(member(1))?)?;
    let crv = fields::integer(required(member(-1))?)?;
    // The alg member is what getPublicKey sends; tolerate its absence but
    // not another algorithm.
    let alg = member(3).map(fields::integer).transpose()?;
    let x = fields::bytes(required(member(-2))?)?;
    let y = fields::bytes(required(member(-3))?)?;
    if kty != Some(KTY_EC2)
        || crv != Some(CRV_P256)
        || alg.is_some_and(|a| a != Some(ALG_ECDH_ES_HKDF_256))
        || x.len() != 32
        || y.len() != 32
    {
        return Err(CtapError::InvalidParameter);
    }
    let mut sec1 = [0u8; 65];
    let (tag, coords) = sec1.split_at_mut(1);
    tag.copy_from_slice(&[0x04]);
    let (sx, sy) = coords.split_at_mut(32);
    sx.copy_from_slice(x);
    sy.copy_from_slice(y);
    // Rejects points not on the curve (§6.5.6 `ecdh` step 1).
    PublicKey::from_sec1_bytes(sec1.as_slice()).map_err(|_| CtapError::InvalidParameter)
}

/// The shared secret of one decapsulation: 32 bytes for protocol 1, the
/// 64-byte HMAC key || AES key for protocol 2.
pub(crate) struct SharedSecret {
    protocol: PinProtocol,
    key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret")
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl SharedSecret {
    /// `kdf(Z)` of the protocol.
    pub(crate) fn derive(protocol: PinProtocol, z: &[u8]) -> Self {
        let key = match protocol {
            PinProtocol::One => protocol1::kdf(z),
            PinProtocol::Two => protocol2::kdf(z),
        };
        SharedSecret { protocol, key }
    }

    pub(crate) fn protocol(&self) -> PinProtocol {
        self.protocol
    }

    /// `encrypt(sharedSecret, plaintext)`; `plaintext` must be whole AES blocks.
    pub(crate) fn encrypt<E: Env>(
        &self,
        env: &mut E,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CtapError> {
        match self.protocol {
            PinProtocol::One => protocol1::encrypt(&self.key, plaintext),
            PinProtocol::Two => {
                let mut iv = [0u8; 16];
                env.fill_random(&mut iv);
                protocol2::encrypt(&self.key, &iv, plaintext)
            }
        }
    }

    /// `decrypt(sharedSecret, ciphertext)`; malformed lengths are errors.
    pub(crate) fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, CtapError> {
        match self.protocol {
            PinProtocol::One => protocol1::decrypt(&self.key, ciphertext),
            PinProtocol::Two => protocol2::decrypt(&self.key, ciphertext),
        }
    }

    /// `verify(sharedSecret, message, signature)`, constant time.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.protocol.verify(&self.key, message, signature)
    }

    /// `authenticate(sharedSecret, message)` (the platform's side; tests).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn authenticate(&self, message: &[u8]) -> Vec<u8> {
        self.protocol.authenticate(&self.key, message)
    }
}
