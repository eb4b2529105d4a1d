//! Credential IDs (CTAP 2.1 §6.1.2 steps 16–18, WebAuthn §6.2 "credential
//! ID") and the per-credential CredRandom of hmac-secret (CTAP 2.1 §12.5).
//!
//! A credential ID carries its own private key, wrapped with AES-256-GCM
//! under the device wrap key ([`crate::secrets`]), so non-discoverable
//! credentials need no storage at all. Three versions exist; all unwrap:
//!
//! ```text
//! v1 (62 bytes, ES256 only; issued before CTAP 2.1 support):
//!   0x01 || nonce (12) || AES-256-GCM(aad = 0x01 || rpIdHash,
//!       scalar (32) || flags (1: 0 or 1 = discoverable)) (33 + 16 tag)
//! v2 (63 bytes, issued now):
//!   0x02 || nonce (12) || AES-256-GCM(aad = 0x02 || rpIdHash,
//!       alg (1: 1 = ES256, 2 = EdDSA) || flags (1) || private key (32)) (34 + 16 tag)
//! v3 (31 bytes plus the private key: 63, 79 or 97; issued for every
//!   algorithm but ES256 and EdDSA):
//!   0x03 || nonce (12) || AES-256-GCM(aad = 0x03 || rpIdHash,
//!       alg (1: 3 = ES384, 4 = ES512, 5 = ES256K, 6–8 = ML-DSA-44/65/87) ||
//!       flags (1) || private key (48, 66, or 32: a scalar or ML-DSA's seed ξ))
//!       (+ 16 tag)
//!   flags: bit 0 discoverable, bits 1–2 credProtect level 1..=3, bit 3
//!   thirdPartyPayment (CTAP 2.2 §12.9), others 0
//! ```
//!
//! ES256 and EdDSA keep v2, so their IDs stay 63 bytes; v3 differs only in
//! carrying the private key at its algorithm's length, which the algorithm
//! byte fixes (an ID whose length does not match is refused).
//!
//! New IDs are always sealed under the device's own wrap key; lookups also
//! try wrap keys imported from backups ([`Keyring`]), so IDs another
//! softkey issued keep working after a restore.
//!
//! Binding the rpIdHash as associated data makes an ID unwrap only for the
//! RP it was made for: presented to another RP it is just unknown. Random
//! 96-bit nonces stay far below the GCM birthday bound for any realistic
//! number of credentials.
//!
//! CredRandom (two per credential: with and without UV) is not carried in
//! the ID but derived: `HKDF-SHA256(salt = "softkey/credRandom/v1",
//! ikm = the credential's 32 private bytes, info = "uv" | "no-uv")`. The
//! private bytes are a uniformly random per-credential secret already inside
//! every ID, so this gives every credential — discoverable or not, v1 IDs
//! included — two stable, independent CredRandoms without 64 more bytes
//! per ID; HKDF is one-way, so an hmac-secret output reveals nothing about
//! the signing key, and the two labels keep the UV and no-UV values apart
//! as §12.5 requires. It costs two HMACs, only for the credential used.

use core::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::env::Env;
use crate::keys::{Algorithm, CredentialKey};
use crate::status::CtapError;

const V1: u8 = 0x01;
const V2: u8 = 0x02;
const V3: u8 = 0x03;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const V1_PLAINTEXT_LEN: usize = 32 + 1;
const V2_PLAINTEXT_LEN: usize = 1 + 1 + 32;
const V1_LEN: usize = 1 + NONCE_LEN + V1_PLAINTEXT_LEN + TAG_LEN;
const V2_LEN: usize = 1 + NONCE_LEN + V2_PLAINTEXT_LEN + TAG_LEN;
/// v3 before the private key: version, nonce, algorithm and flags, tag.
const V3_OVERHEAD: usize = 1 + NONCE_LEN + 2 + TAG_LEN;
/// The longest private key a v3 ID carries: an RSA-2048 key's primes.
const V3_MAX_PRIVATE_LEN: usize = 256;
/// The length of the credential IDs we issue for ES256 and EdDSA.
pub const CREDENTIAL_ID_LEN: usize = V2_LEN;
/// The longest credential ID of ours that still unwraps (getInfo
/// maxCredentialIdLength, 0x08).
pub const MAX_CREDENTIAL_ID_LEN: usize = V3_OVERHEAD + V3_MAX_PRIVATE_LEN;

