//! Authenticator data (WebAuthn L2 §6.1, CTAP 2.1 §6.1/§6.2 responses), the COSE EC2
//! P-256 credential public key (RFC 9053 §7.1.1, CTAP 2.1 §6.5.6), and ES256 signature
//! verification (WebAuthn §8.2: DER ECDSA over authData || clientDataHash).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use super::cbor::{MapView, Value, as_bytes, as_int, decode_canonical, decode_prefix};
use crate::Error;
use crate::bytes::Cursor;

/// authData flag bits (WebAuthn L2 §6.1).
pub mod flags {
    pub const UP: u8 = 0x01;
    pub const UV: u8 = 0x04;
    pub const BE: u8 = 0x08;
    pub const BS: u8 = 0x10;
    pub const AT: u8 = 0x40;
    pub const ED: u8 = 0x80;
}

use super::public_key::{COSE_ES256, CredentialPublicKey};

/// Attested credential data (WebAuthn L2 §6.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    pub aaguid: [u8; 16],
    pub credential_id: Vec<u8>,
    /// The credential public key as the device encoded it (canonical CBOR).
    pub cose_key: Vec<u8>,
    pub public_key: CredentialPublicKey,
}

/// Parsed authenticator data.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthData {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential>,
    pub extensions: Option<Value>,
    pub raw: Vec<u8>,
}

impl AuthData {
    /// Parses authData; the AT and ED flags must match what follows, with nothing after.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let mut c = Cursor::new(bytes, "authData");
        let rp_id_hash = c.array::<32>("rpIdHash").map_err(verify_err)?;
        let flags = c.u8("flags").map_err(verify_err)?;
        let sign_count = c.u32("signCount").map_err(verify_err)?;
        let attested = if flags & flags::AT != 0 {
            let aaguid = c.array::<16>("aaguid").map_err(verify_err)?;
            let len = c.u16("credentialIdLength").map_err(verify_err)?;
            let credential_id = c
                .take(usize::from(len), "credentialId")
                .map_err(verify_err)?;
            let rest = c.remaining();
            let (_, used) = decode_prefix(rest)?;
            let cose = c.take(used, "credentialPublicKey")?;
            let key = decode_canonical(cose)?;
            Some(AttestedCredential {
                aaguid,
                credential_id: credential_id.to_vec(),
                cose_key: cose.to_vec(),
                public_key: CredentialPublicKey::from_cose(&key)?,
            })
        } else {
            None
        };
        let extensions = if flags & flags::ED != 0 {
            let ext = c.remaining();
            let v = decode_canonical(ext)?;
            MapView::new(&v, "authData extensions")?;
            c.take(ext.len(), "extensions")?;
            Some(v)
        } else {
            None
        };
        if !c.is_empty() {
            return Err(Error::verify(format!(
                "authData has {} bytes after its last declared part",
                c.remaining().len()
            )));
        }
        Ok(AuthData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
            extensions,
            raw: bytes.to_vec(),
        })
    }

    /// rpIdHash must be SHA-256 of the RP ID (WebAuthn L2 §6.1).
    pub fn check_rp_id(&self, rp_id: &str) -> Result<(), Error> {
        let want: [u8; 32] = Sha256::digest(rp_id.as_bytes()).into();
        if self.rp_id_hash != want {
            return Err(Error::verify(format!("rpIdHash is not SHA-256({rp_id:?})")));
        }
        Ok(())
    }

    pub fn up(&self) -> bool {
        self.flags & flags::UP != 0
    }

    pub fn uv(&self) -> bool {
        self.flags & flags::UV != 0
    }
}

fn verify_err(e: Error) -> Error {
    match e {
        Error::Protocol(m) => Error::Verify(m),
        other => other,
    }
}

/// A COSE_Key that must be EC2 / ES256 / P-256 (kty 2, alg −7, crv 1, x, y).
pub fn cose_es256_key(v: &Value) -> Result<VerifyingKey, Error> {
    let m = MapView::new(v, "COSE key")?;
    let kty = as_int(m.require_int(1)?, "kty")?;
    let alg = as_int(m.require_int(3)?, "alg")?;
    let crv = as_int(m.require_int(-1)?, "crv")?;
    if (kty, alg, crv) != (2, i128::from(COSE_ES256), 1) {
        return Err(Error::Usage(format!(
            "only EC2/ES256/P-256 keys are verified; got kty {kty} alg {alg} crv {crv}"
        )));
    }
    let x = as_bytes(m.require_int(-2)?, "x")?;
    let y = as_bytes(m.require_int(-3)?, "y")?;
    if x.len() != 32 || y.len() != 32 {
        return Err(Error::verify("COSE key coordinates are not 32 bytes"));
    }
    let mut sec1 = Vec::with_capacity(65);
    sec1.push(0x04);
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    VerifyingKey::from_sec1_bytes(&sec1).map_err(|_| Error::verify("COSE key is not a P-256 point"))
}

