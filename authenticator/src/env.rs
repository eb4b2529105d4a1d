//! The authenticator's view of the world: one small trait per need, in the
//! manner of OpenSK's `api/` (store, user presence, clock, randomness).
//! Production implementations live in the binary; deterministic doubles in
//! [`crate::testing`].

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use zeroize::{Zeroize, Zeroizing};

/// Everything a command handler may touch outside its own RAM state.
pub trait Env {
    type Store: Store;
    type Presence: UserPresence;

    /// Fills `buf` with cryptographically secure random bytes.
    fn fill_random(&mut self, buf: &mut [u8]);
    /// Monotonic time since an arbitrary fixed origin (for timeouts, the
    /// reset window and token expiry). Never goes backwards.
    fn now(&self) -> Duration;
    /// Seconds since the Unix epoch, for "created" timestamps only.
    fn unix_time(&self) -> u64;
    fn store(&mut self) -> &mut Self::Store;
    fn presence(&mut self) -> &mut Self::Presence;

    /// A new RSA-2048 key as its primes p ‖ q (128 bytes each), made off the
    /// request path (e.g. by a background pool), or `None` to have
    /// makeCredential find the primes itself, which takes tens to hundreds
    /// of milliseconds.
    fn pregenerated_rsa_key(&mut self) -> Option<Zeroizing<Vec<u8>>> {
        None
    }
}

/// What the user is asked to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// makeCredential
    Register,
    /// getAssertion
    SignIn,
    /// authenticatorReset
    Reset,
    /// authenticatorSelection or a zero-length pinUvAuthParam probe
    Select,
    /// credential management
    ManageCredentials,
    /// clientPIN setPIN: whoever sets the first PIN controls the key
    SetPin,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Register => "register",
            Operation::SignIn => "sign in",
            Operation::Reset => "reset",
            Operation::Select => "select this key",
            Operation::ManageCredentials => "manage credentials",
            Operation::SetPin => "set the key's PIN",
        })
    }
}

/// Who a request comes from, as far as the key can tell. A prompt words
/// itself from this kind, never from the text of an RP id (a web page
/// chooses its RP id, and could choose one that reads like another kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requester<'a> {
    /// A CTAP2 request: its RP id exactly as received. It may be empty or
    /// hold any text at all; a prompt shows it escaped.
    Rp(&'a str),
    /// A CTAP1/U2F request: U2F sends only SHA-256 of the application id.
    U2fApplication(&'a [u8; 32]),
    /// A device-wide operation that names no one (reset, selection, setPIN).
    Device,
}

/// A request for a test of user presence, naming who asks and for what, so
/// the prompt can show it (the prompt must name the RP id the request names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceRequest<'a> {
    pub operation: Operation,
    pub requester: Requester<'a>,
    pub user_name: Option<&'a str>,
    pub user_display_name: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceError {
    /// The user said no: CTAP2_ERR_OPERATION_DENIED (0x27).
    Denied,
    /// Nobody answered in time: CTAP2_ERR_USER_ACTION_TIMEOUT (0x2F).
    Timeout,
    /// The platform sent CTAPHID_CANCEL: CTAP2_ERR_KEEPALIVE_CANCEL (0x2D).
    Cancelled,
}

/// Asks the user. Blocks until they answer, time runs out or the request is
/// cancelled.
pub trait UserPresence {
    fn check(&mut self, request: &PresenceRequest<'_>) -> Result<(), PresenceError>;

    /// Built-in user verification (CTAP 2.1 §6.5.2 performBuiltInUv): one
    /// gesture that shows the user present, as a fingerprint sensor's touch
    /// does, and says whether they are the person the key knows:
    /// `Ok(true)` verified, `Ok(false)` present but not matched. Asked only
    /// of a key configured with built-in UV ([`crate::Config::built_in_uv`]).
    /// The default has no way to verify anyone: presence alone, never a match.
    fn verify(&mut self, request: &PresenceRequest<'_>) -> Result<bool, PresenceError> {
        self.check(request).map(|()| false)
    }
}

/// Why the store failed. The CTAP status follows from it at the dispatch
/// edge ([`crate::Error::status`]): a full store answers KEY_STORE_FULL, any
/// other failure CTAP1_ERR_OTHER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Reading or writing failed (permissions, a broken disk).
    Io,
    /// The store cannot grow: no space left, a quota or a file size limit.
    Full,
    /// A stored record does not decode: the store was altered or damaged.
    Corrupt,
}

/// The store failed: the request fails, nothing half-written. Keeps its
/// cause, so whoever reports the failure can name it.
#[derive(Debug, Clone)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Arc<dyn std::error::Error + Send + Sync + 'static>,
}