const ALG_ES256: u8 = 1;
const ALG_EDDSA: u8 = 2;
const ALG_ES384: u8 = 3;
const ALG_ES512: u8 = 4;
const ALG_ES256K: u8 = 5;
const ALG_ML_DSA_44: u8 = 6;
const ALG_ML_DSA_65: u8 = 7;
const ALG_ML_DSA_87: u8 = 8;
const ALG_RS256: u8 = 9;
const ALG_PS256: u8 = 10;

/// The algorithm byte inside an ID, and the version that carries it.
fn alg_byte(alg: Algorithm) -> (u8, u8) {
    match alg {
        Algorithm::Es256 => (V2, ALG_ES256),
        Algorithm::EdDsa => (V2, ALG_EDDSA),
        Algorithm::Es384 => (V3, ALG_ES384),
        Algorithm::Es512 => (V3, ALG_ES512),
        Algorithm::Es256K => (V3, ALG_ES256K),
        Algorithm::MlDsa44 => (V3, ALG_ML_DSA_44),
        Algorithm::MlDsa65 => (V3, ALG_ML_DSA_65),
        Algorithm::MlDsa87 => (V3, ALG_ML_DSA_87),
        Algorithm::Rs256 => (V3, ALG_RS256),
        Algorithm::Ps256 => (V3, ALG_PS256),
    }
}

fn alg_of(version: u8, byte: u8) -> Option<Algorithm> {
    let alg = match byte {
        ALG_ES256 => Algorithm::Es256,
        ALG_EDDSA => Algorithm::EdDsa,
        ALG_ES384 => Algorithm::Es384,
        ALG_ES512 => Algorithm::Es512,
        ALG_ES256K => Algorithm::Es256K,
        ALG_ML_DSA_44 => Algorithm::MlDsa44,
        ALG_ML_DSA_65 => Algorithm::MlDsa65,
        ALG_ML_DSA_87 => Algorithm::MlDsa87,
        ALG_RS256 => Algorithm::Rs256,
        ALG_PS256 => Algorithm::Ps256,
        _ => return None,
    };
    (alg_byte(alg).0 == version).then_some(alg)
}
const FLAG_DISCOVERABLE: u8 = 0x01;
const CRED_PROTECT_SHIFT: u8 = 1;
const CRED_PROTECT_MASK: u8 = 0b0000_0110;
const FLAG_THIRD_PARTY_PAYMENT: u8 = 0x08;

const CRED_RANDOM_SALT: &[u8] = b"softkey/credRandom/v1";

/// What a credential ID records besides the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CredentialFlags {
    pub(crate) discoverable: bool,
    /// credProtect level (CTAP 2.1 §12.1): 1 userVerificationOptional,
    /// 2 userVerificationOptionalWithCredentialIDList, 3 userVerificationRequired.
    pub(crate) cred_protect: u8,
    /// Made with the thirdPartyPayment extension (CTAP 2.2 §12.9): the RP
    /// allows other sites to use it for payment authentication.
    pub(crate) third_party_payment: bool,
}

impl Default for CredentialFlags {
    fn default() -> Self {
        CredentialFlags {
            discoverable: false,
            cred_protect: 1,
            third_party_payment: false,
        }
    }
}

/// The flags of a v1 ID: credProtect level 1 (v1 predates credProtect).
impl From<bool> for CredentialFlags {
    fn from(discoverable: bool) -> Self {
        CredentialFlags {
            discoverable,
            ..CredentialFlags::default()
        }
    }
}

impl CredentialFlags {
    fn encode(self) -> Option<u8> {
        if !(1..=3).contains(&self.cred_protect) {
            return None;
        }
        let discoverable = if self.discoverable {
            FLAG_DISCOVERABLE
        } else {
            0
        };
        let payment = if self.third_party_payment {
            FLAG_THIRD_PARTY_PAYMENT
        } else {
            0
        };
        Some(discoverable | (self.cred_protect << CRED_PROTECT_SHIFT) | payment)
    }

    fn decode(byte: u8) -> Option<Self> {
        if byte & !(FLAG_DISCOVERABLE | CRED_PROTECT_MASK | FLAG_THIRD_PARTY_PAYMENT) != 0 {
            return None;
        }
        let cred_protect = (byte & CRED_PROTECT_MASK) >> CRED_PROTECT_SHIFT;
        (cred_protect != 0).then_some(CredentialFlags {
            discoverable: byte & FLAG_DISCOVERABLE != 0,
            cred_protect,
            third_party_payment: byte & FLAG_THIRD_PARTY_PAYMENT != 0,
        })
    }
}

