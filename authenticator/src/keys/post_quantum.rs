//! ML-DSA (FIPS 204) credential keys, kept as the 32-byte seed ξ: the
//! signing key is expanded from it (ML-DSA.KeyGen_internal, Algorithm 6)
//! each time one is needed, which costs far less than the signature and
//! keeps the private state 32 bytes, as in a credential ID.
//!
//! Signatures are ML-DSA.Sign with an empty context, deterministic
//! (FIPS 204 §3.4 allows it; the hedged variant needs fresh randomness and
//! buys nothing here, where every signed message is unique).

use ml_dsa::signature::{Keypair as _, Signer as _};
use ml_dsa::{B32, MlDsaParams, SigningKey};
use zeroize::Zeroizing;

/// ML-DSA.KeyGen_internal(ξ). The key wipes itself on drop (the crate's
/// `zeroize` feature), and so does the copy of ξ made here.
pub(crate) fn signing_key<P: MlDsaParams>(seed: &[u8; 32]) -> SigningKey<P> {
    let xi = Zeroizing::new(B32::from(*seed));
    SigningKey::from_seed(&xi)
}

/// The encoded public key (pkEncode, FIPS 204 Algorithm 22): 1,312, 1,952
/// or 2,592 bytes.
pub(super) fn public_key<P: MlDsaParams>(seed: &[u8; 32]) -> Vec<u8> {
    signing_key::<P>(seed).verifying_key().encode().to_vec()
}

/// The encoded signature of `message` (sigEncode, Algorithm 26): 2,420,
/// 3,309 or 4,627 bytes.
pub(super) fn sign<P: MlDsaParams>(seed: &[u8; 32], message: &[u8]) -> Vec<u8> {
    signing_key::<P>(seed).sign(message).encode().to_vec()
}
