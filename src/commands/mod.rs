//! One module per subcommand.

pub mod attestation;
pub mod export;
pub mod import;
pub mod init;
pub mod list;
pub mod passphrase;
pub mod serve;

use std::path::PathBuf;

use anyhow::Result;

use softkey_vault::KdfParams;

use crate::cli::{KdfArgs, VaultArgs};

/// The Argon2id parameters the flags name, or calibrated on this machine
/// (design/security.md: at least 64 MiB, 0.5–1 s).
pub fn kdf_params(args: &KdfArgs) -> Result<KdfParams> {
    use anyhow::Context;
    if args.kdf_memory_mib.is_none() && args.kdf_iterations.is_none() {
        eprintln!("Calibrating Argon2id on this machine…");
        return KdfParams::calibrate().context("calibrating Argon2id");
    }
    let defaults = KdfParams::DEFAULT;
    let params = KdfParams {
        memory_kib: args
            .kdf_memory_mib
            .map_or(defaults.memory_kib, |m| m.saturating_mul(1024)),
        iterations: args.kdf_iterations.unwrap_or(defaults.iterations),
        parallelism: defaults.parallelism,
    };
    params
        .validate()
        .context("unsuitable --kdf-memory-mib / --kdf-iterations")?;
    Ok(params)
}

/// "Argon2id, 64 MiB, 3 passes" for progress messages.
pub fn describe_kdf(params: KdfParams) -> String {
    format!(
        "Argon2id, {} MiB, {} pass{}",
        params.memory_kib / 1024,
        params.iterations,
        if params.iterations == 1 { "" } else { "es" }
    )
}

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
