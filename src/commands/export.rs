//! `softkey export FILE`: an encrypted, CXF-shaped backup of the passkeys.

use anyhow::{Context, Result};
use softkey_authenticator::export_backup;

use crate::backup;
use crate::cli::ExportArgs;
use crate::store::Backing;
use crate::text::unix_now;

pub fn run(args: &ExportArgs) -> Result<()> {
    // What needs no passphrase first: the target and the vault. Calibration
    // waits until after the prompts (see init.rs).
    backup::check_target(&args.file, args.force)?;
    let mut locked = super::lock_vault(&args.vault)?;
    let vault = super::unlock_vault(&mut locked, args.vault.passphrase_file.as_deref())?;
    let account_id = vault.vault_id();
    let store = Backing::vault(vault);
    let contents = export_backup(&store)
        .context("cannot read the passkeys for the backup (nothing was written)")?;
    // Unlock first, then ask for the backup passphrase: a typo in the vault
    // passphrase should not cost the user two prompts.
    let passphrase = crate::passphrase::new(args.backup_passphrase_file.as_deref(), "backup")?;
    let params = super::kdf_params(&args.kdf)?;
    let json = backup::to_cxf(&contents, &account_id, unix_now())?;
    let label = format!("Sealing the backup ({})", super::describe_kdf(params));
    let sealed = super::progress::run(&label, "sealed", || {
        softkey_vault::backup::seal(json.as_bytes(), &passphrase, params)
    })
    .context("encrypting the backup failed (nothing was written)")?;
    backup::write_new_file(&args.file, &sealed, args.force)?;
    println!(
        "Exported {} passkey{} to {}",
        contents.credentials.len(),
        if contents.credentials.len() == 1 {
            ""
        } else {
            "s"
        },
        args.file.display()
    );
    println!(
        "It also restores non-discoverable credentials and the signature counter. The PIN is not \
         included. Restore with: softkey import {}",
        args.file.display()
    );
    Ok(())
}
