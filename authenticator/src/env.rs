//! The authenticator's view of the world: one small trait per need, in the
//! manner of OpenSK's `api/` (store, user presence, clock, randomness).
//! Production implementations live in the binary; deterministic doubles in
//! [`crate::testing`].

use core::fmt;
use core::time::Duration;

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
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Register => "register",
            Operation::SignIn => "sign in",
            Operation::Reset => "reset",
            Operation::Select => "select this key",
            Operation::ManageCredentials => "manage credentials",
        })
    }
}

/// A request for a test of user presence, naming who asks and for what, so
/// the prompt can show it (the prompt must name the RP id the request names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceRequest<'a> {
    pub operation: Operation,
    /// The RP id exactly as the request named it; empty for device-wide operations.
    pub rp_id: &'a str,
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
}

/// The store failed (I/O, full disk): the request fails, nothing half-written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store error: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// Opaque key/value records, ordered by key. The authenticator owns the key
/// layout and the record encoding; the store only keeps bytes.
///
/// Every mutating call is durable when it returns `Ok`: a credential the
/// client saw acknowledged survives a crash.
pub trait Store {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Inserts or replaces.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;
    /// Returns whether the key existed.
    fn delete(&mut self, key: &[u8]) -> Result<bool, StoreError>;
    /// All records whose key starts with `prefix`, in key order.
    #[allow(clippy::type_complexity)] // the fixed contract: (key, value) pairs
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;

    /// How many records' keys start with `prefix`. getInfo asks on every
    /// call, so stores that can count without copying values (which hold
    /// private keys) should override this.
    fn count_prefix(&self, prefix: &[u8]) -> Result<usize, StoreError> {
        Ok(self.scan_prefix(prefix)?.len())
    }
}
