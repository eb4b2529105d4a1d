//! `softkey init`: create a new encrypted vault.

use anyhow::{Context, Result, bail};
use softkey_vault::Vault;

use crate::cli::InitArgs;
use crate::store::Backing;

pub fn run(args: &InitArgs) -> Result<()> {
    let path = super::vault_path(&args.vault)?;
    if path.exists() {
        bail!(
            "{} already exists; softkey never overwrites a vault (choose another --vault PATH)",
            path.display()
        );
    }
    // The prompt comes at once, calibration after it: keys typed during a
    // second of calibration would be echoed (the terminal echoes until the
    // prompt turns echo off). The KDF flags' ranges are checked by clap.
    let passphrase = crate::passphrase::for_new_vault(args.vault.passphrase_file.as_deref())?;
    let params = super::kdf_params(&args.kdf)?;
    let label = format!(
        "Creating {} ({})",
        path.display(),
        super::describe_kdf(params)
    );
    let vault = super::progress::run(&label, "created", || {
        Vault::create(&path, &passphrase, params)
    })
    .with_context(|| format!("cannot create {}", path.display()))?;
    super::attestation::provision(&mut Backing::vault(vault))?;
    println!("Created vault {}", path.display());
    let vault_flag = match &args.vault.vault {
        Some(p) => format!(" --vault {}", p.display()),
        None => String::new(),
    };
    println!("Serve it with: softkey serve{vault_flag}");
    println!("Its attestation CA (for relying parties): softkey attestation-ca{vault_flag}");
    Ok(())
}
