//! Credential public keys as COSE_Key (RFC 9053 §7.1, CTAP 2.1 §6.1.2 step 17): EC2
//! P-256 for ES256 (alg −7), P-384 for ES384 (−35), P-521 for ES512 (−36), secp256k1
//! for ES256K (−47, RFC 8812), OKP Ed25519 for EdDSA (−8), AKP for ML-DSA-44/65/87
//! (−48/−49/−50, draft-ietf-cose-dilithium), RSA for RS256 (−257, RFC 8812 §2) and PS256
//! (−37, RFC 8230 §2), and verification of the signatures made with
//! them (WebAuthn L2 §8.2: over authData || clientDataHash).

use ed25519_dalek::Verifier as _;
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams};

use super::cbor::{MapView, Value, as_bytes, as_int};
use crate::Error;

pub const COSE_ES256: i64 = -7;
pub const COSE_EDDSA: i64 = -8;

/// A credential public key the client can verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialPublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Es384(p384::ecdsa::VerifyingKey),
    Es512(p521::ecdsa::VerifyingKey),
    Es256K(k256::ecdsa::VerifyingKey),
    /// An RSA key with its COSE algorithm (RS256 or PS256).
    Rsa {
        alg: i64,
        key: rsa::PublicKey,
    },
    /// ML-DSA's encoded public key, with its COSE algorithm.
    MlDsa {
        alg: i64,
        public: Vec<u8>,
    },
}

/// The uncompressed SEC1 point of an EC2 COSE key whose coordinates are `len` bytes
/// each (RFC 9053 §7.1.1: the field's full length, leading zeros kept).
fn ec2_point(m: &MapView<'_>, len: usize) -> Result<Vec<u8>, Error> {
    m.only_int_keys(&[1, 3, -1, -2, -3])?;
    let mut sec1 = vec![0x04];
    for (label, name) in [(-2, "x"), (-3, "y")] {
        let coordinate = as_bytes(m.require_int(label)?, name)?;
        if coordinate.len() != len {
            return Err(Error::verify(format!("COSE key {name} is not {len} bytes")));
        }
        sec1.extend_from_slice(coordinate);
    }
    Ok(sec1)
}

impl CredentialPublicKey {
    /// Parses a COSE_Key, insisting on exactly the parameters of its algorithm.
    pub fn from_cose(v: &Value) -> Result<Self, Error> {
        let m = MapView::new(v, "COSE key")?;
        let kty = as_int(m.require_int(1)?, "kty")?;
        let alg = as_int(m.require_int(3)?, "alg")?;
        if kty == 7 {
            return Self::ml_dsa(&m, alg);
        }
        if kty == 3 {
            return Self::rsa(&m, alg);
        }
        let crv = as_int(m.require_int(-1)?, "crv")?;
        let not_a_point = |curve: &str| Error::verify(format!("COSE key is not a {curve} point"));
        let coordinate = |label: i64, name: &str| -> Result<[u8; 32], Error> {
            as_bytes(m.require_int(label)?, name)?
                .try_into()
                .map_err(|_| Error::verify(format!("COSE key {name} is not 32 bytes")))
        };
        match (kty, alg, crv) {
            (2, -7, 1) => p256::ecdsa::VerifyingKey::from_sec1_bytes(&ec2_point(&m, 32)?)
                .map(Self::Es256)
                .map_err(|_| not_a_point("P-256")),
            (1, -8, 6) => {
                m.only_int_keys(&[1, 3, -1, -2])?;
                ed25519_dalek::VerifyingKey::from_bytes(&coordinate(-2, "x")?)
                    .map(Self::Ed25519)
                    .map_err(|_| Error::verify("COSE key is not an Ed25519 point"))
            }
            (2, -35, 2) => p384::ecdsa::VerifyingKey::from_sec1_bytes(&ec2_point(&m, 48)?)
                .map(Self::Es384)
                .map_err(|_| not_a_point("P-384")),
            (2, -36, 3) => p521::ecdsa::VerifyingKey::from_sec1_bytes(&ec2_point(&m, 66)?)
                .map(Self::Es512)
                .map_err(|_| not_a_point("P-521")),
            (2, -47, 8) => k256::ecdsa::VerifyingKey::from_sec1_bytes(&ec2_point(&m, 32)?)
                .map(Self::Es256K)
                .map_err(|_| not_a_point("secp256k1")),
            _ => Err(Error::Usage(format!(
                "unsupported COSE key: kty {kty} alg {alg} crv {crv}"
            ))),
        }
    }

