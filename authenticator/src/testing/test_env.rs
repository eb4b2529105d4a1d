//! A deterministic [`Env`] for tests and fuzzing: SHA-256 counter-mode RNG
//! from a seed, a clock that moves only when told, scripted presence answers
//! with a log of every request, and a store that can fail on demand.

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::VecDeque;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::MemoryStore;
use crate::Authenticator;
use crate::env::{
    Env, PresenceError, PresenceRequest, Requester, Store, StoreChange, StoreError, StoreErrorKind,
    StoredRecord, UserPresence,
};

/// Unix time the manual clock starts at (2026-01-01T00:00:00Z).
const UNIX_EPOCH_START: u64 = 1_767_225_600;

/// Deterministic bytes: block `i` is SHA-256(seed || i). Not for real keys.
#[derive(Debug, Clone)]
pub struct SeededRng {
    seed: u64,
    block: u64,
    buffer: [u8; 32],
    used: usize,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        SeededRng {
            seed,
            block: 0,
            buffer: [0; 32],
            used: 32,
        }
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for byte in buf {
            if self.used == self.buffer.len() {
                let mut h = Sha256::new();
                h.update(self.seed.to_le_bytes());
                h.update(self.block.to_le_bytes());
                self.buffer.copy_from_slice(&h.finalize());
                self.block = self.block.wrapping_add(1);
                self.used = 0;
            }
            *byte = self.buffer.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
    }

    /// A pseudo-random number below `bound` (for test data, not crypto).
    pub fn below(&mut self, bound: usize) -> usize {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        usize::try_from(u64::from_le_bytes(b) % (bound.max(1) as u64)).unwrap_or(0)
    }
}

/// Values read so far; atomic only so that a `TestStore` may cross threads
/// (the fuzz targets), and a clone starts from the same count.
#[derive(Debug, Default)]
struct ReadCounter(AtomicUsize);

impl Clone for ReadCounter {
    fn clone(&self) -> Self {
        ReadCounter(AtomicUsize::new(self.0.load(Ordering::Relaxed)))
    }
}

/// A [`MemoryStore`] that can be told to fail its next write, and counts
/// successful writes and the record values it hands out.
#[derive(Debug, Default, Clone)]
pub struct TestStore {
    pub inner: MemoryStore,
    fail_next_write: Option<StoreErrorKind>,
    full: bool,
    writes: usize,
    values_read: ReadCounter,
}

impl TestStore {
    /// The next `put`, `delete` or `apply` fails with a `StoreError` and
    /// changes nothing.
    pub fn fail_next_write(&mut self) {
        self.fail_next_write = Some(StoreErrorKind::Io);
    }

    /// From now on every write fails as a full disk does, changing nothing.
    pub fn fill_up(&mut self) {
        self.full = true;
    }

    /// Record values handed out by `get`, `scan_prefix` and
    /// `next_in_prefix` so far: what a request had to read.
    pub fn values_read(&self) -> usize {
        self.values_read.0.load(Ordering::Relaxed)
    }

    fn read(&self, values: usize) {
        self.values_read.0.fetch_add(values, Ordering::Relaxed);
    }

    /// Successful `put`/`delete`/`apply` calls so far (a batch is one write).
    pub fn writes(&self) -> usize {
        self.writes
    }

    fn write_allowed(&mut self) -> Result<(), StoreError> {
        if self.full {
            return Err(StoreError::io(std::io::ErrorKind::StorageFull.into()));
        }
        if let Some(kind) = self.fail_next_write.take() {
            return Err(StoreError::new(kind, "injected write failure"));
        }
        self.writes += 1;
        Ok(())
    }
}

impl Store for TestStore {
    fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let value = self.inner.get(key)?;
        self.read(usize::from(value.is_some()));
        Ok(value)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write_allowed()?;
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        self.write_allowed()?;
        self.inner.delete(key)
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError> {
        let records = self.inner.scan_prefix(prefix)?;
        self.read(records.len());
        Ok(records)
    }

    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        self.inner.count_prefix(prefix)
    }

    fn next_in_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        let next = self.inner.next_in_prefix(prefix, after)?;
        self.read(usize::from(next.is_some()));
        Ok(next)
    }

    /// One atomic write: an injected failure applies none of the batch.
    fn apply(&mut self, changes: &[StoreChange]) -> Result<(), StoreError> {
        self.write_allowed()?;
        self.inner.apply(changes)
    }
}

/// One presence request as the prompt would have shown it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedPresence {
    pub operation: crate::env::Operation,
    /// The RP id of a CTAP2 request; `U2F app 1a2b3c4d` for a U2F
    /// application; empty for a device-wide operation.
    pub rp_id: String,
    pub user_name: Option<String>,
    pub user_display_name: Option<String>,
}

/// Answers presence requests from a script, then with a default answer.
/// A built-in user verification is one such request, then `verified`.
#[derive(Debug, Clone)]
pub struct ScriptedPresence {
    answers: VecDeque<Result<(), PresenceError>>,
    default: Result<(), PresenceError>,
    verified: bool,
    log: Vec<LoggedPresence>,
}

impl Default for ScriptedPresence {
    fn default() -> Self {
        ScriptedPresence {
            answers: VecDeque::new(),
            default: Ok(()),
            verified: false,
            log: Vec::new(),
        }
    }
}

impl ScriptedPresence {
    /// Queues the answer to the next unanswered request.
    pub fn push(&mut self, answer: Result<(), PresenceError>) {
        self.answers.push_back(answer);
    }

    /// The answer once the script is used up (initially: approve).
    pub fn set_default(&mut self, answer: Result<(), PresenceError>) {
        self.default = answer;
    }

    /// Whether a built-in user verification matches (initially: no).
    pub fn set_verified(&mut self, verified: bool) {
        self.verified = verified;
    }

