//! One module per subcommand.

pub mod attestation;
pub mod init;
pub mod list;
pub mod serve;

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::VaultArgs;

/// The vault path the user named, or the XDG default.
pub fn vault_path(args: &VaultArgs) -> Result<PathBuf> {
    match &args.vault {
        Some(path) => Ok(path.clone()),
        None => crate::paths::default_vault_path(),
    }
}

/// Opens the vault, turning its errors into advice.
pub fn open_vault(args: &VaultArgs) -> Result<softkey_vault::Vault> {
    let path = vault_path(args)?;
    if !path.exists() {
        anyhow::bail!(
            "no vault at {}: create one with `softkey init{}`",
            path.display(),
            args.vault
                .as_ref()
                .map(|p| format!(" --vault {}", p.display()))
                .unwrap_or_default()
        );
    }
    let passphrase = crate::passphrase::for_unlock(args.passphrase_file.as_deref())?;
    tracing::info!(path = %path.display(), "unlocking vault");
    softkey_vault::Vault::open(&path, &passphrase).map_err(|e| match e {
        softkey_vault::Error::Locked => anyhow::anyhow!(
            "the vault {} is in use by another softkey process (is `softkey serve` running?)",
            path.display()
        ),
        other => anyhow::Error::new(other).context(format!("cannot open {}", path.display())),
    })
}
