//! CTAP status codes (CTAP 2.1 §8.2 "Status codes"), the crate's one error
//! enum. Every failure a command handler can meet ends as one of these bytes.

use core::fmt;

use crate::env::PresenceError;

/// A CTAP error status byte. `CTAP2_OK` (0x00) is not an error and so not a
/// variant; the response encoder writes it for `Ok`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CtapError {
    /// CTAP1_ERR_INVALID_COMMAND
    InvalidCommand = 0x01,
    /// CTAP1_ERR_INVALID_PARAMETER
    InvalidParameter = 0x02,
    /// CTAP1_ERR_INVALID_LENGTH
    InvalidLength = 0x03,
    /// CTAP1_ERR_INVALID_SEQ
    InvalidSeq = 0x04,
    /// CTAP1_ERR_TIMEOUT
    Timeout = 0x05,
    /// CTAP1_ERR_CHANNEL_BUSY
    ChannelBusy = 0x06,
    /// CTAP1_ERR_LOCK_REQUIRED
    LockRequired = 0x0A,
    /// CTAP1_ERR_INVALID_CHANNEL
    InvalidChannel = 0x0B,
    /// CTAP2_ERR_CBOR_UNEXPECTED_TYPE
    CborUnexpectedType = 0x11,
    /// CTAP2_ERR_INVALID_CBOR
    InvalidCbor = 0x12,
    /// CTAP2_ERR_MISSING_PARAMETER
    MissingParameter = 0x14,
    /// CTAP2_ERR_LIMIT_EXCEEDED
    LimitExceeded = 0x15,
    /// CTAP2_ERR_UNSUPPORTED_EXTENSION (CTAP 2.0; reserved in 2.1)
    UnsupportedExtension = 0x16,
    /// CTAP2_ERR_FP_DATABASE_FULL
    FpDatabaseFull = 0x17,
    /// CTAP2_ERR_LARGE_BLOB_STORAGE_FULL
    LargeBlobStorageFull = 0x18,
    /// CTAP2_ERR_CREDENTIAL_EXCLUDED
    CredentialExcluded = 0x19,
    /// CTAP2_ERR_PROCESSING
    Processing = 0x21,
    /// CTAP2_ERR_INVALID_CREDENTIAL
    InvalidCredential = 0x22,
    /// CTAP2_ERR_USER_ACTION_PENDING
    UserActionPending = 0x23,
    /// CTAP2_ERR_OPERATION_PENDING
    OperationPending = 0x24,
    /// CTAP2_ERR_NO_OPERATIONS
    NoOperations = 0x25,
    /// CTAP2_ERR_UNSUPPORTED_ALGORITHM
    UnsupportedAlgorithm = 0x26,
    /// CTAP2_ERR_OPERATION_DENIED
    OperationDenied = 0x27,
    /// CTAP2_ERR_KEY_STORE_FULL
    KeyStoreFull = 0x28,
    /// CTAP2_ERR_NOT_BUSY (CTAP 2.0; reserved in 2.1)
    NotBusy = 0x29,
    /// CTAP2_ERR_NO_OPERATION_PENDING (CTAP 2.0; reserved in 2.1)
    NoOperationPending = 0x2A,
    /// CTAP2_ERR_UNSUPPORTED_OPTION
    UnsupportedOption = 0x2B,
    /// CTAP2_ERR_INVALID_OPTION
    InvalidOption = 0x2C,
    /// CTAP2_ERR_KEEPALIVE_CANCEL
    KeepaliveCancel = 0x2D,
    /// CTAP2_ERR_NO_CREDENTIALS
    NoCredentials = 0x2E,
    /// CTAP2_ERR_USER_ACTION_TIMEOUT
    UserActionTimeout = 0x2F,
    /// CTAP2_ERR_NOT_ALLOWED
    NotAllowed = 0x30,
    /// CTAP2_ERR_PIN_INVALID
    PinInvalid = 0x31,
    /// CTAP2_ERR_PIN_BLOCKED
    PinBlocked = 0x32,
    /// CTAP2_ERR_PIN_AUTH_INVALID
    PinAuthInvalid = 0x33,
    /// CTAP2_ERR_PIN_AUTH_BLOCKED
    PinAuthBlocked = 0x34,
    /// CTAP2_ERR_PIN_NOT_SET
    PinNotSet = 0x35,
    /// CTAP2_ERR_PUAT_REQUIRED (CTAP 2.0: PIN_REQUIRED)
    PuatRequired = 0x36,
    /// CTAP2_ERR_PIN_POLICY_VIOLATION
    PinPolicyViolation = 0x37,
    /// CTAP2_ERR_PIN_TOKEN_EXPIRED (CTAP 2.0; reserved in 2.1)
    PinTokenExpired = 0x38,
    /// CTAP2_ERR_REQUEST_TOO_LARGE
    RequestTooLarge = 0x39,
    /// CTAP2_ERR_ACTION_TIMEOUT
    ActionTimeout = 0x3A,
    /// CTAP2_ERR_UP_REQUIRED
    UpRequired = 0x3B,
    /// CTAP2_ERR_UV_BLOCKED
    UvBlocked = 0x3C,
    /// CTAP2_ERR_INTEGRITY_FAILURE
    IntegrityFailure = 0x3D,
    /// CTAP2_ERR_INVALID_SUBCOMMAND
    InvalidSubcommand = 0x3E,
    /// CTAP2_ERR_UV_INVALID
    UvInvalid = 0x3F,
    /// CTAP2_ERR_UNAUTHORIZED_PERMISSION
    UnauthorizedPermission = 0x40,
    /// CTAP1_ERR_OTHER: internal failures (store I/O, corrupt device state).
    Other = 0x7F,
}

