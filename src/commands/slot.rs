//! `softkey slot list|add|remove`: the vault's key slots (vault/FORMAT.md "Key slots",
//! SECURITY.md "Key slots").
//!
//! Adding or removing a slot unlocks the vault with the passphrase or recovery key, never
//! through the TPM or keyring (SECURITY.md "Key slots"), and wraps the same data key for the
//! new one, so the others keep working. A new TPM slot is unsealed once before it is
//! added, so a binding that cannot open is refused now, not at the next start.

use anyhow::{Context, Result, bail};
use softkey_vault::{KdfParams, NewSlot, SlotKind, Vault};

use crate::cli::{SlotAddArgs, SlotArgs, SlotCommand, SlotKindArg, VaultArgs};
use crate::slots::{self, keyring, recovery};

/// A recovery key carries 160 random bits: Argon2id at its smallest cost adds nothing but
/// time, and keeps one code path for typed secrets.
const RECOVERY_KDF: KdfParams = KdfParams {
    memory_kib: KdfParams::MIN_MEMORY_KIB,
    iterations: 1,
    parallelism: 1,
};

pub fn run(args: &SlotArgs) -> Result<()> {
    match &args.command {
        SlotCommand::List { vault, json } => list(vault, *json),
        SlotCommand::Add(add_args) => add(add_args),
        SlotCommand::Remove { kind, vault } => remove(*kind, vault),
    }
}

fn kind_of(arg: SlotKindArg) -> SlotKind {
    match arg {
        SlotKindArg::Passphrase => SlotKind::Passphrase,
        SlotKindArg::RecoveryKey => SlotKind::RecoveryKey,
        SlotKindArg::Tpm => SlotKind::Tpm2,
        SlotKindArg::Keyring => SlotKind::SecretService,
    }
}

fn list(args: &VaultArgs, json: bool) -> Result<()> {
    let locked = super::lock_vault(args)?;
    if json {
        let items: Vec<serde_json::Value> = locked
            .slots()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "index": s.index,
                    "kind": slots::name(s.kind),
                    "details": slots::details(s),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&items).context("encoding JSON")?
        );
        return Ok(());
    }
    println!("Key slots of {}:", locked.path().display());
    for s in locked.slots() {
        println!("  {:<13} {}", slots::name(s.kind), slots::details(s));
    }
    Ok(())
}

fn add(args: &SlotAddArgs) -> Result<()> {
    let kind = kind_of(args.kind);
    if kind != SlotKind::Tpm2 && (!args.tpm_pcrs.is_empty() || args.tpm_pin) {
        bail!("--tpm-pcrs and --tpm-pin belong to `softkey slot add tpm`");
    }
    let mut locked = super::lock_vault(&args.vault)?;
    let mut vault = super::unlock_vault_typed(&mut locked, args.vault.passphrase_file.as_deref())?;
    let replaced = vault.slots().into_iter().find(|s| s.kind == kind);
    match kind {
        SlotKind::Passphrase => {
            let new = crate::passphrase::new(args.new_passphrase_file.as_deref(), "vault")?;
            let params = super::kdf_params(&args.kdf)?;
            let label = format!(
                "Deriving the new vault key ({})",
                super::describe_kdf(params)
            );
            settle(super::progress::run(&label, "added", || {
                vault.add_slot(NewSlot::Passphrase {
                    passphrase: &new,
                    params,
                })
            }))?;
        }
        SlotKind::RecoveryKey => {
            let key = recovery::generate()?;
            settle(vault.add_slot(NewSlot::RecoveryKey {
                key: key.as_bytes(),
                params: RECOVERY_KDF,
            }))?;
            // Shown only once it is durable: a key printed for a slot that failed would be a
            // trap on the day it is needed.
            println!(
                "Recovery key for {}:\n\n    {}\n\nWrite it down and keep it away from this \
                 computer. It opens the vault at the passphrase prompt when the passphrase is \
                 forgotten or the TPM is gone; it is not stored anywhere and cannot be shown \
                 again (`softkey slot add recovery-key` makes a new one and voids this one).",
                vault.path().display(),
                *recovery::display(&key)
            );
        }
        SlotKind::Tpm2 => add_tpm(&mut vault, args)?,
        _ => {
            let (blob, kek) = keyring::store(&vault.path().display().to_string())?;
            let added = settle(vault.add_slot(NewSlot::Sealed {
                kind,
                blob: &blob,
                kek: &kek,
            }));
            if added.is_err() {
                // Not in the vault: the item would only be a stray copy of a key.
                let _ = keyring::forget(&blob);
            }
            added?;
        }
    }
    if let Some(old) = replaced.as_ref().and_then(|s| s.sealed.as_deref())
        && kind == SlotKind::SecretService
        && let Err(e) = keyring::forget(old)
    {
        eprintln!("softkey: the replaced slot's keyring item was not deleted: {e:#}");
    }
    if kind != SlotKind::RecoveryKey {
        println!(
            "{} the {} slot of {}",
            if replaced.is_some() {
                "Replaced"
            } else {
                "Added"
            },
            slots::name(kind),
            vault.path().display()
        );
    }
    Ok(())
}