    /// An AKP key (type 7): `{1: 7, 3: alg, -1: the encoded ML-DSA public key}`.
    fn ml_dsa(m: &MapView<'_>, alg: i128) -> Result<Self, Error> {
        m.only_int_keys(&[1, 3, -1])?;
        let public = as_bytes(m.require_int(-1)?, "pub")?.to_vec();
        let expected = match alg {
            -48 => 1312,
            -49 => 1952,
            -50 => 2592,
            _ => return Err(Error::Usage(format!("unsupported AKP key: alg {alg}"))),
        };
        if public.len() != expected {
            return Err(Error::verify(format!(
                "ML-DSA public key is {} bytes, not {expected}",
                public.len()
            )));
        }
        let alg = i64::try_from(alg).map_err(|_| Error::verify("alg out of range"))?;
        Ok(Self::MlDsa { alg, public })
    }

    /// An RSA key (type 3): `{1: 3, 3: alg, -1: n, -2: e}` (RFC 8230 §4), the
    /// integers big-endian without leading zeros, a modulus of at least 2048
    /// bits (RFC 8230 §6).
    fn rsa(m: &MapView<'_>, alg: i128) -> Result<Self, Error> {
        m.only_int_keys(&[1, 3, -1, -2])?;
        let alg = match alg {
            -257 => -257,
            -37 => -37,
            _ => return Err(Error::Usage(format!("unsupported RSA key: alg {alg}"))),
        };
        let n = as_bytes(m.require_int(-1)?, "n")?;
        let e = as_bytes(m.require_int(-2)?, "e")?;
        if n.first() == Some(&0) || e.first() == Some(&0) {
            return Err(Error::verify("RSA n or e has a leading zero byte"));
        }
        if n.len() < 256 {
            return Err(Error::verify(format!(
                "RSA modulus is {} bits, under 2048",
                n.len() * 8
            )));
        }
        let key = rsa::PublicKey::new(
            rsa::BoxedUint::from_be_slice_vartime(n),
            rsa::BoxedUint::from_be_slice_vartime(e),
        )
        .map_err(|e| Error::verify(format!("not an RSA public key: {e}")))?;
        Ok(Self::Rsa { alg, key })
    }

    /// The COSE algorithm of the key.
    pub fn alg(&self) -> i64 {
        match self {
            Self::Es256(_) => COSE_ES256,
            Self::Ed25519(_) => COSE_EDDSA,
            Self::Es384(_) => -35,
            Self::Es512(_) => -36,
            Self::Es256K(_) => -47,
            Self::Rsa { alg, .. } | Self::MlDsa { alg, .. } => *alg,
        }
    }

    /// Verifies `signature` over `message`: DER ECDSA/SHA-256 for ES256, the raw
    /// 64-byte signature for Ed25519.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        match self {
            Self::Es256(key) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("ECDSA signature does not verify"))
            }
            Self::Ed25519(key) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| Error::verify("EdDSA signature is not 64 bytes"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("EdDSA signature does not verify"))
            }
            Self::Es384(key) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("ECDSA signature does not verify"))
            }
            Self::Es512(key) => {
                let sig = p521::ecdsa::Signature::from_der(signature)
                    .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("ECDSA signature does not verify"))
            }
            Self::Es256K(key) => {
                let sig = k256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
                key.verify(message, &sig)
                    .map_err(|_| Error::verify("ECDSA signature does not verify"))
            }
            Self::Rsa { alg, key } => {
                use sha2::Digest as _;
                let digest = sha2::Sha256::digest(message);
                let verified = if *alg == -257 {
                    key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, signature)
                } else {
                    // RFC 8230 §2: PS256's salt is 32 bytes.
                    key.verify(rsa::Pss::<sha2::Sha256>::new(), &digest, signature)
                };
                verified.map_err(|_| Error::verify("RSA signature does not verify"))
            }
            Self::MlDsa { alg: -48, public } => {
                verify_ml_dsa::<MlDsa44>(public, message, signature)
            }
            Self::MlDsa { alg: -49, public } => {
                verify_ml_dsa::<MlDsa65>(public, message, signature)
            }
            Self::MlDsa { public, .. } => verify_ml_dsa::<MlDsa87>(public, message, signature),
        }
    }

    /// Verifies a WebAuthn signature over `authData || clientDataHash`.
    pub fn verify_webauthn(
        &self,
        auth_data: &[u8],
        client_data_hash: &[u8; 32],
        signature: &[u8],
    ) -> Result<(), Error> {
        self.verify(
            &[auth_data, client_data_hash.as_slice()].concat(),
            signature,
        )
    }
}