impl StoreError {
    pub fn new(
        kind: StoreErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        StoreError {
            kind,
            source: Arc::from(source.into()),
        }
    }

    /// A record that does not decode; `what` names it.
    pub fn corrupt(what: impl Into<String>) -> Self {
        Self::new(StoreErrorKind::Corrupt, what.into())
    }

    /// An I/O failure, classified: running out of space is [`StoreErrorKind::Full`].
    pub fn io(error: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let kind = match error.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge => {
                StoreErrorKind::Full
            }
            _ => StoreErrorKind::Io,
        };
        Self::new(kind, error)
    }

    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StoreErrorKind::Io => "store I/O error",
            StoreErrorKind::Full => "store full",
            StoreErrorKind::Corrupt => "corrupt store record",
        };
        write!(f, "{what}: {}", self.source)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// Equal when the kind and the cause's message are: enough for tests, and a
/// cause has no other equality to offer.
impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.source.to_string() == other.source.to_string()
    }
}

impl Eq for StoreError {}

/// Opaque key/value records, ordered by key. The authenticator owns the key
/// layout and the record encoding; the store only keeps bytes.
///
/// Every mutating call is durable when it returns `Ok`: a credential the
/// client saw acknowledged survives a crash.
pub trait Store {
    /// The value stored under `key`, wiped when the caller drops it.
    fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError>;
    /// Inserts or replaces.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Returns whether the key existed.
    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError>;
    /// All records whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError>;

    /// The first record under `prefix` whose key sorts after `after` (the
    /// first of all with `None`), for walks that take one step per request.
    /// The default copies the whole prefix; ordered stores override it.
    fn next_in_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<StoredRecord>, StoreError> {
        Ok(self
            .scan_prefix(prefix)?
            .into_iter()
            .find(|stored| after.is_none_or(|after| stored.key.as_slice() > after)))
    }

    /// How many records' keys start with `prefix`. getInfo asks on every
    /// call, so stores that can count without copying values (which hold
    /// private keys) should override this.
    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        Ok(self.scan_prefix(prefix)?.len())
    }

    /// Applies `changes` in order, all or nothing: a real store makes the
    /// whole batch durable at once, so after a crash either every change or
    /// none is there. An empty batch changes nothing; deleting an absent
    /// key is allowed and has no effect.
    ///
    /// The default applies the changes one by one and is therefore *not*
    /// atomic (a failure or crash part-way leaves a prefix applied); stores
    /// that can do better must override it.
    fn apply(&mut self, changes: &[StoreChange]) -> Result<(), StoreError> {
        for change in changes {
            match change {
                StoreChange::Put(key, value) => self.put(key, value)?,
                StoreChange::Delete(key) => {
                    self.delete(key)?;
                }
            }
        }
        Ok(())
    }
}

/// One record read by [`Store::scan_prefix`], the read-side twin of
/// [`StoreChange`]: values may hold private keys, so both parts are wiped on
/// drop and `Debug` shows only lengths.
pub struct StoredRecord {
    pub key: Zeroizing<Vec<u8>>,
    pub value: Zeroizing<Vec<u8>>,
}

impl StoredRecord {
    pub fn new(key: &[u8], value: &[u8]) -> Self {
        StoredRecord {
            key: Zeroizing::new(key.to_vec()),
            value: Zeroizing::new(value.to_vec()),
        }
    }
}

