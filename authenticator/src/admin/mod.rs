//! The host-side API, in one place: what `softkey` does to a key's store
//! while no authenticator serves it (CTAP has no command for these). Backup
//! export and import, deleting and listing credentials live here; the
//! attestation settings and provisioning of `softkey init` / `softkey
//! attestation` are re-exported from the attestation modules, which own
//! those records' format because makeCredential reads them on every request.

pub(crate) mod backup;
pub(crate) mod delete;
pub(crate) mod large_blob;
pub(crate) mod list;
pub(crate) mod non_discoverable;
pub(crate) mod pin;

pub use crate::attestation::{
    AttestationMode, attestation_mode, enterprise_rp_ids, set_attestation_mode,
    set_enterprise_rp_ids,
};
pub use crate::attestation_ca::{
    attestation_ca_pem, provision_attestation, provision_test_attestation,
};
