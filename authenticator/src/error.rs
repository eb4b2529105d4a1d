//! Why a request failed, with its cause kept. The CTAP status byte is
//! derived from it once, at the dispatch edge ([`Error::status`]), the way
//! rustls derives a TLS alert from its own error: handlers say what went
//! wrong, the edge decides what the wire hears and logs the cause.

use core::fmt;

use crate::env::{StoreError, StoreErrorKind};
use crate::status::CtapError;

/// The authenticator's error: a status the spec prescribes for this request,
/// or a failure of the store underneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The spec answers the request with this status (CTAP 2.1 §8.2): a
    /// refusal, not a fault of the key.
    Status(CtapError),
    /// The store failed; nothing the request wrote was acknowledged.
    Store(StoreError),
}

impl Error {
    /// The status byte the client receives (CTAP 2.1 §8.2). A store that
    /// cannot grow answers CTAP2_ERR_KEY_STORE_FULL, which clients explain
    /// to the user; any other store failure is CTAP1_ERR_OTHER.
    pub fn status(&self) -> CtapError {
        match self {
            Error::Status(status) => *status,
            Error::Store(e) if e.kind() == StoreErrorKind::Full => CtapError::KeyStoreFull,
            Error::Store(_) => CtapError::Other,
        }
    }

    /// Whether the key itself failed (worth an error in the log), rather
    /// than answering as the spec says.
    pub fn is_fault(&self) -> bool {
        matches!(self, Error::Store(_))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Status(status) => write!(f, "{status}"),
            Error::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Status(_) => None,
            Error::Store(e) => Some(e),
        }
    }
}

impl From<CtapError> for Error {
    fn from(status: CtapError) -> Self {
        Error::Status(status)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

/// Lets tests and callers compare an outcome with the status they expect.
impl PartialEq<CtapError> for Error {
    fn eq(&self, other: &CtapError) -> bool {
        self.status() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_answers_key_store_full() {
        let full = StoreError::io(std::io::ErrorKind::StorageFull.into());
        assert_eq!(Error::from(full).status(), CtapError::KeyStoreFull);
        let too_big = StoreError::io(std::io::Error::from_raw_os_error(27)); // EFBIG
        assert_eq!(Error::from(too_big).status(), CtapError::KeyStoreFull);
    }

    #[test]
    fn other_store_failures_answer_other_and_keep_their_cause() {
        let denied = StoreError::io(std::io::ErrorKind::PermissionDenied.into());
        let e = Error::from(denied);
        assert_eq!(e.status(), CtapError::Other);
        assert!(e.is_fault());
        assert!(e.to_string().starts_with("store I/O error: "), "{e}");
        let corrupt = Error::from(StoreError::corrupt("credential record (5 byte key)"));
        assert_eq!(corrupt.status(), CtapError::Other);
        assert_eq!(
            corrupt.to_string(),
            "corrupt store record: credential record (5 byte key)"
        );
    }

    #[test]
    fn a_status_is_its_own_answer() {
        let e = Error::from(CtapError::NoCredentials);
        assert_eq!(e.status(), CtapError::NoCredentials);
        assert!(!e.is_fault());
        assert_eq!(e, CtapError::NoCredentials);
    }
}
