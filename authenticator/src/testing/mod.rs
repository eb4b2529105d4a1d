//! In-memory and deterministic implementations of the [`crate::env`]
//! traits: [`MemoryStore`] (also the binary's `serve --ephemeral` store) and
//! [`TestEnv`], in the manner of OpenSK's `TestEnv`: a seeded RNG, a manual
//! clock and scripted presence answers, so every CTAP test is repeatable.

mod memory_store;
mod pin_client;
mod test_env;

pub use memory_store::MemoryStore;
pub use pin_client::{
    PERM_ACFG, PERM_CM, PERM_GA, PERM_LBW, PERM_MC, PinClient, PlatformSecret, Token, blob_array,
    blob_set_request, client_pin, cm_request, config_request, pad_pin, pin_hash,
};
pub use test_env::{
    LoggedPresence, ScriptedPresence, SeededRng, TestEnv, TestStore, fuzz_process_cbor,
};
