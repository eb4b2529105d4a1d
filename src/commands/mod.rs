//! One module per subcommand, and what they share: the vault path, opening
//! it with progress and advice, and the Argon2id parameters.

pub mod approve;
pub mod attestation;
pub mod completions;
pub mod config;
pub mod delete;
pub mod export;
pub mod import;
pub mod init;
pub mod list;
pub mod man;
pub mod passphrase;
pub mod pending;
pub mod progress;
pub mod serve;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use softkey_vault::{KdfParams, Vault};

use crate::cli::{KdfArgs, VaultArgs};

/// The Argon2id parameters the flags name, or calibrated on this machine
/// (design/security.md: at least 64 MiB, 0.5–1 s).
pub fn kdf_params(args: &KdfArgs) -> Result<KdfParams> {
    if args.kdf_memory_mib.is_none() && args.kdf_iterations.is_none() {
        return progress::run("Calibrating Argon2id on this machine", "done", || {
            KdfParams::calibrate()
        })
        .context(
            "calibrating Argon2id failed; pass --kdf-memory-mib and --kdf-iterations to choose \
             the cost yourself",
        );
    }
    let defaults = KdfParams::DEFAULT;
    let params = KdfParams {
        memory_kib: args
            .kdf_memory_mib
            .map_or(defaults.memory_kib, |m| m.saturating_mul(1024)),
        iterations: args.kdf_iterations.unwrap_or(defaults.iterations),
        parallelism: defaults.parallelism,
    };
    params.validate().context(
        "unsuitable --kdf-memory-mib / --kdf-iterations: use 8 to 4096 MiB and 1 to 64 passes",
    )?;
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

/// The vault path the user named (or the configuration file did), or the XDG default.
pub fn vault_path(args: &VaultArgs) -> Result<PathBuf> {
    match &args.vault {
        Some(path) => Ok(path.clone()),
        None => crate::paths::default_vault_path(),
    }
}

/// Opens the vault, turning its errors into advice.
pub fn open_vault(args: &VaultArgs) -> Result<Vault> {
    open_vault_or(args, |path| {
        anyhow::anyhow!(
            "the vault {} is in use by another softkey process (is `softkey serve` running? \
             stop it, or use the running key instead)",
            path.display()
        )
    })
}

/// [`open_vault`] with the caller's advice for a vault another process holds.
pub fn open_vault_or(args: &VaultArgs, locked: impl Fn(&Path) -> anyhow::Error) -> Result<Vault> {
    let path = vault_path(args)?;
    if !path.exists() {
        anyhow::bail!(
            "no vault at {}: create one with `softkey init{}`, or name another with --vault PATH",
            path.display(),
            args.vault
                .as_ref()
                .map(|p| format!(" --vault {}", p.display()))
                .unwrap_or_default()
        );
    }
    let passphrase = crate::passphrase::for_unlock(args.passphrase_file.as_deref())?;
    tracing::info!(path = %path.display(), "unlocking vault");
    // The header alone names the KDF cost; if it cannot be read, `open` says why.
    let label = match softkey_vault::read_kdf_params(&path) {
        Ok(params) => format!("Unlocking {} ({})", path.display(), describe_kdf(params)),
        Err(_) => format!("Unlocking {}", path.display()),
    };
    progress::run(&label, "unlocked", || Vault::open(&path, &passphrase)).map_err(|e| match e {
        softkey_vault::Error::Locked => locked(&path),
        other => anyhow::Error::new(other).context(format!("cannot open {}", path.display())),
    })
}