impl CtapError {
    /// The status byte on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl fmt::Display for CtapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CTAP status 0x{:02X} ({self:?})", self.code())
    }
}

impl std::error::Error for CtapError {}

impl From<PresenceError> for CtapError {
    fn from(e: PresenceError) -> Self {
        match e {
            PresenceError::Denied => CtapError::OperationDenied,
            PresenceError::Timeout => CtapError::UserActionTimeout,
            PresenceError::Cancelled => CtapError::KeepaliveCancel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_match_ctap_2_1_table() {
        // CTAP 2.1 §8.2: spot-check the values clients branch on.
        assert_eq!(CtapError::InvalidCommand.code(), 0x01);
        assert_eq!(CtapError::CborUnexpectedType.code(), 0x11);
        assert_eq!(CtapError::InvalidCbor.code(), 0x12);
        assert_eq!(CtapError::MissingParameter.code(), 0x14);
        assert_eq!(CtapError::CredentialExcluded.code(), 0x19);
        assert_eq!(CtapError::UnsupportedAlgorithm.code(), 0x26);
        assert_eq!(CtapError::OperationDenied.code(), 0x27);
        assert_eq!(CtapError::InvalidOption.code(), 0x2C);
        assert_eq!(CtapError::NoCredentials.code(), 0x2E);
        assert_eq!(CtapError::NotAllowed.code(), 0x30);
        assert_eq!(CtapError::PinNotSet.code(), 0x35);
        assert_eq!(CtapError::UnauthorizedPermission.code(), 0x40);
        assert_eq!(CtapError::Other.code(), 0x7F);
    }

    #[test]
    fn presence_errors_map_to_distinct_statuses() {
        assert_eq!(
            CtapError::from(PresenceError::Denied),
            CtapError::OperationDenied
        );
        assert_eq!(
            CtapError::from(PresenceError::Timeout),
            CtapError::UserActionTimeout
        );
        assert_eq!(
            CtapError::from(PresenceError::Cancelled),
            CtapError::KeepaliveCancel
        );
    }
}
