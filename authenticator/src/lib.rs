//! CTAP 2.1 and CTAP1/U2F authenticator logic with no I/O: it reaches the
//! world only through [`env::Env`].
//!
//! Entry point: [`Authenticator::process_cbor`] takes one CTAP2 message
//! (command byte + canonical CBOR) and returns status byte + canonical CBOR.
//! Requests are decoded by our own strict codec ([`cbor`]), not a general
//! CBOR crate, so that non-canonical input is refused and every response is
//! canonical (CTAP 2.1 §8).

pub mod cbor;
pub mod env;
pub mod status;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

mod attestation;
mod attestation_ca;
mod auth_data;
mod authenticator;
mod backup;
mod command;
mod config;
mod counter;
mod cred_mgmt;
mod credential;
mod credential_management;
mod delete;
mod error;
mod extensions;
mod get_assertion;
mod get_info;
mod get_next_assertion;
mod keys;
mod large_blobs;
mod lookup;
mod make_credential;
mod memory_store;
mod pin;
mod presence;
mod record;
mod request;
mod reset;
mod secrets;
mod selection;
pub mod store_keys;
mod u2f;

pub use attestation::{
    AttestationMode, attestation_mode, enterprise_rp_ids, set_attestation_mode,
    set_enterprise_rp_ids,
};
pub use attestation_ca::{attestation_ca_pem, provision_attestation};
pub use authenticator::{
    Authenticator, Config, DEFAULT_AAGUID, DEFAULT_MAX_DISCOVERABLE_CREDENTIALS, MAX_MSG_SIZE,
};
pub use backup::{
    BackupAlgorithm, BackupContents, BackupCredential, BackupError, HmacCredentials, ImportReport,
    export_backup, import_backup,
};
pub use command::Command;
pub use credential::{CREDENTIAL_ID_LEN, MAX_CREDENTIAL_ID_LEN};
pub use delete::{CredentialSelector, delete_credentials, find_credentials};
pub use env::{
    Env, Operation, PresenceError, PresenceRequest, Requester, Store, StoreChange, StoreError,
    StoreErrorKind, StoredRecord, UserPresence,
};
pub use error::Error;
pub use get_info::MAX_CREDENTIAL_COUNT_IN_LIST;
pub use memory_store::MemoryStore;
pub use record::{CredentialSummary, list_credentials};
pub use status::CtapError;
pub use u2f::StatusWord as U2fStatus;
