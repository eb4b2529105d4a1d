//! RSA credential keys: RS256 (RSASSA-PKCS1-v1_5 with SHA-256, COSE -257)
//! and PS256 (RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt,
//! COSE -37; RFC 8230 §2), on 2048-bit moduli with e = 65537.
//!
//! A key is kept as its two primes, p ‖ q, 128 bytes each: the modulus, the
//! private exponent and the CRT values follow from them (NIST SP 800-56B
//! §6.2.1), so a credential ID carries 256 private bytes rather than a full
//! PKCS#1 structure.
//!
//! Signing needs randomness twice: RSA blinding of the private operation and
//! the PSS salt. Both come from an HMAC_DRBG (NIST SP 800-90A §10.1.2)
//! seeded with the primes and the message digest, as RFC 6979 seeds ECDSA's
//! nonce: a signature is a function of key and message, costs no entropy
//! and needs no RNG handle on the signing path; the blinding values and the
//! salt are still unknowable without the private key (RFC 8017 §9.1 note 4
//! allows a salt that is not random).
//!
//! Key generation takes tens to hundreds of milliseconds (finding two
//! 1024-bit primes); the binary keeps a small pool generated off the request
//! path ([`crate::env::Env::pregenerated_rsa_key`]).

use hmac::{Hmac, KeyInit, Mac};
use rsa::rand_core::{TryCryptoRng, TryRng};
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use rsa::{BoxedUint, Pkcs1v15Sign, PrivateKey, Pss};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

/// The modulus size of the keys we generate and accept.
pub(crate) const MODULUS_BITS: usize = 2048;
/// Each prime is half the modulus.
const PRIME_LEN: usize = MODULUS_BITS / 16;
/// p ‖ q, as a credential ID or a record carries it.
pub(crate) const PRIVATE_LEN: usize = 2 * PRIME_LEN;
/// F4, the exponent every platform expects (RFC 8230 §4 leaves it open;
/// Windows Hello and TPMs use it).
const PUBLIC_EXPONENT: u64 = 65_537;
/// RFC 8230 §2: PS256's salt is as long as the hash.
const PSS_SALT_LEN: usize = 32;

/// The padding a signature uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Padding {
    Pkcs1v15,
    Pss,
}

/// A key from p ‖ q; `None` unless both halves are odd numbers whose
/// product is a 2048-bit modulus the crate accepts as a key.
pub(crate) fn from_primes(bytes: &[u8]) -> Option<PrivateKey> {
    if bytes.len() != PRIVATE_LEN {
        return None;
    }
    let (p, q) = bytes.split_at(PRIME_LEN);
    let precision = u32::try_from(PRIME_LEN * 8).ok()?;
    let p = BoxedUint::from_be_slice(p, precision).ok()?;
    let q = BoxedUint::from_be_slice(q, precision).ok()?;
    let key = PrivateKey::from_p_q(p, q, BoxedUint::from(PUBLIC_EXPONENT)).ok()?;
    (key.n().bit_width() as usize == MODULUS_BITS).then_some(key)
}

/// p ‖ q, each left-padded to 128 bytes. The primes are read at their
/// storage width (never trimmed of leading zeros, which would take time
/// that depends on the secret).
pub(crate) fn to_primes(key: &PrivateKey) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; PRIVATE_LEN]);
    for (prime, slot) in key.primes().iter().zip(out.chunks_exact_mut(PRIME_LEN)) {
        let mut bytes = prime.to_be_bytes();
        // Right-aligned: a wider storage width only adds leading zeros, and
        // a prime longer than half the modulus is not in a key we accept.
        let skip = bytes.len().saturating_sub(PRIME_LEN);
        let start = PRIME_LEN.saturating_sub(bytes.len());
        if let (Some(dst), Some(src)) = (slot.get_mut(start..), bytes.get(skip..)) {
            dst.copy_from_slice(src);
        }
        bytes.zeroize();
    }
    out
}

/// A new key pair (two primes found with `random` as the RNG), as p ‖ q;
/// `None` if the search drew more than [`KEYGEN_RANDOM_BUDGET`] bytes, which
/// only a broken (stuck) RNG makes it do.
pub fn generate_primes(random: impl FnMut(&mut [u8])) -> Option<Zeroizing<Vec<u8>>> {
    let mut rng = FillRng {
        fill: random,
        budget: KEYGEN_RANDOM_BUDGET,
    };
    let key = PrivateKey::new(&mut rng, MODULUS_BITS).ok()?;
    Some(to_primes(&key))
}

