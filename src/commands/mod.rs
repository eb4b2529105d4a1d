//! One module per subcommand, and what they share: the vault path, opening
//! it with progress and advice, and the Argon2id parameters.

pub mod approve;
pub mod attestation;
pub mod completions;
pub mod config;
pub mod conformance;
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
pub mod serve_uhid;
pub mod slot;
pub mod status;
pub mod uhid_relay;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use softkey_vault::{FixedCost, KdfParams, LockedVault, SlotKind, Vault};

use crate::cli::{KdfArgs, VaultArgs};

/// The Argon2id parameters the flags name; what they leave open is
/// calibrated on this machine (vault/FORMAT.md "Cryptography": at least 64 MiB,
/// 0.5–1 s). clap has checked the flags' ranges.
pub fn kdf_params(args: &KdfArgs) -> Result<KdfParams> {
    let fixed = FixedCost {
        memory_kib: args.kdf_memory_mib.map(|m| m.saturating_mul(1024)),
        iterations: args.kdf_iterations,
    };
    if let (Some(memory_kib), Some(iterations)) = (fixed.memory_kib, fixed.iterations) {
        return Ok(KdfParams {
            memory_kib,
            iterations,
            parallelism: KdfParams::DEFAULT.parallelism,
        });
    }
    progress::run("Calibrating Argon2id on this machine", "done", || {
        KdfParams::calibrate_around(fixed)
    })
    .context(
        "calibrating Argon2id failed; pass --kdf-memory-mib and --kdf-iterations to choose \
         the cost yourself",
    )
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

/// How many times a person may type the vault passphrase before a command
/// gives up (a passphrase file is read once).
const UNLOCK_ATTEMPTS: u32 = 3;

/// Opens the vault, turning its errors into advice: [`lock_vault`], then
/// [`unlock_vault`].
pub fn open_vault(args: &VaultArgs) -> Result<Vault> {
    let mut locked = lock_vault(args)?;
    unlock_vault(&mut locked, args.passphrase_file.as_deref())
}

/// [`open_vault`] with the caller's advice for a vault another process holds.
pub fn open_vault_or(args: &VaultArgs, in_use: impl Fn(&Path) -> anyhow::Error) -> Result<Vault> {
    let mut locked = lock_vault_or(args, in_use)?;
    unlock_vault(&mut locked, args.passphrase_file.as_deref())
}

/// Everything about the vault that needs no passphrase, checked before
/// anyone is asked for one: it exists, is a file, is not in use, and its
/// header is a vault's. Holds the lock until unlocked or dropped.
pub fn lock_vault(args: &VaultArgs) -> Result<LockedVault> {
    lock_vault_or(args, |path| {
        anyhow::anyhow!(
            "the vault {} is in use by another softkey process (is `softkey serve` running? \
             stop it, or use the running key instead)",
            path.display()
        )
    })
}

/// [`lock_vault`] with the caller's advice for a vault another process holds.
pub fn lock_vault_or(
    args: &VaultArgs,
    in_use: impl Fn(&Path) -> anyhow::Error,
) -> Result<LockedVault> {
    let path = vault_path(args)?;
    Vault::lock(&path).map_err(|e| match e {
        softkey_vault::Error::Locked => in_use(&path),
        softkey_vault::Error::NotFound(_) => anyhow::anyhow!(
            "no vault at {}: create one with `softkey init{}`, or name another with --vault PATH",
            path.display(),
            args.vault
                .as_ref()
                .map(|p| format!(" --vault {}", p.display()))
                .unwrap_or_default()
        ),
        other => anyhow::Error::new(other).context(format!("cannot open {}", path.display())),
    })
}

/// Unlocks: first through a TPM or Secret Service slot with nobody typing
/// ([`crate::slots::unlock_unattended`]), else with the passphrase (or
/// `passphrase_file`), or a recovery key typed at the same prompt. A wrong
/// one typed at the terminal is asked again, up to [`UNLOCK_ATTEMPTS`]
/// times; the lock is held throughout.
pub fn unlock_vault(locked: &mut LockedVault, passphrase_file: Option<&Path>) -> Result<Vault> {
    if let Some(vault) = crate::slots::unlock_unattended(locked) {
        return Ok(vault);
    }
    unlock_vault_typed(locked, passphrase_file)
}

/// Unlocks with what a person types (or `passphrase_file`) only: the passphrase or a recovery
/// key, never a TPM or keyring slot. For changing the slots themselves: a key that opens the
/// vault only on this machine must not be enough to make one that opens it anywhere (a new
/// passphrase or recovery key), as systemd-cryptenroll asks for an existing key.
pub fn unlock_vault_typed(
    locked: &mut LockedVault,
    passphrase_file: Option<&Path>,
) -> Result<Vault> {
    let path = locked.path().to_path_buf();
    let label = format!(
        "Unlocking {} ({})",
        path.display(),
        describe_kdf(locked.kdf_params())
    );
    let recovery_label = format!("Unlocking {} with the recovery key", path.display());
    let has = |kind| locked.slots().iter().any(|s| s.kind == kind);
    let has_recovery_key = has(SlotKind::RecoveryKey);
    let has_passphrase = has(SlotKind::Passphrase);
    let question = match (has_passphrase, has_recovery_key) {
        (true, true) => "Vault passphrase (or recovery key): ",
        (false, true) => "Vault recovery key: ",
        _ => "Vault passphrase: ",
    };
    let mut attempt = 1;
    loop {
        let typed = crate::passphrase::existing(passphrase_file, question)?;
        tracing::info!(path = %path.display(), "unlocking vault");
        // Text shaped like a recovery key opens the recovery-key slot; if it does not, it may
        // still be a passphrase of eight four-letter words.
        let recovery_key = crate::slots::recovery::parse(&typed).filter(|_| has_recovery_key);
        let by_recovery_key = recovery_key.map(|key| {
            progress::run(&recovery_label, "unlocked", || {
                locked.unlock_with_recovery_key(key.as_bytes())
            })
        });
        let result = match by_recovery_key {
            Some(Ok(vault)) => Ok(vault),
            Some(Err(softkey_vault::Error::WrongPassphraseOrCorrupt)) if has_passphrase => {
                progress::run(&label, "unlocked", || locked.unlock(&typed))
            }
            Some(Err(e)) => Err(e),
            None => progress::run(&label, "unlocked", || locked.unlock(&typed)),
        };
        match result {
            Ok(vault) => return Ok(vault),
            Err(softkey_vault::Error::WrongPassphraseOrCorrupt)
                if passphrase_file.is_none() && attempt < UNLOCK_ATTEMPTS =>
            {
                attempt += 1;
                let what = if has_recovery_key {
                    "wrong passphrase or recovery key"
                } else {
                    "wrong passphrase"
                };
                eprintln!("softkey: {what} (or a damaged vault); try again.");
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot open {}", path.display()))
                );
            }
        }
    }
}
