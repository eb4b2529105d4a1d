//! RSA-2048 keys made ahead of time. Finding two 1,024-bit primes takes tens
//! to hundreds of milliseconds, far longer than any other request; a
//! background thread keeps a few keys ready so that makeCredential with RS256
//! or PS256 costs what the other algorithms cost, and a burst larger than
//! the pool falls back to finding the primes on the request path
//! (BENCHMARKS.md "RSA pool" measures both).
//!
//! The keys are secrets that no credential uses yet: each is wiped when
//! taken and dropped, or when the pool is dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;

use zeroize::Zeroizing;

/// How many keys wait at most: a registration burst of this size is served
/// from the pool.
pub const CAPACITY: usize = 4;

/// The pool; dropping it stops the thread after the key it is working on.
pub struct RsaPool {
    shared: Arc<Shared>,
}

struct Shared {
    keys: Mutex<Vec<Zeroizing<Vec<u8>>>>,
    /// Signalled when a key is taken or the pool stops.
    room: Condvar,
    stopped: AtomicBool,
}

impl std::fmt::Debug for RsaPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaPool({} ready)", self.ready())
    }
}

impl RsaPool {
    /// Starts the filling thread.
    pub fn start() -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            keys: Mutex::new(Vec::with_capacity(CAPACITY)),
            room: Condvar::new(),
            stopped: AtomicBool::new(false),
        });
        let filler = Arc::clone(&shared);
        thread::Builder::new()
            .name("rsa-pool".into())
            .spawn(move || fill(&filler))?;
        Ok(RsaPool { shared })
    }

    /// A ready key (p ‖ q), or `None` when the pool is empty.
    pub fn take(&self) -> Option<Zeroizing<Vec<u8>>> {
        let key = self.lock().pop();
        self.shared.room.notify_one();
        key
    }

    /// How many keys are ready.
    pub fn ready(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Zeroizing<Vec<u8>>>> {
        // A key list cannot be left half-changed: a poisoned lock is usable.
        self.shared
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for RsaPool {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.room.notify_one();
        self.lock().clear();
    }
}

/// Makes keys until the pool is full, then waits for one to be taken.
fn fill(shared: &Shared) {
    // The lowest priority: finding primes must not slow requests on a
    // busy or single CPU (it did, by up to 20× at p95 for ES256, while
    // the pool filled at start-up). On Linux the nice value of
    // setpriority(PRIO_PROCESS, 0) is this thread's alone.
    if let Err(e) = rustix::process::setpriority_process(None, 19) {
        tracing::debug!("RSA pool thread keeps its priority: {e}");
    }
    while !shared.stopped.load(Ordering::Acquire) {
        let Some(primes) = softkey_authenticator::generate_rsa_primes(os_random) else {
            tracing::error!("RSA key generation failed; the pool stops");
            return;
        };
        let mut keys = shared.keys.lock().unwrap_or_else(PoisonError::into_inner);
        keys.push(primes);
        while keys.len() >= CAPACITY && !shared.stopped.load(Ordering::Acquire) {
            keys = shared
                .room
                .wait(keys)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

fn os_random(buf: &mut [u8]) {
    // As KeyEnv::fill_random: no key may be made without the OS RNG.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn wait_for(pool: &RsaPool, ready: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while pool.ready() < ready {
            assert!(Instant::now() < deadline, "the pool never reached {ready}");
            thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn fills_to_capacity_refills_after_a_take_and_hands_out_distinct_keys() {
        let pool = RsaPool::start().unwrap();
        wait_for(&pool, CAPACITY);
        thread::sleep(Duration::from_millis(200));
        assert_eq!(pool.ready(), CAPACITY, "never more than the capacity");
        let first = pool.take().unwrap();
        let second = pool.take().unwrap();
        assert_eq!(first.len(), 256);
        assert_ne!(*first, *second);
        wait_for(&pool, CAPACITY);
    }
}
