//! Deterministic implementations of the [`crate::env`] traits for tests, in
//! the manner of OpenSK's `TestEnv`: a seeded RNG, a manual clock and
//! scripted presence answers, so every CTAP test is repeatable; and a
//! platform-side PIN client. Built only for this crate's tests and with the
//! `testing` feature (other crates' tests, the fuzz targets), never into
//! the product.

mod pin_client;
mod test_env;

pub use crate::MemoryStore;
pub use pin_client::{
    PERM_ACFG, PERM_CM, PERM_GA, PERM_LBW, PERM_MC, PinClient, PlatformSecret, Token, blob_array,
    blob_set_request, client_pin, cm_request, config_request, pad_pin, pin_hash,
};
pub use test_env::{
    LoggedPresence, ScriptedPresence, SeededRng, TestEnv, TestStore, fuzz_process_cbor,
};
