//! Key slots beyond the passphrase (vault/FORMAT.md "Key slots"): what opens them and how a
//! command tries them.
//!
//! A vault may have a TPM slot and a Secret Service slot, which open it with nobody typing, and
//! a recovery key, typed at the passphrase prompt. Every command that unlocks tries the sealed
//! slots first; when none exists or none opens (another machine, changed PCRs, a locked
//! keyring), it says why and asks for the passphrase or recovery key as before.

pub mod keyring;
pub mod recovery;
#[cfg(feature = "tpm")]
pub mod tpm;

use softkey_vault::{LockedVault, SlotInfo, SlotKind, Vault};

/// Opens the vault through its TPM or Secret Service slot, without asking (a TPM slot with a
/// PIN asks for the PIN on a terminal). `None` when there is no such slot or none opened;
/// each failure is printed first, so the person knows why the passphrase is asked.
pub fn unlock_unattended(locked: &mut LockedVault) -> Option<Vault> {
    let sealed: Vec<SlotInfo> = locked
        .slots()
        .iter()
        .filter(|s| matches!(s.kind, SlotKind::Tpm2 | SlotKind::SecretService))
        .cloned()
        .collect();
    for slot in sealed {
        let Some(blob) = slot.sealed.as_deref() else {
            continue;
        };
        let kek = match slot.kind {
            SlotKind::Tpm2 => unseal_tpm(blob),
            _ => keyring::fetch(blob),
        };
        let outcome = kek.and_then(|kek| {
            locked
                .unlock_sealed(slot.index, &kek)
                .map_err(anyhow::Error::new)
        });
        match outcome {
            Ok(vault) => {
                tracing::info!(slot = slot.index, kind = ?slot.kind, "vault unlocked unattended");
                return Some(vault);
            }
            Err(e) => eprintln!(
                "softkey: the {} slot did not open the vault: {e:#}",
                name(slot.kind)
            ),
        }
    }
    None
}

#[cfg(feature = "tpm")]
fn unseal_tpm(blob: &[u8]) -> anyhow::Result<zeroize::Zeroizing<[u8; 32]>> {
    let needs_pin = tpm::binding_of(blob).is_some_and(|b| b.pin);
    let tcti = tpm::tcti_from_environment();
    if !needs_pin {
        return tpm::unseal(&tcti, blob, None);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        anyhow::bail!("it needs its TPM PIN and there is no terminal to ask on");
    }
    let pin = zeroize::Zeroizing::new(
        rpassword::prompt_password("TPM PIN: ").map_err(anyhow::Error::new)?,
    );
    tpm::unseal(&tcti, blob, Some(pin.as_bytes()))
}

#[cfg(not(feature = "tpm"))]
fn unseal_tpm(_blob: &[u8]) -> anyhow::Result<zeroize::Zeroizing<[u8; 32]>> {
    anyhow::bail!("this softkey was built without TPM support (the `tpm` feature)")
}

/// How messages and `slot list` name a kind; also the name `slot add` and `slot remove` take.
pub fn name(kind: SlotKind) -> String {
    match kind {
        SlotKind::Passphrase => "passphrase".into(),
        SlotKind::RecoveryKey => "recovery-key".into(),
        SlotKind::Tpm2 => "tpm".into(),
        SlotKind::SecretService => "keyring".into(),
        SlotKind::Unknown(code) => format!("unknown kind {code}"),
    }
}

/// One line of `slot list` after the kind: what opens it and how it is bound.
pub fn details(slot: &SlotInfo) -> String {
    match (slot.kind, slot.kdf_params, slot.sealed.as_deref()) {
        (SlotKind::Passphrase, Some(p), _) => {
            format!("typed at unlock; {}", crate::commands::describe_kdf(p))
        }
        (SlotKind::RecoveryKey, _, _) => {
            "typed at the passphrase prompt; printed once when it was added".into()
        }
        (SlotKind::Tpm2, _, Some(blob)) => tpm_details(blob),
        (SlotKind::SecretService, _, _) => {
            "opens unattended while the desktop keyring is unlocked".into()
        }
        _ => "written by a newer softkey; kept, not used".into(),
    }
}

#[cfg(feature = "tpm")]
fn tpm_details(blob: &[u8]) -> String {
    match tpm::binding_of(blob) {
        Some(b) => format!("opens unattended on this machine's TPM; {}", b.describe()),
        None => "a TPM slot this softkey cannot read".into(),
    }
}

#[cfg(not(feature = "tpm"))]
fn tpm_details(_blob: &[u8]) -> String {
    "a TPM slot (this softkey was built without TPM support)".into()
}
