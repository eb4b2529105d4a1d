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

/// A discoverable credential record for tests: credProtect 1, no names, no
/// blobs, no stored key, created at 1000 + `order`. Tests change what they
/// need with struct update syntax.
#[cfg(test)]
pub(crate) fn credential_record(
    rp_id: &str,
    user_id: &[u8],
    credential_id: &[u8],
    order: u64,
) -> crate::record::CredentialRecord {
    crate::record::CredentialRecord {
        rp_id: rp_id.into(),
        rp_name: None,
        user_id: user_id.to_vec(),
        user_name: None,
        user_display_name: None,
        credential_id: credential_id.to_vec(),
        created: 1000 + order,
        order,
        cred_protect: 1,
        cred_blob: None,
        large_blob_key: None,
        private_key: None,
        cred_randoms: None,
        third_party_payment: false,
        properties: Default::default(),
    }
}