/// Verifies a DER ECDSA P-256/SHA-256 signature over `authData || clientDataHash`.
pub fn verify_es256(
    key: &VerifyingKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
    der_signature: &[u8],
) -> Result<(), Error> {
    let sig = Signature::from_der(der_signature)
        .map_err(|_| Error::verify("signature is not a DER ECDSA signature"))?;
    let mut msg = Vec::with_capacity(auth_data.len() + 32);
    msg.extend_from_slice(auth_data);
    msg.extend_from_slice(client_data_hash);
    key.verify(&msg, &sig)
        .map_err(|_| Error::verify("ECDSA signature does not verify"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::cbor::{encode, int};
    use super::*;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer;

    pub(crate) fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    pub(crate) fn cose(vk: &VerifyingKey) -> Vec<u8> {
        let p = vk.to_sec1_point(false);
        let b = p.as_bytes();
        encode(&Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), Value::Bytes(b[1..33].to_vec())),
            (int(-3), Value::Bytes(b[33..65].to_vec())),
        ]))
    }

    /// authData for `rp_id` with the given flags/counter and, if `cred`, attested data.
    pub(crate) fn auth_data(
        rp_id: &str,
        fl: u8,
        count: u32,
        cred: Option<(&[u8], &VerifyingKey)>,
    ) -> Vec<u8> {
        let mut a = Sha256::digest(rp_id.as_bytes()).to_vec();
        a.push(fl);
        a.extend_from_slice(&count.to_be_bytes());
        if let Some((id, vk)) = cred {
            a.extend_from_slice(&[0x11; 16]);
            a.extend_from_slice(&(id.len() as u16).to_be_bytes());
            a.extend_from_slice(id);
            a.extend_from_slice(&cose(vk));
        }
        a
    }

    pub(crate) fn sign(k: &SigningKey, ad: &[u8], cdh: &[u8; 32]) -> Vec<u8> {
        let mut m = ad.to_vec();
        m.extend_from_slice(cdh);
        let s: Signature = k.sign(&m);
        s.to_der().as_bytes().to_vec()
    }

    #[test]
    fn parses_attested_credential_data() {
        let k = key(7);
        let ad = auth_data(
            "example.com",
            flags::UP | flags::AT,
            5,
            Some((&[1, 2, 3], k.verifying_key())),
        );
        let a = AuthData::parse(&ad).unwrap();
        assert!(a.up() && !a.uv());
        assert_eq!(a.sign_count, 5);
        let c = a.attested.as_ref().unwrap();
        assert_eq!(c.credential_id, vec![1, 2, 3]);
        assert_eq!(c.aaguid, [0x11; 16]);
        assert_eq!(c.public_key, CredentialPublicKey::from(*k.verifying_key()));
        a.check_rp_id("example.com").unwrap();
        assert!(a.check_rp_id("example.org").is_err());
    }

    #[test]
    fn parses_plain_and_extension_auth_data() {
        let ad = auth_data("a", flags::UP, 1, None);
        assert_eq!(AuthData::parse(&ad).unwrap().attested, None);
        let mut ext = auth_data("a", flags::UP | flags::ED, 1, None);
        ext.extend_from_slice(&[0xA1, 0x61, b'x', 0xF5]);
        assert!(AuthData::parse(&ext).unwrap().extensions.is_some());
    }

    #[test]
    fn rejects_malformed_auth_data() {
        let k = key(7);
        let ad = auth_data(
            "a",
            flags::UP | flags::AT,
            1,
            Some((&[9; 16], k.verifying_key())),
        );
        for cut in [0, 36, 37, 54, 60, ad.len() - 1] {
            assert!(AuthData::parse(&ad[..cut]).is_err(), "cut at {cut}");
        }
        let mut trailing = ad.clone();
        trailing.push(0);
        assert!(AuthData::parse(&trailing).is_err());
        let mut no_at = ad.clone();
        no_at[32] = flags::UP;
        assert!(
            AuthData::parse(&no_at).is_err(),
            "AT clear but data follows"
        );
        let mut bad_point = ad;
        let n = bad_point.len();
        bad_point[n - 1] ^= 1;
        assert!(AuthData::parse(&bad_point).is_err(), "y not on the curve");
    }

    #[test]
    fn signature_verifies_and_tampering_fails() {
        let k = key(3);
        let cdh = [0x42; 32];
        let ad = auth_data("example.com", flags::UP, 9, None);
        let sig = sign(&k, &ad, &cdh);
        verify_es256(k.verifying_key(), &ad, &cdh, &sig).unwrap();
        let mut ad2 = ad.clone();
        ad2[33] ^= 1;
        assert!(verify_es256(k.verifying_key(), &ad2, &cdh, &sig).is_err());
        assert!(verify_es256(k.verifying_key(), &ad, &[0x43; 32], &sig).is_err());
        assert!(verify_es256(key(4).verifying_key(), &ad, &cdh, &sig).is_err());
        let mut sig2 = sig.clone();
        let last = sig2.len() - 1;
        sig2[last] ^= 1;
        assert!(verify_es256(k.verifying_key(), &ad, &cdh, &sig2).is_err());
        assert!(verify_es256(k.verifying_key(), &ad, &cdh, &sig[..10]).is_err());
    }

    #[test]
    fn cose_key_must_be_es256() {
        let k = key(1);
        let mut v = decode_canonical(&cose(k.verifying_key())).unwrap();
        assert_eq!(&cose_es256_key(&v).unwrap(), k.verifying_key());
        if let Value::Map(m) = &mut v {
            m[1].1 = int(-8);
        }
        assert!(cose_es256_key(&v).is_err());
    }
}