/// ML-DSA.Verify (FIPS 204 Algorithm 3) with an empty context.
fn verify_ml_dsa<P: MlDsaParams>(
    public: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let public = ml_dsa::EncodedVerifyingKey::<P>::try_from(public)
        .map_err(|_| Error::verify("ML-DSA public key length"))?;
    let signature = ml_dsa::EncodedSignature::<P>::try_from(signature)
        .map_err(|_| Error::verify("ML-DSA signature length"))?;
    let signature = ml_dsa::Signature::<P>::decode(&signature)
        .ok_or_else(|| Error::verify("ML-DSA signature encoding"))?;
    ml_dsa::signature::Verifier::verify(
        &ml_dsa::VerifyingKey::<P>::decode(&public),
        message,
        &signature,
    )
    .map_err(|_| Error::verify("ML-DSA signature does not verify"))
}

impl From<p256::ecdsa::VerifyingKey> for CredentialPublicKey {
    fn from(key: p256::ecdsa::VerifyingKey) -> Self {
        Self::Es256(key)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::Signer as _;

    use super::super::cbor::{int, text};
    use super::*;

    fn okp(x: &[u8]) -> Value {
        Value::Map(vec![
            (int(1), int(1)),
            (int(3), int(-8)),
            (int(-1), int(6)),
            (int(-2), Value::Bytes(x.to_vec())),
        ])
    }

    #[test]
    fn ed25519_keys_verify_their_signatures_and_nothing_else() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let key = CredentialPublicKey::from_cose(&okp(sk.verifying_key().as_bytes())).unwrap();
        assert_eq!(key.alg(), COSE_EDDSA);
        let sig = sk.sign(b"authdata||cdh").to_bytes();
        key.verify(b"authdata||cdh", &sig).unwrap();
        assert!(key.verify(b"authdata||cdH", &sig).is_err());
        assert!(key.verify(b"authdata||cdh", &sig[..63]).is_err());
    }

    fn ec2(alg: i64, crv: i64, sec1: &[u8], len: usize) -> Value {
        Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(alg)),
            (int(-1), int(crv)),
            (int(-2), Value::Bytes(sec1[1..1 + len].to_vec())),
            (int(-3), Value::Bytes(sec1[1 + len..].to_vec())),
        ])
    }

    #[test]
    fn the_other_curves_verify_their_signatures_and_need_full_length_coordinates() {
        use ml_dsa::signature::Signer as _;
        let p384 = p384::ecdsa::SigningKey::from_slice(&[3; 48]).unwrap();
        let sec1 = p384.verifying_key().to_sec1_point(false);
        let key = CredentialPublicKey::from_cose(&ec2(-35, 2, sec1.as_bytes(), 48)).unwrap();
        let sig: p384::ecdsa::DerSignature = p384.sign(b"m");
        key.verify(b"m", sig.as_bytes()).unwrap();
        assert!(key.verify(b"n", sig.as_bytes()).is_err());
        // A coordinate without its leading byte is refused (RFC 9053 §7.1.1).
        let mut short = ec2(-35, 2, sec1.as_bytes(), 48);
        if let Value::Map(m) = &mut short {
            m[3].1 = Value::Bytes(sec1.as_bytes()[2..49].to_vec());
        }
        assert!(CredentialPublicKey::from_cose(&short).is_err());

        let k256 = k256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        let sec1 = k256.verifying_key().to_sec1_point(false);
        let key = CredentialPublicKey::from_cose(&ec2(-47, 8, sec1.as_bytes(), 32)).unwrap();
        let sig: k256::ecdsa::DerSignature = k256.sign(b"m");
        key.verify(b"m", sig.as_bytes()).unwrap();

        let seed = ml_dsa::B32::from([9; 32]);
        let ml = ml_dsa::SigningKey::<MlDsa44>::from_seed(&seed);
        let public = ml_dsa::signature::Keypair::verifying_key(&ml)
            .encode()
            .to_vec();
        let cose = Value::Map(vec![
            (int(1), int(7)),
            (int(3), int(-48)),
            (int(-1), Value::Bytes(public)),
        ]);
        let key = CredentialPublicKey::from_cose(&cose).unwrap();
        assert_eq!(key.alg(), -48);
        let sig = ml.sign(b"m").encode().to_vec();
        key.verify(b"m", &sig).unwrap();
        assert!(key.verify(b"n", &sig).is_err());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(CredentialPublicKey::from_cose(&okp(&[1; 31])).is_err());
        let mut extra = okp(&[9; 32]);
        if let Value::Map(m) = &mut extra {
            m.push((int(-3), Value::Bytes(vec![0; 32])));
        }
        assert!(CredentialPublicKey::from_cose(&extra).is_err());
        assert!(CredentialPublicKey::from_cose(&text("key")).is_err());
    }
}
