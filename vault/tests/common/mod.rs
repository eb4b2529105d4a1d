//! Helpers shared by the integration tests.

use std::path::PathBuf;

use softkey_vault::{KdfParams, Vault};

/// Small Argon2id parameters so that tests are fast (the dependencies are built optimised).
pub const FAST: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};

pub const PASS: &[u8] = b"correct horse battery staple";

/// A fresh temp directory and a vault path inside it (not yet created).
pub fn vault_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("softkey.vault");
    (dir, path)
}

/// All records of a vault, copied out.
#[allow(dead_code, reason = "not every test crate uses it")]
pub fn contents(v: &Vault) -> Vec<(Vec<u8>, Vec<u8>)> {
    v.scan_prefix(b"")
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}
