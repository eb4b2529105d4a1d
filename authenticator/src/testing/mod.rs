//! In-memory and deterministic implementations of the [`crate::env`]
//! traits: [`MemoryStore`] (also the binary's `serve --ephemeral` store) and
//! [`TestEnv`], in the manner of OpenSK's `TestEnv`: a seeded RNG, a manual
//! clock and scripted presence answers, so every CTAP test is repeatable.

mod memory_store;
mod pin_client;
mod test_env;

pub use memory_store::MemoryStore;
pub use pin_client::{PinClient, PlatformSecret, client_pin, pad_pin, pin_hash};
pub use test_env::{
    LoggedPresence, ScriptedPresence, SeededRng, TestEnv, TestStore, fuzz_process_cbor,
};