/// A healthy search draws a few kilobytes (a start point per prime
/// candidate run, then blinding); a stuck RNG gives the same candidates
/// forever and must fail instead.
const KEYGEN_RANDOM_BUDGET: usize = 1 << 20;

/// The COSE_Key of the public key: `{1: 3 (RSA), 3: alg, -1: n, -2: e}`
/// (RFC 8230 §4), both integers big-endian without leading zeros.
pub(crate) fn cose_public_key(key: &PrivateKey, alg: i64) -> crate::cbor::Value {
    use crate::cbor::Value;
    Value::Map(vec![
        (Value::int(1), Value::int(3)),
        (Value::int(3), Value::int(alg)),
        (Value::int(-1), Value::bytes(&key.n_bytes())),
        (Value::int(-2), Value::bytes(&key.e_bytes())),
    ])
}

/// The signature of `message` (256 bytes). The crate fails only on keys it
/// would not have built, so a failure here is a broken invariant: it yields
/// an empty signature, which every verifier rejects, rather than a panic.
pub(crate) fn sign(key: &PrivateKey, padding: Padding, message: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(message);
    let mut drbg = HmacDrbg::new(&to_primes(key), &digest);
    // Its output is unpredictable to anyone without the private key; a
    // signature draws a few hundred bytes, so no budget applies.
    let mut rng = FillRng {
        fill: |buf: &mut [u8]| drbg.generate(buf),
        budget: usize::MAX,
    };
    let signed = match padding {
        Padding::Pkcs1v15 => key.sign_with_rng(&mut rng, Pkcs1v15Sign::new::<Sha256>(), &digest),
        Padding::Pss => key.sign_with_rng(
            &mut rng,
            Pss::<Sha256>::new_blinded_with_salt(PSS_SALT_LEN),
            &digest,
        ),
    };
    signed.unwrap_or_else(|e| {
        tracing::error!("RSA signing failed: {e}");
        Vec::new()
    })
}

/// Any `FnMut(&mut [u8])` source of secure random bytes (the environment's
/// RNG) as the RNG the rsa crate asks for, failing once `budget` is spent.
struct FillRng<F> {
    fill: F,
    budget: usize,
}

/// The key search drew more random bytes than any healthy search does.
#[derive(Debug)]
struct BudgetSpent;

impl core::fmt::Display for BudgetSpent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("RSA key generation drew too many random bytes")
    }
}

impl core::error::Error for BudgetSpent {}

impl<F: FnMut(&mut [u8])> TryRng for FillRng<F> {
    type Error = BudgetSpent;

