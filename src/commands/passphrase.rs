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
    let label = format!(
        "Deriving the new vault key ({})",
        super::describe_kdf(params)
    );
    super::progress::run(&label, "changed", || vault.change_passphrase(&new, params)).context(
        "changing the passphrase failed; the old passphrase still unlocks the vault (try again)",
    )?;
    println!("Changed the passphrase of {}", vault.path().display());
    Ok(())
}
