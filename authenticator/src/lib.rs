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
pub mod testing;

mod auth_data;
mod authenticator;
mod counter;
mod credential;
mod get_assertion;
mod get_info;
mod get_next_assertion;
mod lookup;
mod make_credential;
mod presence;
mod record;
mod request;
mod secrets;

pub use authenticator::{Authenticator, Config, DEFAULT_AAGUID, MAX_MSG_SIZE};
pub use credential::CREDENTIAL_ID_LEN;
pub use env::{Env, Operation, PresenceError, PresenceRequest, Store, StoreError, UserPresence};
pub use get_info::MAX_CREDENTIAL_COUNT_IN_LIST;
pub use record::{CredentialSummary, list_credentials};
pub use status::CtapError;
