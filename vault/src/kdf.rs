//! Argon2id key derivation: passphrase + salt → 32-byte key-encryption key (KEK).
//!
//! Implements FORMAT.md "Cryptography" (RFC 9106 Argon2id, version 0x13). The parameters come
//! from the file, so [`KdfParams::validate`] runs before the KDF: a hostile file cannot make us
//! allocate 4 TiB or iterate for an hour (age caps its scrypt work factor the same way).
//! [`KdfParams::calibrate`] tunes the cost to this machine (FORMAT.md "Cryptography":
//! 0.5–1 s with at least 64 MiB).

use std::time::{Duration, Instant};

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

/// Calibration aims for one derivation in this window (FORMAT.md "Cryptography", KeePassXC).
const CALIBRATION_LOW: Duration = Duration::from_millis(500);
const CALIBRATION_HIGH: Duration = Duration::from_millis(1000);
const CALIBRATION_AIM: Duration = Duration::from_millis(750);
/// Calibration raises memory rather than passes beyond this many (memory hardness first).
const CALIBRATION_MAX_ITERATIONS: u32 = 8;
/// Calibration never asks for more than 1 GiB.
const CALIBRATION_MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// At most this many trial derivations.
const CALIBRATION_ROUNDS: usize = 4;

impl KdfParams {
    /// Argon2id tuned on this machine: m >= 64 MiB, p = 1, t chosen so one derivation takes
    /// 0.5–1 s (stays t = 1 if even that is slower; raises m if t hits the bound of 8).
    /// Runs a few real derivations (about 1–3 s in total in a release build).
    pub fn calibrate() -> Result<KdfParams, Error> {
        Self::calibrate_around(FixedCost::default())
    }

    /// [`KdfParams::calibrate`] with the memory, the passes, or both fixed
    /// by the caller; only what is left free is tuned (passes up to
    /// [`KdfParams::MAX_ITERATIONS`] when memory is fixed).
    pub fn calibrate_around(fixed: FixedCost) -> Result<KdfParams, Error> {
        let salt = [0x5a; SALT_LEN];
        calibrate_with(fixed, |p| {
            let started = Instant::now();
            argon2id(b"softkey calibration", &salt, p)?;
            Ok(started.elapsed())
        })
    }
}

/// What a caller chose of the Argon2id cost; `None` is calibrated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedCost {
    pub memory_kib: Option<u32>,
    pub iterations: Option<u32>,
}

/// The calibration search with the timing injected (tests use a cost model).
///
/// Argon2id time is close to linear in m·t, so each round scales the work by aim / measured
/// and splits it into t (up to the bound) and m (at least 64 MiB); a fixed m or t stays.
pub(crate) fn calibrate_with(
    fixed: FixedCost,
    mut measure: impl FnMut(KdfParams) -> Result<Duration, Error>,
) -> Result<KdfParams, Error> {
    let floor = KdfParams {
        memory_kib: fixed.memory_kib.unwrap_or(KdfParams::DEFAULT.memory_kib),
        iterations: fixed.iterations.unwrap_or(1),
        parallelism: 1,
    };
    floor.validate()?;
    if fixed.memory_kib.is_some() && fixed.iterations.is_some() {
        return Ok(floor);
    }
    // With memory fixed, passes are the only lever: allow all of them.
    let max_t = if fixed.memory_kib.is_some() {
        KdfParams::MAX_ITERATIONS
    } else {
        CALIBRATION_MAX_ITERATIONS
    };
    let mut params = floor;
    for _ in 0..CALIBRATION_ROUNDS {
        let took = measure(params)?;
        if (CALIBRATION_LOW..=CALIBRATION_HIGH).contains(&took)
            || (took > CALIBRATION_HIGH && params == floor)
        {
            return Ok(params);
        }
        let work = f64::from(params.memory_kib) * f64::from(params.iterations);
        let scale = CALIBRATION_AIM.as_secs_f64() / took.as_secs_f64().max(1e-6);
        let target = work * scale;
        let min_m = f64::from(floor.memory_kib);
        let t = match fixed.iterations {
            Some(t) => f64::from(t),
            None => (target / min_m).round().clamp(1.0, f64::from(max_t)),
        };
        let m = match fixed.memory_kib {
            Some(m) => f64::from(m),
            None => (target / t).clamp(min_m, f64::from(CALIBRATION_MAX_MEMORY_KIB)),
        };
        // Whole MiB; the casts are in range after the clamps.
        let next = KdfParams {
            memory_kib: ((m / 1024.0).round() as u32).saturating_mul(1024),
            iterations: t as u32,
            parallelism: 1,
        };
        if next == params {
            return Ok(params);
        }
        params = next;
    }
    Ok(params)
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
    #[cfg(test)]
    return test_memo::derive(passphrase, salt, params);
    #[cfg(not(test))]
    argon2id(passphrase, salt, params)
}