impl fmt::Debug for StoredRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "StoredRecord({} byte key, {} byte value)",
            self.key.len(),
            self.value.len()
        )
    }
}

/// One change of a [`Store::apply`] batch. Values may hold private keys:
/// both parts are wiped on drop and `Debug` shows only lengths.
pub enum StoreChange {
    /// Inserts or replaces `key` with `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Removes `key` if present.
    Delete(Vec<u8>),
}

impl fmt::Debug for StoreChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreChange::Put(key, value) => {
                write!(f, "Put({} byte key, {} byte value)", key.len(), value.len())
            }
            StoreChange::Delete(key) => write!(f, "Delete({} byte key)", key.len()),
        }
    }
}

impl Drop for StoreChange {
    fn drop(&mut self) {
        match self {
            StoreChange::Put(key, value) => {
                key.zeroize();
                value.zeroize();
            }
            StoreChange::Delete(key) => key.zeroize(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A store with only the required methods: `apply` is the default.
    #[derive(Default)]
    struct Plain {
        records: BTreeMap<Vec<u8>, Vec<u8>>,
        /// Writes left before every write fails.
        budget: Option<usize>,
    }

    impl Plain {
        fn spend(&mut self) -> Result<(), StoreError> {
            match &mut self.budget {
                Some(0) => Err(StoreError::io(std::io::ErrorKind::StorageFull.into())),
                Some(n) => {
                    *n -= 1;
                    Ok(())
                }
                None => Ok(()),
            }
        }
    }

    impl Store for Plain {
        fn get(&self, key: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
            Ok(self.records.get(key).cloned().map(Zeroizing::new))
        }
        fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
            self.spend()?;
            self.records.insert(key.to_vec(), value.to_vec());
            Ok(())
        }
        fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError> {
            self.spend()?;
            Ok(self.records.remove(key).is_some())
        }
        fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<StoredRecord>, StoreError> {
            Ok(self
                .records
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| StoredRecord::new(k, v))
                .collect())
        }
    }

    #[test]
    fn default_apply_runs_changes_in_order() {
        let mut store = Plain::default();
        store.put(b"old", b"1").unwrap();
        store
            .apply(&[
                StoreChange::Put(b"a".to_vec(), b"x".to_vec()),
                StoreChange::Put(b"a".to_vec(), b"y".to_vec()),
                StoreChange::Delete(b"old".to_vec()),
                StoreChange::Delete(b"absent".to_vec()),
            ])
            .unwrap();
        assert_eq!(
            store.get(b"a").unwrap(),
            Some(Zeroizing::new(b"y".to_vec()))
        );
        assert_eq!(store.get(b"old").unwrap(), None);
        assert_eq!(store.count_prefix(b"").unwrap(), 1);
        store.apply(&[]).unwrap();
        assert_eq!(store.count_prefix(b"").unwrap(), 1);
    }

    #[test]
    fn default_apply_stops_at_the_first_failure() {
        let mut store = Plain {
            budget: Some(1),
            ..Plain::default()
        };
        let err = store
            .apply(&[
                StoreChange::Put(b"a".to_vec(), b"1".to_vec()),
                StoreChange::Put(b"b".to_vec(), b"2".to_vec()),
            ])
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Full);
        // Not atomic: the documented reason real stores override it.
        assert_eq!(
            store.get(b"a").unwrap(),
            Some(Zeroizing::new(b"1".to_vec()))
        );
        assert_eq!(store.get(b"b").unwrap(), None);
    }

    #[test]
    fn store_change_debug_shows_no_bytes() {
        let put = StoreChange::Put(b"cred/k".to_vec(), b"secret".to_vec());
        assert_eq!(format!("{put:?}"), "Put(6 byte key, 6 byte value)");
        let delete = StoreChange::Delete(b"k".to_vec());
        assert_eq!(format!("{delete:?}"), "Delete(1 byte key)");
    }
}
