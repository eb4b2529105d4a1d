//! `softkey import FILE`: merge an encrypted backup into the vault.
//!
//! Order matters for "nothing is lost": the backup is decrypted and parsed
//! completely before the vault is touched, and the authenticator writes the
//! whole merge as one atomic vault batch.

use std::fs;

use anyhow::{Context, Result};
use serde::Serialize;
use softkey_authenticator::{CredentialSummary, ImportReport, import_backup};

use crate::backup;
use crate::cli::ImportArgs;
use crate::shown::{NAME_CHARS, RP_ID_CHARS, quoted, shown};
use crate::store::Backing;
use crate::text::to_hex;

/// A backup larger than this is not one of ours (100,000 passkeys are ~60 MB).
const MAX_BACKUP_LEN: u64 = 1 << 30;
/// The most Argon2id work (memory × passes) a backup may ask for before we
/// run it: the most `softkey export` calibration ever picks (1 GiB × 8
/// passes). A backup is untrusted input; a hostile 83-byte file could
/// otherwise ask for 4 GiB × 64 passes, minutes of a machine's memory.
const MAX_KDF_WORK_KIB_PASSES: u64 = 1024 * 1024 * 8;

pub fn run(args: &ImportArgs) -> Result<()> {
    let sealed = read_backup(&args.file)?;
    // The cost, checked and shown before it is spent (and before the
    // passphrase is asked for).
    let params = softkey_vault::backup::kdf_params(&sealed).map_err(|e| {
        anyhow::Error::new(e).context(format!(
            "{} is not a usable softkey backup (the vault was not changed)",
            args.file.display()
        ))
    })?;
    check_kdf_cost(params, args.trust_kdf_cost, &args.file)?;
    // The vault, too, is checked (and held) before any passphrase is asked.
    let mut locked = super::lock_vault(&args.vault)?;
    let passphrase = crate::passphrase::existing(
        args.backup_passphrase_file.as_deref(),
        "Backup passphrase: ",
    )?;
    let label = format!(
        "Decrypting {} ({})",
        args.file.display(),
        super::describe_kdf(params)
    );
    let json = super::progress::run(&label, "decrypted", || {
        softkey_vault::backup::open(&sealed, &passphrase)
    })
    .map_err(|e| match e {
        softkey_vault::Error::WrongPassphraseOrCorrupt => anyhow::anyhow!(
            "cannot decrypt {}: wrong backup passphrase, or the file is damaged (the vault was not changed)",
            args.file.display()
        ),
        other => anyhow::Error::new(other).context(format!(
            "{} is not a usable softkey backup (the vault was not changed)",
            args.file.display()
        )),
    })?;
    let (contents, skipped) = backup::from_cxf(&json).with_context(|| {
        format!(
            "{} holds no usable passkeys (the vault was not changed)",
            args.file.display()
        )
    })?;
    let vault = super::unlock_vault(&mut locked, args.vault.passphrase_file.as_deref())?;
    let mut store = Backing::vault(vault);
    let report = import_backup(&mut store, &contents)
        .context("the import failed and the vault was not changed; fix the cause and try again")?;
    if !report.added.is_empty()
        && let Err(error) = store.compact()
    {
        // The import is already durable; only the faster-opening layout is missing.
        tracing::warn!(%error, "could not compact the vault after the import");
    }
    if args.json {
        println!("{}", report_json(&report, skipped.other_credentials)?);
    } else {
        print_report(&report, skipped.other_credentials);
    }
    Ok(())
}

/// Refuses a backup whose Argon2id costs more than [`MAX_KDF_WORK_KIB_PASSES`]
/// unless the user vouches for it.
fn check_kdf_cost(
    params: softkey_vault::KdfParams,
    trusted: bool,
    path: &std::path::Path,
) -> Result<()> {
    let work = u64::from(params.memory_kib) * u64::from(params.iterations);
    if work <= MAX_KDF_WORK_KIB_PASSES || trusted {
        return Ok(());
    }
    anyhow::bail!(
        "{} asks for {}, more than any softkey export picks by itself (at most 1024 MiB × 8 \
         passes); nothing was run and the vault was not changed. If you sealed this backup with \
         such settings yourself, pass --trust-kdf-cost.",
        path.display(),
        super::describe_kdf(params)
    )
}

fn read_backup(path: &std::path::Path) -> Result<Vec<u8>> {
    let len = fs::metadata(path)
        .with_context(|| format!("cannot read the backup {}", path.display()))?
        .len();
    if len > MAX_BACKUP_LEN {
        anyhow::bail!(
            "{} is too large to be a softkey backup; check the path",
            path.display()
        );
    }
    fs::read(path).with_context(|| format!("cannot read the backup {}", path.display()))
}

fn describe(c: &CredentialSummary) -> String {
    // Names come from the backup file: escaped (crate::shown).
    let user = c
        .user_name
        .as_deref()
        .or(c.user_display_name.as_deref())
        .map_or_else(|| "(no user name)".into(), |u| shown(u, NAME_CHARS));
    format!(
        "{} {user} (credential {})",
        quoted(&c.rp_id, RP_ID_CHARS, "(empty RP id)"),
        short_hex(&c.credential_id)
    )
}

fn short_hex(id: &[u8]) -> String {
    let hex = to_hex(id);
    match hex.get(..16) {
        Some(head) if hex.len() > 16 => format!("{head}…"),
        _ => hex,
    }
}

fn print_report(report: &ImportReport, other: usize) {
    println!(
        "Imported {} passkey{}.",
        report.added.len(),
        if report.added.len() == 1 { "" } else { "s" }
    );
    if !report.kept_existing.is_empty() {
        println!(
            "Kept {} already in the vault (same credential id; the vault's copy stays):",
            report.kept_existing.len()
        );
        for c in &report.kept_existing {
            println!("  {}", describe(c));
        }
    }
    if other > 0 {
        println!("Skipped {other} credential(s) that are not passkeys (passwords, notes, …).");
    }
    println!("Signature counter continues above {}.", report.sign_count);
}

/// `import --json`: what was added and kept, by RP, user and credential id.
#[derive(Serialize)]
struct ReportJson<'a> {
    added: Vec<ImportedJson<'a>>,
    kept_existing: Vec<ImportedJson<'a>>,
    skipped_other_credentials: usize,
    sign_count: u32,
    large_blobs_restored: bool,
}

#[derive(Serialize)]
struct ImportedJson<'a> {
    rp_id: &'a str,
    user_name: Option<&'a str>,
    credential_id: String,
}

impl<'a> From<&'a CredentialSummary> for ImportedJson<'a> {
    fn from(c: &'a CredentialSummary) -> Self {
        ImportedJson {
            rp_id: &c.rp_id,
            user_name: c.user_name.as_deref(),
            credential_id: to_hex(&c.credential_id),
        }
    }
}

fn report_json(report: &ImportReport, other: usize) -> Result<String> {
    let json = ReportJson {
        added: report.added.iter().map(ImportedJson::from).collect(),
        kept_existing: report
            .kept_existing
            .iter()
            .map(ImportedJson::from)
            .collect(),
        skipped_other_credentials: other,
        sign_count: report.sign_count,
        large_blobs_restored: report.large_blobs_restored,
    };
    serde_json::to_string(&json).context("encoding JSON")
}