/// Unit tests replay thousands of crash-and-reopen cases: they memoise the derivation per
/// (passphrase, salt, params) so each distinct one runs Argon2id once. Not in real builds.
#[cfg(test)]
mod test_memo {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;

    type Memo = HashMap<(Vec<u8>, [u8; SALT_LEN], KdfParams), [u8; KEK_LEN]>;

    thread_local! {
        static MEMO: RefCell<Memo> = RefCell::new(HashMap::new());
    }

    pub(super) fn derive(
        passphrase: &[u8],
        salt: &[u8; SALT_LEN],
        params: KdfParams,
    ) -> Result<Kek, Error> {
        let key = (passphrase.to_vec(), *salt, params);
        if let Some(k) = MEMO.with(|m| m.borrow().get(&key).copied()) {
            return Ok(Zeroizing::new(k));
        }
        let kek = argon2id(passphrase, salt, params)?;
        MEMO.with(|m| m.borrow_mut().insert(key, *kek));
        Ok(kek)
    }
}

/// Argon2id v0x13 with a 32-byte output.
fn argon2id(passphrase: &[u8], salt: &[u8; SALT_LEN], params: KdfParams) -> Result<Kek, Error> {
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
        // The real Argon2id, not the test memo.
        let a = argon2id(b"correct horse", &salt, FAST).unwrap();
        let b = argon2id(b"correct horse", &salt, FAST).unwrap();
        let c = argon2id(b"correct horsf", &salt, FAST).unwrap();
        let d = argon2id(b"correct horse", &[8u8; SALT_LEN], FAST).unwrap();
        assert_eq!(*derive_kek(b"correct horse", &salt, FAST).unwrap(), *a);
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

    /// A machine whose Argon2id costs `ns_per_kib_pass` per KiB per pass.
    fn machine(ns_per_kib_pass: f64) -> impl FnMut(KdfParams) -> Result<Duration, Error> {
        move |p| {
            p.validate()?;
            let work = f64::from(p.memory_kib) * f64::from(p.iterations);
            Ok(Duration::from_secs_f64(work * ns_per_kib_pass * 1e-9))
        }
    }

    fn modelled(p: KdfParams, ns: f64) -> Duration {
        machine(ns)(p).unwrap()
    }

    #[test]
    fn calibrate_hits_the_window_on_typical_machines() {
        // 64 MiB at t = 1 taking 40 ms, 100 ms, 250 ms, 450 ms.
        for ms_at_64m in [40.0, 100.0, 250.0, 450.0] {
            let ns = ms_at_64m * 1e6 / 65536.0;
            let p = calibrate_with(FixedCost::default(), machine(ns)).unwrap();
            let took = modelled(p, ns);
            assert!(
                (CALIBRATION_LOW..=CALIBRATION_HIGH).contains(&took),
                "{ms_at_64m} ms: {p:?} takes {took:?}"
            );
            assert!(p.memory_kib >= 65536 && p.parallelism == 1, "{p:?}");
            assert!(p.iterations <= CALIBRATION_MAX_ITERATIONS);
            p.validate().unwrap();
        }
    }

    #[test]
    fn calibrate_stays_at_t1_on_slow_machines() {
        for ms_at_64m in [500.0, 900.0, 3000.0] {
            let p =
                calibrate_with(FixedCost::default(), machine(ms_at_64m * 1e6 / 65536.0)).unwrap();
            assert_eq!(
                p,
                KdfParams {
                    memory_kib: 65536,
                    iterations: 1,
                    parallelism: 1
                }
            );
        }
    }

    #[test]
    fn calibrate_raises_memory_when_passes_hit_the_bound() {
        // 64 MiB at t = 1 in 5 ms: 8 passes would be 40 ms, so memory grows.
        let ns = 5e6 / 65536.0;
        let p = calibrate_with(FixedCost::default(), machine(ns)).unwrap();
        assert_eq!(p.iterations, CALIBRATION_MAX_ITERATIONS);
        assert!(p.memory_kib > 65536, "{p:?}");
        assert!((CALIBRATION_LOW..=CALIBRATION_HIGH).contains(&modelled(p, ns)));
        // Absurdly fast: capped at 1 GiB and 8 passes, never out of bounds.
        let p = calibrate_with(FixedCost::default(), machine(1e-6)).unwrap();
        assert_eq!(
            p,
            KdfParams {
                memory_kib: CALIBRATION_MAX_MEMORY_KIB,
                iterations: 8,
                parallelism: 1
            }
        );
        // Timing errors propagate.
        assert!(calibrate_with(FixedCost::default(), |_| Err(Error::Locked)).is_err());
    }

    #[test]
    fn calibrate_tunes_only_what_the_caller_left_free() {
        let ns = 100e6 / 65536.0; // 64 MiB at t = 1 in 100 ms
        // 256 MiB fixed: passes chosen for the window (t = 2: 800 ms).
        let fixed_m = FixedCost {
            memory_kib: Some(256 * 1024),
            iterations: None,
        };
        let p = calibrate_with(fixed_m, machine(ns)).unwrap();
        assert_eq!(p.memory_kib, 256 * 1024);
        assert!(
            (CALIBRATION_LOW..=CALIBRATION_HIGH).contains(&modelled(p, ns)),
            "{p:?}"
        );
        // 2 passes fixed: memory chosen for the window, at least 64 MiB.
        let fixed_t = FixedCost {
            memory_kib: None,
            iterations: Some(2),
        };
        let p = calibrate_with(fixed_t, machine(ns)).unwrap();
        assert_eq!(p.iterations, 2);
        assert!(p.memory_kib >= 65536, "{p:?}");
        assert!(
            (CALIBRATION_LOW..=CALIBRATION_HIGH).contains(&modelled(p, ns)),
            "{p:?}"
        );
        // Both fixed: taken as given, nothing measured; out of bounds refused.
        let both = FixedCost {
            memory_kib: Some(8 * 1024),
            iterations: Some(1),
        };
        let p = calibrate_with(both, |_| panic!("measured")).unwrap();
        assert_eq!((p.memory_kib, p.iterations), (8 * 1024, 1));
        let bad = FixedCost {
            memory_kib: Some(1),
            iterations: None,
        };
        assert!(calibrate_with(bad, machine(ns)).is_err());
    }

    /// The real thing: several 64 MiB+ derivations (slow in debug builds).
    #[test]
    #[ignore = "runs real Argon2id at 64 MiB or more; use --release -- --ignored"]
    fn calibrate_on_this_machine() {
        let started = Instant::now();
        let p = KdfParams::calibrate().unwrap();
        let one = Instant::now();
        argon2id(b"x", &[0; SALT_LEN], p).unwrap();
        println!(
            "calibrated {p:?} in {:?}; one derivation {:?}",
            one - started,
            one.elapsed()
        );
        assert!(p.memory_kib >= 65536);
    }
}
