//! PIN retry counters (SECURITY.md "The CTAP PIN", CTAP 2.1 §6.5.5.7.2 steps 5–9):
//! decrement-and-persist before the compare, the 3-in-a-row power-cycle
//! block, the permanent block at 0, store failures and crashes.

use core::time::Duration;

use zeroize::Zeroizing;

use super::retries;
use super::tests::{PIN, key_agreement_bytes, with_pin};
use super::*;
use crate::env::{Store, StoreError, StoredRecord};
use crate::store_keys::PIN_RETRIES;
use crate::testing::{MemoryStore, PinClient, ScriptedPresence, TestEnv};
use crate::{Authenticator, Config};

#[test]
fn wrong_pins_decrement_regenerate_and_block_after_three() {
    // SECURITY.md "The CTAP PIN" / §6.5.5.7.2 step 8.
    for p in [1, 2] {
        let (mut env, mut auth, c) = with_pin(p);
        let before = key_agreement_bytes(&mut auth, &mut env, p);
        assert_eq!(
            c.get_token(&mut auth, &mut env, "0000", None, None),
            Err(0x31)
        );
        assert_ne!(
            key_agreement_bytes(&mut auth, &mut env, p),
            before,
            "regenerated"
        );
        assert_eq!(c.retries(&mut auth, &mut env), Ok((7, false)));
        assert_eq!(
            c.get_token(&mut auth, &mut env, "0000", Some(1), Some("x")),
            Err(0x31)
        );
        assert_eq!(c.change_pin(&mut auth, &mut env, "0000", "5678"), Err(0x34));
        assert_eq!(c.retries(&mut auth, &mut env), Ok((5, true)));
        // Blocked until a power cycle: not even the right PIN, no decrement.
        assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x34));
        assert_eq!(c.retries(&mut auth, &mut env), Ok((5, true)));
        auth.power_up(&mut env);
        assert_eq!(c.retries(&mut auth, &mut env), Ok((5, false)));
        c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
        assert_eq!(
            c.retries(&mut auth, &mut env),
            Ok((8, false)),
            "success restores 8"
        );
    }
}

#[test]
fn eight_wrong_pins_block_the_pin_for_good() {
    let (mut env, mut auth, c) = with_pin(2);
    let mut last = Ok(vec![]);
    for i in 0..8 {
        if i % 3 == 0 {
            auth.power_up(&mut env);
        }
        last = c.get_token(&mut auth, &mut env, "9999", None, None);
    }
    assert_eq!(last, Err(0x32));
    assert_eq!(c.retries(&mut auth, &mut env), Ok((0, false)));
    auth.power_up(&mut env);
    assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x32));
    assert_eq!(c.change_pin(&mut auth, &mut env, PIN, "5678"), Err(0x32));
    // A restart does not help either.
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x32));
}

#[test]
fn a_failed_decrement_write_fails_the_request_without_comparing() {
    let (mut env, mut auth, c) = with_pin(2);
    let ka_before = key_agreement_bytes(&mut auth, &mut env, 2);
    // The first write of getPinToken is the decrement.
    env.store.fail_next_write();
    assert_eq!(
        c.get_token(&mut auth, &mut env, "0000", None, None),
        Err(0x7F)
    );
    // No compare happened: no regeneration, no mismatch counted.
    assert_eq!(key_agreement_bytes(&mut auth, &mut env, 2), ka_before);
    assert_eq!(c.retries(&mut auth, &mut env), Ok((8, false)));
    // ...and with the right PIN, no token either.
    env.store.fail_next_write();
    assert_eq!(c.get_token(&mut auth, &mut env, PIN, None, None), Err(0x7F));
    c.get_token(&mut auth, &mut env, PIN, None, None).unwrap();
}

/// A store that dies (fails every write) after `writes_left` more writes:
/// the process "crashes" right after them.
#[derive(Debug, Default)]
struct CrashingStore {
    inner: MemoryStore,
    writes_left: Option<usize>,
}

impl Store for CrashingStore {
    fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        self.inner.get(key)
    }
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.allow()?;
        self.inner.put(key, value)
    }
    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        self.allow()?;
        self.inner.delete(key)
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError> {
        self.inner.scan_prefix(prefix)
    }
}

impl CrashingStore {
    fn allow(&mut self) -> Result<(), StoreError> {
        match &mut self.writes_left {
            Some(0) => Err(StoreError::io(std::io::Error::other("crashed"))),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

#[derive(Debug)]
struct CrashEnv {
    base: TestEnv,
    store: CrashingStore,
}

impl Env for CrashEnv {
    type Store = CrashingStore;
    type Presence = ScriptedPresence;
    fn fill_random(&mut self, buf: &mut [u8]) {
        self.base.fill_random(buf);
    }
    fn now(&self) -> Duration {
        self.base.now()
    }
    fn unix_time(&self) -> u64 {
        self.base.unix_time()
    }
    fn store(&mut self) -> &mut CrashingStore {
        &mut self.store
    }
    fn presence(&mut self) -> &mut ScriptedPresence {
        self.base.presence()
    }
}

#[test]
fn a_crash_right_after_the_decrement_gives_no_free_guess() {
    // A kill between the decrement and anything after
    // it never gives a free guess. The store accepts exactly one more
    // write (the decrement) and then the process is gone.
    for pin in [PIN, "0000"] {
        let mut env = CrashEnv {
            base: TestEnv::new(9),
            store: CrashingStore::default(),
        };
        let c = PinClient::new(2);
        let mut auth = Authenticator::new(Config::default());
        auth.power_up(&mut env);
        c.set_pin(&mut auth, &mut env, PIN).unwrap();
        env.store.writes_left = Some(1);
        assert!(c.get_token(&mut auth, &mut env, pin, None, None).is_err());
        // Restart on the same store.
        env.store.writes_left = None;
        let mut auth = Authenticator::new(Config::default());
        auth.power_up(&mut env);
        assert_eq!(
            retries::retries(&env.store).unwrap(),
            7,
            "guess with {pin} was paid for"
        );
        assert_eq!(c.retries(&mut auth, &mut env), Ok((7, false)));
    }
}

#[test]
fn retries_survive_a_restart_and_mismatch_counter_does_not() {
    let (mut env, mut auth, c) = with_pin(1);
    for _ in 0..3 {
        let _ = c.get_token(&mut auth, &mut env, "0000", None, None);
    }
    assert_eq!(c.retries(&mut auth, &mut env), Ok((5, true)));
    let mut auth = Authenticator::new(Config::default());
    auth.power_up(&mut env);
    assert_eq!(c.retries(&mut auth, &mut env), Ok((5, false)));
    assert_eq!(
        env.store.get(PIN_RETRIES).unwrap(),
        Some(Zeroizing::new(vec![5]))
    );
}