/// A credential ID of ours, opened for one RP.
#[derive(Debug)]
pub(crate) struct Unwrapped {
    /// Only the private bytes: no public key is derived by unwrapping (see
    /// [`crate::keys`]).
    pub(crate) key: CredentialKey,
    pub(crate) flags: CredentialFlags,
}

impl Unwrapped {
    /// This credential's CredRandom for hmac-secret (CTAP 2.1 §12.5): one
    /// value when the request has UV, another without.
    pub(crate) fn cred_random(&self, with_uv: bool) -> Result<Zeroizing<[u8; 32]>, CtapError> {
        cred_random(&self.key, with_uv)
    }
}

/// CredRandom of a credential key (see the module docs for the derivation).
/// Usable at makeCredential time (hmac-secret-mc) before the ID exists.
pub(crate) fn cred_random(
    key: &CredentialKey,
    with_uv: bool,
) -> Result<Zeroizing<[u8; 32]>, CtapError> {
    let ikm = key.to_bytes();
    let hkdf = Hkdf::<Sha256>::new(Some(CRED_RANDOM_SALT), ikm.as_slice());
    let mut out = Zeroizing::new([0u8; 32]);
    let info: &[u8] = if with_uv { b"uv" } else { b"no-uv" };
    hkdf.expand(info, out.as_mut_slice())
        .map_err(|_| CtapError::Other)?;
    Ok(out)
}

/// Wraps `key` into a new credential ID (v2 for ES256 and EdDSA, v3 for the
/// others) bound to `rp_id_hash`, under the device's wrap key
/// ([`crate::secrets::DeviceSecrets::wrap_key`]).
pub(crate) fn wrap<E: Env>(
    env: &mut E,
    wrap_key: &[u8; 32],
    rp_id_hash: &[u8; 32],
    key: &CredentialKey,
    flags: CredentialFlags,
) -> Result<Vec<u8>, CtapError> {
    let key_bytes = key.to_bytes();
    let (version, alg) = alg_byte(key.algorithm());
    let mut plaintext = Zeroizing::new(Vec::with_capacity(2 + key_bytes.len()));
    plaintext.extend_from_slice(&[alg, flags.encode().ok_or(CtapError::Other)?]);
    plaintext.extend_from_slice(key_bytes.as_slice());
    let mut nonce = [0u8; NONCE_LEN];
    env.fill_random(&mut nonce);
    let sealed = cipher(wrap_key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext.as_slice(),
                aad: &associated_data(version, rp_id_hash),
            },
        )
        .map_err(|_| CtapError::Other)?;
    let mut id = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    id.push(version);
    id.extend_from_slice(&nonce);
    id.extend_from_slice(&sealed);
    Ok(id)
}

/// Every wrap key a credential ID of ours may be sealed under: the
/// device's own (absent until the first credential is made), then those
/// imported from backups ([`crate::secrets::ImportedWrapKeys`]).
#[derive(Clone, Copy)]
pub(crate) struct Keyring<'a> {
    pub(crate) primary: Option<&'a [u8; 32]>,
    pub(crate) imported: &'a [Zeroizing<[u8; 32]>],
}

impl fmt::Debug for Keyring<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Keyring {{ primary: {}, imported: {} }}",
            self.primary.is_some(),
            self.imported.len()
        )
    }
}

impl Keyring<'_> {
    /// [`unwrap`] under the device's own key, then each imported key.
    pub(crate) fn unwrap(&self, rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Unwrapped> {
        self.primary
            .into_iter()
            .chain(self.imported.iter().map(|k| &**k))
            .find_map(|key| unwrap_under(key, rp_id_hash, id))
    }
}

