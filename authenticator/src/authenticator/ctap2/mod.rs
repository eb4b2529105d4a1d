//! The CTAP2 commands (CTAP 2.1 §6), one file each, every one an entry
//! point on [`crate::Authenticator`] that [`crate::Authenticator`]'s dispatch
//! calls by [`crate::Command`]; plus the request parts they share
//! ([`request`]).

mod authenticator_config;
mod client_pin;
mod credential_management;
mod get_assertion;
mod get_info;
mod get_next_assertion;
mod large_blobs;
mod make_credential;
mod request;
mod reset;
mod selection;

pub use get_info::MAX_CREDENTIAL_COUNT_IN_LIST;
