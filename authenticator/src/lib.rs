//! CTAP 2.1 and CTAP1/U2F authenticator logic with no I/O: it reaches the
//! world only through [`env::Env`].
//!
//! Entry point: [`Authenticator::process_cbor`] takes one CTAP2 message
//! (command byte + canonical CBOR) and returns status byte + canonical CBOR;
//! [`Authenticator::process_apdu`] takes one U2F APDU. Requests are decoded
//! by our own strict codec ([`cbor`]), not a general CBOR crate, so that
//! non-canonical input is refused and every response is canonical (CTAP 2.1
//! §8).
//!
//! The house, from the door inwards:
//! - `authenticator/`: the [`Authenticator`] type (power-up, dispatch, its
//!   private RAM state), with the CTAP2 commands one file each in
//!   `authenticator/ctap2/` and CTAP1/U2F in `authenticator/u2f/`. Only this
//!   subtree touches the authenticator's fields.
//! - `admin/`: the host-side API (backup, delete, list, attestation
//!   settings), for a store no authenticator serves.
//! - the domain, which knows no command: credentials and their IDs
//!   (`credential`, `keys`, `record`, `lookup`), the signature counter, the
//!   device secrets, PIN/UV (`pin/`), extensions, attestation, the
//!   large-blob array, and the RAM state types (`state/`).
//! - the edges: [`env`] (the world), [`store_keys`] (the store layout),
//!   [`Error`] and [`CtapError`] (failures and their wire status),
//!   [`Command`], [`MemoryStore`], and `testing` (test doubles, behind the
//!   `testing` feature).

pub mod cbor;
pub mod env;
pub mod status;
pub mod store_keys;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

mod admin;
mod attestation;
mod attestation_ca;
mod attestation_formats;
mod auth_data;
mod authenticator;
mod command;
mod counter;
mod cred_store_state;
mod credential;
mod credential_index;
mod credential_properties;
mod error;
mod extensions;
mod keys;
mod large_blob_array;
mod lookup;
mod memory_store;
mod pin;
mod presence;
mod profile;
mod record;
mod response_overrides;
mod secrets;
mod settings;
mod state;

pub use admin::backup::{
    BackupAlgorithm, BackupContents, BackupCredential, BackupError, HmacCredentials, ImportReport,
    export_backup, import_backup,
};
pub use admin::delete::{CredentialSelector, delete_credentials, find_credentials};
pub use admin::large_blob::{CompressedBlob, large_blob, set_large_blob};
pub use admin::list::{CredentialSummary, list_credentials};
pub use admin::non_discoverable::{
    add_non_discoverable, delete_non_discoverable, non_discoverable_credentials,
    set_non_discoverable_properties,
};
pub use admin::pin::{factory_reset, provision_pin, remove_pin, set_always_uv, set_pin_retries};
pub use admin::{
    AttestationMode, attestation_ca_pem, attestation_mode, enterprise_rp_ids,
    provision_attestation, provision_test_attestation, set_attestation_mode, set_enterprise_rp_ids,
};
pub use authenticator::{
    Authenticator, Config, DEFAULT_AAGUID, DEFAULT_MAX_DISCOVERABLE_CREDENTIALS,
    MAX_CREDENTIAL_COUNT_IN_LIST, MAX_MSG_SIZE, U2fStatus,
};
pub use command::Command;
pub use credential::{CREDENTIAL_ID_LEN, MAX_CREDENTIAL_ID_LEN};
pub use credential_properties::{
    CounterMode, CredentialProperties, SignCounterKind, credential_properties,
    set_credential_properties,
};
pub use env::{
    Env, Operation, PresenceError, PresenceRequest, Requester, Store, StoreChange, StoreError,
    StoreErrorKind, StoredRecord, UserPresence,
};
pub use error::Error;
pub use keys::{
    Algorithm, DEFAULT_ENABLED as DEFAULT_ALGORITHMS, SUPPORTED as SUPPORTED_ALGORITHMS,
    generate_rsa_primes,
};
pub use memory_store::MemoryStore;
pub use profile::{CtapVersion, ExtensionSet};
pub use response_overrides::ResponseOverrides;
pub use status::CtapError;
