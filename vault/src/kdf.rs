//! Argon2id key derivation: passphrase + salt → 32-byte key-encryption key (KEK).
//!
//! Implements FORMAT.md "Key derivation" (RFC 9106 Argon2id, version 0x13). The parameters come
//! from the file, so [`KdfParams::validate`] runs before the KDF: a hostile file cannot make us
//! allocate 4 TiB or iterate for an hour (age caps its scrypt work factor the same way).

use zeroize::Zeroizing;

use crate::Error;

/// Length of the Argon2id salt stored in the header.
pub const SALT_LEN: usize = 16;
/// Length of the derived KEK (an AES-256 key).
pub(crate) const KEK_LEN: usize = 32;

/// Argon2id cost parameters, stored in the vault header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    /// Memory cost in KiB (Argon2 `m`).
    pub memory_kib: u32,
    /// Number of passes (Argon2 `t`).
    pub iterations: u32,
    /// Lanes (Argon2 `p`).
    pub parallelism: u32,
}

impl KdfParams {
    /// 64 MiB, t = 3, p = 1: the desktop recommendation of RFC 9106 §4 (second option, with
    /// p = 1 because the KDF runs single-threaded here).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
    /// Smallest accepted memory cost: 8 MiB.
    pub const MIN_MEMORY_KIB: u32 = 8 * 1024;
    /// Largest accepted memory cost: 4 GiB.
    pub const MAX_MEMORY_KIB: u32 = 4 * 1024 * 1024;
    /// Largest accepted number of passes.
    pub const MAX_ITERATIONS: u32 = 64;
    /// Largest accepted number of lanes.
    pub const MAX_PARALLELISM: u32 = 16;

    /// Checks the bounds: memory 8 MiB..=4 GiB, iterations 1..=64, parallelism 1..=16.
    ///
    /// Argon2 also needs `memory_kib >= 8 * parallelism`, which these bounds imply.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = (Self::MIN_MEMORY_KIB..=Self::MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (1..=Self::MAX_ITERATIONS).contains(&self.iterations)
            && (1..=Self::MAX_PARALLELISM).contains(&self.parallelism);
        if ok {
            Ok(())
        } else {
            Err(Error::KdfParamsOutOfBounds)
        }
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The key-encryption key; zeroed on drop and never printed.
pub(crate) type Kek = Zeroizing<[u8; KEK_LEN]>;

/// Runs Argon2id once. Validates `params` first so the caller cannot forget to.
pub(crate) fn derive_kek(
    passphrase: &[u8],
    salt: &[u8; SALT_LEN],
    params: KdfParams,
) -> Result<Kek, Error> {
    params.validate()?;
    let argon_params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(KEK_LEN),
    )
    .map_err(|_| Error::KdfParamsOutOfBounds)?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut kek = Zeroizing::new([0u8; KEK_LEN]);
    argon
        .hash_password_into(passphrase, salt, kek.as_mut_slice())
        .map_err(|_| Error::KdfParamsOutOfBounds)?;
    Ok(kek)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: KdfParams = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn default_is_valid_and_as_documented() {
        assert_eq!(KdfParams::DEFAULT.memory_kib, 65536);
        assert_eq!(KdfParams::DEFAULT.iterations, 3);
        assert_eq!(KdfParams::DEFAULT.parallelism, 1);
        KdfParams::DEFAULT.validate().unwrap();
    }

    #[test]
    fn bounds_are_inclusive_and_enforced() {
        let edge = |m, t, p| {
            KdfParams {
                memory_kib: m,
                iterations: t,
                parallelism: p,
            }
            .validate()
            .is_ok()
        };
        assert!(edge(8192, 1, 1));
        assert!(edge(4 * 1024 * 1024, 64, 16));
        assert!(!edge(8191, 1, 1));
        assert!(!edge(4 * 1024 * 1024 + 1, 1, 1));
        assert!(!edge(8192, 0, 1));
        assert!(!edge(8192, 65, 1));
        assert!(!edge(8192, 1, 0));
        assert!(!edge(8192, 1, 17));
        assert!(!edge(u32::MAX, u32::MAX, u32::MAX));
    }

    #[test]
    fn derivation_is_deterministic_and_salt_and_passphrase_sensitive() {
        let salt = [7u8; SALT_LEN];
        let a = derive_kek(b"correct horse", &salt, FAST).unwrap();
        let b = derive_kek(b"correct horse", &salt, FAST).unwrap();
        let c = derive_kek(b"correct horsf", &salt, FAST).unwrap();
        let d = derive_kek(b"correct horse", &[8u8; SALT_LEN], FAST).unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
        assert_ne!(*a, *d);
        assert_ne!(*a, [0u8; KEK_LEN]);
    }

    #[test]
    fn derive_refuses_out_of_bounds_params() {
        let huge = KdfParams {
            memory_kib: u32::MAX,
            ..FAST
        };
        assert!(matches!(
            derive_kek(b"pw", &[0; SALT_LEN], huge),
            Err(Error::KdfParamsOutOfBounds)
        ));
    }
}