#[cfg(feature = "tpm")]
fn add_tpm(vault: &mut Vault, args: &SlotAddArgs) -> Result<()> {
    use crate::slots::tpm;
    let binding = tpm::Binding {
        pcrs: args.tpm_pcrs.clone(),
        pin: args.tpm_pin,
    };
    let pin = if args.tpm_pin {
        Some(crate::passphrase::new(
            args.tpm_pin_file.as_deref(),
            "TPM PIN",
        )?)
    } else {
        None
    };
    let tcti = tpm::tcti_from_environment();
    let (blob, kek) = tpm::seal(&tcti, &binding, pin.as_ref().map(|p| p.as_slice()))?;
    // Proves the binding opens on this machine now, before the vault depends on it.
    let check = tpm::unseal(&tcti, &blob, pin.as_ref().map(|p| p.as_slice()))
        .context("the TPM sealed the key but would not unseal it again; nothing was added")?;
    if !bool::from(subtle::ConstantTimeEq::ct_eq(&check[..], &kek[..])) {
        bail!("the TPM unsealed another key than it sealed; nothing was added");
    }
    settle(vault.add_slot(NewSlot::Sealed {
        kind: SlotKind::Tpm2,
        blob: &blob,
        kek: &kek,
    }))?;
    println!("The TPM slot: {}.", binding.describe());
    Ok(())
}

#[cfg(not(feature = "tpm"))]
fn add_tpm(_vault: &mut Vault, _args: &SlotAddArgs) -> Result<()> {
    bail!("this softkey was built without TPM support (the `tpm` feature)")
}

fn remove(kind_arg: SlotKindArg, args: &VaultArgs) -> Result<()> {
    let kind = kind_of(kind_arg);
    let mut locked = super::lock_vault(args)?;
    let mut vault = super::unlock_vault_typed(&mut locked, args.passphrase_file.as_deref())?;
    let blob = vault
        .slots()
        .into_iter()
        .find(|s| s.kind == kind)
        .and_then(|s| s.sealed);
    match vault.remove_slot(kind) {
        Ok(()) => {}
        Err(softkey_vault::Error::NotDurable(e)) => warn_not_durable(&e),
        Err(e) => return Err(anyhow::Error::new(e).context("the slot was not removed")),
    }
    if let (SlotKind::SecretService, Some(blob)) = (kind, blob.as_deref())
        && let Err(e) = keyring::forget(blob)
    {
        eprintln!("softkey: the keyring item was not deleted: {e:#}");
    }
    println!(
        "Removed the {} slot of {}",
        slots::name(kind),
        vault.path().display()
    );
    Ok(())
}

/// The outcome of adding a slot: a failed directory fsync leaves the new header in place (the
/// handle uses it), so the slot counts as added, with a warning; any other error added nothing.
fn settle(result: Result<(), softkey_vault::Error>) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(softkey_vault::Error::NotDurable(e)) => {
            warn_not_durable(&e);
            Ok(())
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context("the slot was not added; the vault is unchanged"))
        }
    }
}

fn warn_not_durable(e: &std::io::Error) {
    eprintln!(
        "softkey: warning: the change is in the vault file, but its directory could not be \
         synced ({e}); until the next successful write a crash may bring back the vault as it \
         was before. Check the disk, then run `softkey slot list`."
    );
}