    fn try_next_u32(&mut self) -> Result<u32, BudgetSpent> {
        let mut bytes = [0u8; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, BudgetSpent> {
        let mut bytes = [0u8; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), BudgetSpent> {
        self.budget = self.budget.checked_sub(dst.len()).ok_or(BudgetSpent)?;
        (self.fill)(dst);
        Ok(())
    }
}

// The caller promises a cryptographically secure source.
impl<F: FnMut(&mut [u8])> TryCryptoRng for FillRng<F> {}

/// HMAC_DRBG with SHA-256 (NIST SP 800-90A §10.1.2), instantiated once per
/// signature and never reseeded: its whole output is a few hundred bytes.
struct HmacDrbg {
    key: Zeroizing<[u8; 32]>,
    value: Zeroizing<[u8; 32]>,
}

impl HmacDrbg {
    /// HMAC_DRBG_Instantiate with the private key as entropy input and the
    /// digest as nonce (§10.1.2.3).
    fn new(entropy: &[u8], nonce: &[u8]) -> Self {
        let mut drbg = HmacDrbg {
            key: Zeroizing::new([0x00; 32]),
            value: Zeroizing::new([0x01; 32]),
        };
        drbg.update(&[entropy, nonce]);
        drbg
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(self.key.as_slice())
            .expect("HMAC takes any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// HMAC_DRBG_Update (§10.1.2.2): the second round only when data is
    /// provided.
    fn update(&mut self, provided: &[&[u8]]) {
        let rounds = if provided.iter().all(|part| part.is_empty()) {
            1
        } else {
            2
        };
        for separator in [[0x00u8], [0x01]].iter().take(rounds) {
            let value = Zeroizing::new(*self.value);
            let mut parts: Vec<&[u8]> = vec![value.as_slice(), separator];
            parts.extend_from_slice(provided);
            *self.key = self.mac(&parts);
            *self.value = self.mac(&[self.value.as_slice()]);
        }
    }

    /// HMAC_DRBG_Generate (§10.1.2.5) without additional input.
    fn generate(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(32) {
            *self.value = self.mac(&[self.value.as_slice()]);
            for (out, byte) in chunk.iter_mut().zip(self.value.iter()) {
                *out = *byte;
            }
        }
        self.update(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env as _;
    use crate::testing::TestEnv;

    fn key(seed: u64) -> PrivateKey {
        let mut env = TestEnv::new(seed);
        let primes = generate_primes(|buf| env.fill_random(buf)).unwrap();
        from_primes(&primes).unwrap()
    }

    #[test]
    fn primes_round_trip_to_the_same_2048_bit_key() {
        let key = key(1);
        assert_eq!(key.n().bit_width(), 2048);
        assert_eq!(key.e_bytes().as_ref(), [0x01, 0x00, 0x01]);
        let primes = to_primes(&key);
        assert_eq!(primes.len(), PRIVATE_LEN);
        let again = from_primes(&primes).unwrap();
        assert_eq!(again.n(), key.n());
        assert_eq!(*to_primes(&again), *primes);
    }

    #[test]
    fn from_primes_refuses_what_is_not_a_key() {
        let primes = to_primes(&key(2));
        assert!(from_primes(&primes[1..]).is_none());
        let mut even = primes.clone();
        even[PRIME_LEN - 1] &= 0xFE;
        assert!(from_primes(&even).is_none());
        // Two small odd numbers: the modulus is far short of 2048 bits.
        let mut small = vec![0u8; PRIVATE_LEN];
        small[PRIME_LEN - 1] = 11;
        small[PRIVATE_LEN - 1] = 13;
        assert!(from_primes(&small).is_none());
    }

    #[test]
    fn pkcs1v15_signature_is_the_crates_own() {
        // PKCS#1 v1.5 is deterministic: blinding from our DRBG must not
        // change a single byte of what the crate signs unblinded.
        let key = key(3);
        let digest = Sha256::digest(b"message");
        let reference = key.sign(Pkcs1v15Sign::new::<Sha256>(), &digest).unwrap();
        assert_eq!(sign(&key, Padding::Pkcs1v15, b"message"), reference);
    }

    #[test]
    fn pss_signatures_verify_with_a_32_byte_salt_and_are_deterministic() {
        let key = key(4);
        let public = key.to_public_key();
        let signature = sign(&key, Padding::Pss, b"message");
        assert_eq!(signature.len(), 256);
        let digest = Sha256::digest(b"message");
        public
            .verify(
                Pss::<Sha256>::new_with_salt(PSS_SALT_LEN),
                &digest,
                &signature,
            )
            .unwrap();
        assert_eq!(sign(&key, Padding::Pss, b"message"), signature);
        assert_ne!(sign(&key, Padding::Pss, b"massage"), signature);
    }

    #[test]
    fn hmac_drbg_output_depends_on_both_inputs_and_moves_on() {
        let draw = |entropy: &[u8], nonce: &[u8]| {
            let mut drbg = HmacDrbg::new(entropy, nonce);
            let mut first = [0u8; 40];
            let mut second = [0u8; 40];
            drbg.generate(&mut first);
            drbg.generate(&mut second);
            (first, second)
        };
        let (a1, a2) = draw(b"key", b"nonce");
        assert_ne!(a1, a2);
        assert_eq!(draw(b"key", b"nonce"), (a1, a2));
        assert_ne!(draw(b"key", b"nonce2").0, a1);
        assert_ne!(draw(b"key2", b"nonce").0, a1);
    }

    #[test]
    fn a_stuck_rng_fails_instead_of_searching_forever() {
        assert!(generate_primes(|buf| buf.fill(0xFF)).is_none());
        assert!(generate_primes(|buf| buf.fill(0x00)).is_none());
    }
}
