//! `softkey passphrase`: change the vault passphrase.
//!
//! While the passphrase is the vault's only key slot: a new data key, wrapped
//! under a new salt and Argon2id key, and every credential re-encrypted under
//! it (vault/FORMAT.md "Passphrase change"): an old copy of the vault and the
//! old passphrase open nothing written after the change. With other slots (a
//! recovery key, the TPM, the keyring) only the passphrase slot is replaced
//! and the data key stays, so they keep opening the vault (FORMAT.md "Key
//! slots").

use anyhow::Result;

use crate::cli::PassphraseArgs;

pub fn run(args: &PassphraseArgs) -> Result<()> {
    let mut locked = super::lock_vault(&args.vault)?;
    // The old passphrase (or recovery key) is asked even when the TPM could open the vault.
    let mut vault = super::unlock_vault_typed(&mut locked, args.vault.passphrase_file.as_deref())?;
    let new = crate::passphrase::new(args.new_passphrase_file.as_deref(), "vault")?;
    // After the prompts, never between them: see init.rs.
    let params = super::kdf_params(&args.kdf)?;
    let label = format!(
        "Deriving the new vault key ({})",
        super::describe_kdf(params)
    );
    match super::progress::run(&label, "changed", || vault.change_passphrase(&new, params)) {
        Ok(()) => {}
        // The new file is in place; only its directory entry may not be durable yet.
        Err(softkey_vault::Error::NotDurable(e)) => eprintln!(
            "softkey: warning: the vault directory could not be synced ({e}); until the next \
             successful write a crash may bring back the old passphrase"
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(
                "changing the passphrase failed; the old passphrase still unlocks the vault \
                 (try again)",
            ));
        }
    }
    println!("Changed the passphrase of {}", vault.path().display());
    Ok(())
}