/// [`unwrap`] under one wrap key.
fn unwrap_under(wrap_key: &[u8; 32], rp_id_hash: &[u8; 32], id: &[u8]) -> Option<Unwrapped> {
    let (&version, rest) = id.split_first()?;
    let length_fits = match version {
        V1 => id.len() == V1_LEN,
        V2 => id.len() == V2_LEN,
        // The algorithm byte inside fixes the exact length (checked below).
        V3 => (V3_OVERHEAD + 32..=MAX_CREDENTIAL_ID_LEN).contains(&id.len()),
        _ => false,
    };
    if !length_fits {
        return None;
    }
    let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
    let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
    let plaintext = Zeroizing::new(
        cipher(wrap_key)
            .ok()?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: &associated_data(version, rp_id_hash),
                },
            )
            .ok()?,
    );
    let (alg, flags, private) = if version == V1 {
        let (private, flags) = plaintext.split_at_checked(32)?;
        let discoverable = match flags {
            [0] => false,
            [FLAG_DISCOVERABLE] => true,
            _ => return None,
        };
        (
            Algorithm::Es256,
            CredentialFlags::from(discoverable),
            private,
        )
    } else {
        let (header, private) = plaintext.split_at_checked(2)?;
        let [alg, flags] = header else { return None };
        (
            alg_of(version, *alg)?,
            CredentialFlags::decode(*flags)?,
            private,
        )
    };
    // `from_bytes` refuses a private key of the wrong length for `alg`.
    let key = CredentialKey::from_bytes(alg, private)?;
    Some(Unwrapped { key, flags })
}

fn associated_data(version: u8, rp_id_hash: &[u8; 32]) -> [u8; 33] {
    let mut aad = [0u8; 33];
    let (v, hash) = aad.split_at_mut(1);
    v.copy_from_slice(&[version]);
    hash.copy_from_slice(rp_id_hash);
    aad
}