    /// Every request seen, oldest first.
    pub fn log(&self) -> &[LoggedPresence] {
        &self.log
    }

    pub fn clear_log(&mut self) {
        self.log.clear();
    }
}

impl UserPresence for ScriptedPresence {
    fn check(&mut self, request: &PresenceRequest<'_>) -> Result<(), PresenceError> {
        self.log.push(LoggedPresence {
            operation: request.operation,
            rp_id: match request.requester {
                Requester::Rp(id) => id.to_owned(),
                Requester::U2fApplication(app) => crate::authenticator::u2f::application_label(app),
                Requester::Device => String::new(),
            },
            user_name: request.user_name.map(str::to_owned),
            user_display_name: request.user_display_name.map(str::to_owned),
        });
        self.answers.pop_front().unwrap_or(self.default)
    }

    fn verify(&mut self, request: &PresenceRequest<'_>) -> Result<bool, PresenceError> {
        self.check(request).map(|()| self.verified)
    }
}

/// The deterministic environment.
#[derive(Debug, Clone)]
pub struct TestEnv {
    rng: SeededRng,
    stuck_rng: Option<u8>,
    now: Duration,
    pub store: TestStore,
    pub presence: ScriptedPresence,
}

impl TestEnv {
    pub fn new(seed: u64) -> Self {
        TestEnv {
            rng: SeededRng::new(seed),
            stuck_rng: None,
            now: Duration::ZERO,
            store: TestStore::default(),
            presence: ScriptedPresence::default(),
        }
    }

    /// Moves the clock forward.
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
    }

    /// Makes `fill_random` return only `byte` (a broken RNG), or restores it.
    pub fn set_stuck_rng(&mut self, byte: Option<u8>) {
        self.stuck_rng = byte;
    }
}

impl Env for TestEnv {
    type Store = TestStore;
    type Presence = ScriptedPresence;

    fn fill_random(&mut self, buf: &mut [u8]) {
        match self.stuck_rng {
            Some(byte) => buf.fill(byte),
            None => self.rng.fill(buf),
        }
    }

    fn now(&self) -> Duration {
        self.now
    }

    fn unix_time(&self) -> u64 {
        UNIX_EPOCH_START.saturating_add(self.now.as_secs())
    }

    fn store(&mut self) -> &mut TestStore {
        &mut self.store
    }

    fn presence(&mut self) -> &mut ScriptedPresence {
        &mut self.presence
    }
}

/// Fuzz entry point: one request to a fresh authenticator whose user
/// approves everything. Returns the response (status byte + CBOR).
pub fn fuzz_process_cbor(request: &[u8]) -> Vec<u8> {
    let mut env = TestEnv::new(0);
    let mut authenticator = Authenticator::new(crate::Config::default());
    authenticator.power_up(&mut env);
    authenticator.process_cbor(&mut env, request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Operation;

    #[test]
    fn rng_is_deterministic_per_seed() {
        let (mut a, mut b, mut c) = (SeededRng::new(1), SeededRng::new(1), SeededRng::new(2));
        let (mut x, mut y, mut z) = ([0u8; 70], [0u8; 70], [0u8; 70]);
        a.fill(&mut x);
        b.fill(&mut y[..10]);
        b.fill(&mut y[10..]);
        c.fill(&mut z);
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_ne!(x[..32], x[32..64]);
    }

    #[test]
    fn store_failure_is_one_shot_and_changes_nothing() {
        let mut s = TestStore::default();
        s.fail_next_write();
        assert!(s.put(b"k", b"v").is_err());
        assert_eq!(s.get(b"k").unwrap(), None);
        s.put(b"k", b"v").unwrap();
        s.fail_next_write();
        assert!(s.delete(b"k").is_err());
        assert_eq!(s.get(b"k").unwrap(), Some(Zeroizing::new(b"v".to_vec())));
        assert_eq!(s.writes(), 1);
        // A failed batch applies nothing; a good one counts as one write.
        let batch = [
            StoreChange::Put(b"x".to_vec(), b"1".to_vec()),
            StoreChange::Delete(b"k".to_vec()),
        ];
        s.fail_next_write();
        assert!(s.apply(&batch).is_err());
        assert_eq!(s.get(b"x").unwrap(), None);
        assert_eq!(s.get(b"k").unwrap(), Some(Zeroizing::new(b"v".to_vec())));
        s.apply(&batch).unwrap();
        assert_eq!(s.get(b"x").unwrap(), Some(Zeroizing::new(b"1".to_vec())));
        assert_eq!(s.get(b"k").unwrap(), None);
        assert_eq!(s.writes(), 2);
    }

    #[test]
    fn presence_follows_script_then_default_and_logs() {
        let mut p = ScriptedPresence::default();
        p.push(Err(PresenceError::Denied));
        let req = PresenceRequest {
            operation: Operation::SignIn,
            requester: Requester::Rp("example.com"),
            user_name: Some("alice"),
            user_display_name: None,
        };
        assert_eq!(p.check(&req), Err(PresenceError::Denied));
        assert_eq!(p.check(&req), Ok(()));
        p.set_default(Err(PresenceError::Timeout));
        assert_eq!(p.check(&req), Err(PresenceError::Timeout));
        assert_eq!(p.log().len(), 3);
        assert_eq!(p.log()[0].user_name.as_deref(), Some("alice"));
    }

    #[test]
    fn clock_moves_only_when_advanced() {
        let mut env = TestEnv::new(0);
        let t0 = env.now();
        assert_eq!(env.now(), t0);
        env.advance(Duration::from_secs(31));
        assert_eq!(env.now() - t0, Duration::from_secs(31));
        assert_eq!(env.unix_time(), UNIX_EPOCH_START + 31);
    }
}
