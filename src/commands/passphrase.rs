//! `softkey passphrase`: change the vault passphrase.
//!
//! The data key is re-wrapped under a new salt and Argon2id key; the
//! credentials themselves are not re-encrypted (vault/FORMAT.md).

use anyhow::{Context, Result};

use crate::cli::PassphraseArgs;

pub fn run(args: &PassphraseArgs) -> Result<()> {
    let mut vault = super::open_vault(&args.vault)?;
    let new = crate::passphrase::new(args.new_passphrase_file.as_deref(), "vault")?;
    let params = super::kdf_params(&args.kdf)?;
    eprintln!(
        "Deriving the new vault key ({})…",
        super::describe_kdf(params)
    );
    vault
        .change_passphrase(&new, params)
        .context("changing the passphrase (nothing else in the vault changed; try again)")?;
    println!("Changed the passphrase of {}", vault.path().display());
    Ok(())
}
