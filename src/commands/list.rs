//! `softkey list`: the discoverable credentials in the vault.

use anyhow::{Context, Result};
use softkey_authenticator::{CredentialSummary, list_credentials};

use crate::cli::ListArgs;
use crate::shown::{NAME_CHARS, RP_ID_CHARS, shown};
use crate::store::Backing;
use crate::text::{CredentialJson, rfc3339, table, to_hex};

pub fn run(args: &ListArgs) -> Result<()> {
    let vault = super::open_vault(&args.vault)?;
    let credentials = list_credentials(&Backing::vault(vault)).context(
        "cannot list the passkeys: the vault holds a damaged record (restore the vault from a \
         backup)",
    )?;
    if args.json {
        println!("{}", to_json(&credentials)?);
    } else if credentials.is_empty() {
        println!("No discoverable credentials yet.");
    } else {
        print!("{}", to_table(&credentials));
    }
    Ok(())
}

fn to_json(credentials: &[CredentialSummary]) -> Result<String> {
    let items: Vec<CredentialJson<'_>> = credentials.iter().map(CredentialJson::from).collect();
    serde_json::to_string(&items).context("encoding JSON")
}

/// Hex digits of the credential id the table shows: enough for `softkey
/// delete ID` to find it (64 bits; it says so if a prefix is ever ambiguous).
const ID_DIGITS: usize = 16;

fn to_table(credentials: &[CredentialSummary]) -> String {
    let rows: Vec<[String; 5]> = credentials
        .iter()
        .map(|c| {
            let hex = to_hex(&c.credential_id);
            // Names come from web pages: escaped (crate::shown).
            [
                hex.get(..ID_DIGITS).unwrap_or(&hex).to_owned(),
                if c.rp_id.is_empty() {
                    "(empty RP id)".into()
                } else {
                    shown(&c.rp_id, RP_ID_CHARS)
                },
                shown(c.user_name.as_deref().unwrap_or_default(), NAME_CHARS),
                shown(
                    c.user_display_name.as_deref().unwrap_or_default(),
                    NAME_CHARS,
                ),
                rfc3339(c.created),
            ]
        })
        .collect();
    table(["ID", "RP ID", "USER", "DISPLAY NAME", "CREATED"], &rows)
}