fn cipher(wrap_key: &[u8; 32]) -> Result<Aes256Gcm, CtapError> {
    Aes256Gcm::new_from_slice(wrap_key).map_err(|_| CtapError::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::DeviceSecrets;

    /// Opens `id` if it is a credential ID of ours (v1 or v2) for
    /// `rp_id_hash`; `None` for anything else (other authenticators' IDs, other
    /// RPs, garbage). Never derives a public key. Lookups go through
    /// [`Keyring::unwrap`], which also tries imported wrap keys.
    pub(crate) fn unwrap(
        secrets: &DeviceSecrets,
        rp_id_hash: &[u8; 32],
        id: &[u8],
    ) -> Option<Unwrapped> {
        unwrap_under(secrets.wrap_key(), rp_id_hash, id)
    }

    use crate::testing::TestEnv;

    fn setup() -> (TestEnv, DeviceSecrets) {
        let mut env = TestEnv::new(7);
        let secrets = DeviceSecrets::load_or_create(&mut env).unwrap();
        (env, secrets)
    }

    /// Seals `plaintext` the way both versions do, to build v1 IDs and
    /// malformed-but-authentic IDs.
    fn seal(secrets: &DeviceSecrets, version: u8, rp: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
        let nonce = [9u8; NONCE_LEN];
        let sealed = cipher(secrets.wrap_key())
            .unwrap()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &associated_data(version, rp),
                },
            )
            .unwrap();
        [&[version][..], &nonce, &sealed].concat()
    }

    fn all_flags() -> Vec<CredentialFlags> {
        let mut out = Vec::new();
        for discoverable in [false, true] {
            for cred_protect in 1..=3 {
                out.push(CredentialFlags {
                    discoverable,
                    cred_protect,
                    third_party_payment: false,
                });
            }
        }
        out
    }

    #[test]
    fn round_trip_keeps_algorithm_key_and_flags() {
        let (mut env, secrets) = setup();
        for alg in crate::keys::SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let (version, _) = alg_byte(alg);
            for flags in all_flags() {
                let id = wrap(&mut env, secrets.wrap_key(), &[1; 32], &key, flags).unwrap();
                if version == V2 {
                    assert_eq!(id.len(), CREDENTIAL_ID_LEN);
                } else {
                    assert_eq!(id.len(), V3_OVERHEAD + alg.private_len());
                }
                assert!(id.len() <= MAX_CREDENTIAL_ID_LEN);
                assert_eq!(id[0], version);
                let opened = unwrap(&secrets, &[1; 32], &id).unwrap();
                assert_eq!(opened.key.algorithm(), alg);
                assert_eq!(*opened.key.to_bytes(), *key.to_bytes());
                assert_eq!(opened.flags, flags);
            }
        }
    }

    #[test]
    fn a_v3_id_whose_key_length_does_not_match_its_algorithm_is_refused() {
        // Sealed properly, but an ES384 byte over a 32-byte key: length and
        // algorithm disagree, so it is not ours.
        let (mut env, secrets) = setup();
        let plaintext = [&[ALG_ES384, 0x02][..], &[7u8; 32]].concat();
        let mut nonce = [0u8; NONCE_LEN];
        env.fill_random(&mut nonce);
        let sealed = cipher(secrets.wrap_key())
            .unwrap()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &associated_data(V3, &[1; 32]),
                },
            )
            .unwrap();
        let id = [&[V3][..], &nonce, &sealed].concat();
        assert!(unwrap(&secrets, &[1; 32], &id).is_none());
        // And a v2 ID cannot claim an algorithm that v3 carries.
        assert_eq!(alg_of(V2, ALG_ES384), None);
        assert_eq!(alg_of(V3, ALG_ES256), None);
    }

    #[test]
    fn invalid_cred_protect_is_not_wrapped() {
        let (mut env, secrets) = setup();
        let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        for cred_protect in [0, 4, 0xFF] {
            let flags = CredentialFlags {
                discoverable: false,
                cred_protect,
                third_party_payment: false,
            };
            assert_eq!(
                wrap(&mut env, secrets.wrap_key(), &[1; 32], &key, flags).unwrap_err(),
                CtapError::Other
            );
        }
    }

    #[test]
    fn v1_ids_still_unwrap_as_es256_level_1() {
        let (mut env, secrets) = setup();
        let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        for (flag, discoverable) in [(0u8, false), (1, true)] {
            let plaintext = [key.to_bytes().as_slice(), &[flag]].concat();
            let id = seal(&secrets, V1, &[1; 32], &plaintext);
            assert_eq!(id.len(), 62);
            let opened = unwrap(&secrets, &[1; 32], &id).unwrap();
            assert_eq!(opened.key.algorithm(), Algorithm::Es256);
            assert_eq!(*opened.key.to_bytes(), *key.to_bytes());
            assert_eq!(opened.flags, CredentialFlags::from(discoverable));
            assert_eq!(opened.flags.cred_protect, 1);
            // v1 credentials get hmac-secret too.
            assert_eq!(
                *opened.cred_random(true).unwrap(),
                *cred_random(&key, true).unwrap()
            );
        }
        // A v1 flags byte other than 0/1 is refused.
        let plaintext = [key.to_bytes().as_slice(), &[2]].concat();
        assert!(
            unwrap(
                &secrets,
                &[1; 32],
                &seal(&secrets, V1, &[1; 32], &plaintext)
            )
            .is_none()
        );
    }

    #[test]
    fn authentic_but_malformed_v2_plaintext_is_refused() {
        let (_, secrets) = setup();
        let rp = [1; 32];
        let good = [&[ALG_ES256, 0x02][..], &[7; 32]].concat();
        assert!(unwrap(&secrets, &rp, &seal(&secrets, V2, &rp, &good)).is_some());
        for header in [
            [0, 0x02],         // unknown algorithm
            [3, 0x02],         // unknown algorithm
            [ALG_ES256, 0x00], // credProtect 0
            [ALG_ES256, 0x10], // reserved bit
            [ALG_EDDSA, 0x80], // reserved bit
        ] {
            let plaintext = [&header[..], &[7; 32]].concat();
            assert!(
                unwrap(&secrets, &rp, &seal(&secrets, V2, &rp, &plaintext)).is_none(),
                "{header:?}"
            );
        }
        // An invalid P-256 scalar.
        let zero = [&[ALG_ES256, 0x02][..], &[0; 32]].concat();
        assert!(unwrap(&secrets, &rp, &seal(&secrets, V2, &rp, &zero)).is_none());
        // A v1-shaped plaintext under the v2 version byte has the wrong length.
        let v1_shaped = [&[7u8; 32][..], &[0]].concat();
        assert!(unwrap(&secrets, &rp, &seal(&secrets, V2, &rp, &v1_shaped)).is_none());
    }

    #[test]
    fn bound_to_rp_and_device_and_tamper_evident() {
        let (mut env, secrets) = setup();
        let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        let v2 = wrap(
            &mut env,
            secrets.wrap_key(),
            &[1; 32],
            &key,
            CredentialFlags::default(),
        )
        .unwrap();
        let v1 = seal(
            &secrets,
            V1,
            &[1; 32],
            &[key.to_bytes().as_slice(), &[0]].concat(),
        );
        let mut other_env = TestEnv::new(8);
        let other = DeviceSecrets::load_or_create(&mut other_env).unwrap();
        for id in [v1, v2] {
            assert!(unwrap(&secrets, &[1; 32], &id).is_some());
            assert!(unwrap(&secrets, &[2; 32], &id).is_none(), "other RP");
            assert!(unwrap(&other, &[1; 32], &id).is_none(), "other device");
            for i in 0..id.len() {
                for bit in 0..8 {
                    let mut bad = id.clone();
                    bad[i] ^= 1 << bit;
                    assert!(
                        unwrap(&secrets, &[1; 32], &bad).is_none(),
                        "bit flip at {i}.{bit}"
                    );
                }
            }
            assert!(unwrap(&secrets, &[1; 32], &id[..id.len() - 1]).is_none());
            let longer = [id.as_slice(), &[0]].concat();
            assert!(unwrap(&secrets, &[1; 32], &longer).is_none());
        }
        assert!(unwrap(&secrets, &[1; 32], &[]).is_none());
        assert!(unwrap(&secrets, &[1; 32], &[V2]).is_none());
    }

    #[test]
    fn keyring_tries_primary_then_imported_keys() {
        let (mut env, secrets) = setup();
        let mut other_env = TestEnv::new(8);
        let other = DeviceSecrets::load_or_create(&mut other_env).unwrap();
        let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        let flags = CredentialFlags::default();
        let ours = wrap(&mut env, secrets.wrap_key(), &[1; 32], &key, flags).unwrap();
        let theirs = wrap(&mut other_env, other.wrap_key(), &[1; 32], &key, flags).unwrap();
        let imported = [Zeroizing::new(*other.wrap_key())];
        let only_ours = Keyring {
            primary: Some(secrets.wrap_key()),
            imported: &[],
        };
        let both = Keyring {
            primary: Some(secrets.wrap_key()),
            imported: &imported,
        };
        let no_primary = Keyring {
            primary: None,
            imported: &imported,
        };
        assert!(only_ours.unwrap(&[1; 32], &ours).is_some());
        assert!(only_ours.unwrap(&[1; 32], &theirs).is_none());
        for id in [&ours, &theirs] {
            let opened = both.unwrap(&[1; 32], id).unwrap();
            assert_eq!(*opened.key.to_bytes(), *key.to_bytes());
            assert!(both.unwrap(&[2; 32], id).is_none(), "still bound to the RP");
        }
        assert!(no_primary.unwrap(&[1; 32], &theirs).is_some());
        assert!(no_primary.unwrap(&[1; 32], &ours).is_none());
        assert_eq!(
            format!("{both:?}"),
            "Keyring { primary: true, imported: 1 }"
        );
    }

    #[test]
    fn two_wraps_of_one_key_differ() {
        let (mut env, secrets) = setup();
        let key = CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap();
        let a = wrap(
            &mut env,
            secrets.wrap_key(),
            &[1; 32],
            &key,
            CredentialFlags::default(),
        )
        .unwrap();
        let b = wrap(
            &mut env,
            secrets.wrap_key(),
            &[1; 32],
            &key,
            CredentialFlags::default(),
        )
        .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn cred_random_is_stable_and_separates_uv_and_credentials() {
        // CTAP 2.1 §12.5: CredRandomWithUV and CredRandomWithoutUV, fixed
        // for the life of the credential, also for non-discoverable ones.
        let (mut env, secrets) = setup();
        let mut seen = Vec::new();
        for alg in crate::keys::SUPPORTED {
            for _ in 0..2 {
                let key = CredentialKey::generate(&mut env, alg).unwrap();
                let id = wrap(
                    &mut env,
                    secrets.wrap_key(),
                    &[1; 32],
                    &key,
                    CredentialFlags::default(),
                )
                .unwrap();
                let first = unwrap(&secrets, &[1; 32], &id).unwrap();
                let again = unwrap(&secrets, &[1; 32], &id).unwrap();
                let uv = *first.cred_random(true).unwrap();
                let no_uv = *first.cred_random(false).unwrap();
                assert_eq!(uv, *again.cred_random(true).unwrap());
                assert_eq!(no_uv, *again.cred_random(false).unwrap());
                assert_eq!(
                    uv,
                    *cred_random(&key, true).unwrap(),
                    "same before wrapping"
                );
                assert_ne!(uv, no_uv);
                seen.push(uv);
                seen.push(no_uv);
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "distinct across credentials");
    }
}
