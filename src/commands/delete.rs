//! `softkey delete`: delete discoverable credentials (passkeys) from the
//! vault, by credential id (exact or a unique hex prefix) or by RP id and
//! user name, after showing them and asking on a terminal.
//!
//! The vault is opened by one process at a time, so this works with
//! `softkey serve` stopped; a running key deletes through CTAP 2.1
//! authenticatorCredentialManagement (§6.8.5) instead. The deletion itself
//! is one atomic vault batch ([`softkey_authenticator::delete_credentials`]).

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, anyhow, bail};
use softkey_authenticator::{
    CredentialSelector, CredentialSummary, delete_credentials, list_credentials,
};

use crate::cli::DeleteArgs;
use crate::shown::{NAME_CHARS, RP_ID_CHARS, shown};
use crate::store::Backing;
use crate::text::{CredentialJson, rfc3339, to_hex};

pub fn run(args: &DeleteArgs) -> Result<()> {
    let prefix = args.credential.as_deref().map(parse_prefix).transpose()?;
    // Refuse before the KDF runs: without a terminal there is no one to ask.
    if !args.yes && !std::io::stdin().is_terminal() {
        bail!(
            "standard input is not a terminal, so softkey cannot ask before deleting: pass \
             --yes to delete without asking"
        );
    }
    let vault = super::open_vault_or(&args.vault, |path| {
        anyhow!(
            "the vault {} is in use: stop softkey serve first (the vault is in use), or delete \
             the passkey through the running key, from the browser's security key settings or \
             with `fido2-token -D -i CREDENTIAL_ID DEVICE`",
            path.display()
        )
    })?;
    let mut store = Backing::vault(vault);
    let all = list_credentials(&store).context(
        "cannot read the passkeys in the vault; restore it from a backup (`softkey import`)",
    )?;
    let chosen = select(&all, prefix.as_deref(), args)?;
    if !args.yes && !confirm(&chosen)? {
        eprintln!("Nothing was deleted.");
        return Ok(());
    }
    let ids: Vec<Vec<u8>> = chosen.iter().map(|c| c.credential_id.clone()).collect();
    let deleted = delete_credentials(&mut store, &CredentialSelector::Ids(&ids))
        .context("deleting failed; nothing was deleted (check the disk, then try again)")?;
    if args.json {
        println!("{}", to_json(&deleted)?);
    } else {
        println!("Deleted {}.", describe(&deleted));
    }
    Ok(())
}

/// A credential id or prefix as `softkey list --json` prints it (hex).
fn parse_prefix(text: &str) -> Result<String> {
    let hex = text.trim().to_ascii_lowercase();
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!(
            "`{text}` is not a credential id: give the hex id that `softkey list --json` prints \
             (a unique prefix will do), or use --rp RP_ID [--user NAME]"
        );
    }
    Ok(hex)
}

/// The passkeys the arguments name; none or an ambiguous prefix is an error.
fn select(
    all: &[CredentialSummary],
    prefix: Option<&str>,
    args: &DeleteArgs,
) -> Result<Vec<CredentialSummary>> {
    let of_rp = |c: &&CredentialSummary| {
        args.rp.as_deref().is_none_or(|rp| c.rp_id == rp)
            && args
                .user
                .as_deref()
                .is_none_or(|u| c.user_name.as_deref() == Some(u))
    };
    let scope = match (&args.rp, &args.user) {
        (Some(rp), Some(user)) => format!(" for {rp} with user name {user}"),
        (Some(rp), None) => format!(" for {rp}"),
        (None, Some(user)) => format!(" with user name {user}"),
        (None, None) => String::new(),
    };
    let Some(prefix) = prefix else {
        let chosen: Vec<CredentialSummary> = all.iter().filter(of_rp).cloned().collect();
        if chosen.is_empty() {
            bail!("no passkey{scope} in the vault; `softkey list` shows the passkeys it holds");
        }
        return Ok(chosen);
    };
    let candidates: Vec<&CredentialSummary> = all
        .iter()
        .filter(of_rp)
        .filter(|c| to_hex(&c.credential_id).starts_with(prefix))
        .collect();
    // An exact id wins over longer ids it happens to be a prefix of.
    let exact: Vec<&CredentialSummary> = candidates
        .iter()
        .copied()
        .filter(|c| to_hex(&c.credential_id) == prefix)
        .collect();
    match (exact.as_slice(), candidates.as_slice()) {
        ([one], _) | ([], [one]) => Ok(vec![(*one).clone()]),
        (_, []) => bail!(
            "no passkey{scope} has a credential id starting with {prefix}; `softkey list --json` \
             shows the ids"
        ),
        (_, many) => {
            let lines: Vec<String> = many.iter().map(|c| format!("  {}", line(c))).collect();
            bail!(
                "{prefix} is the start of {} credential ids; give more of the id:\n{}",
                many.len(),
                lines.join("\n")
            )
        }
    }
}

/// Shows what will be deleted and asks on the terminal; true for yes.
fn confirm(chosen: &[CredentialSummary]) -> Result<bool> {
    let mut err = std::io::stderr().lock();
    for c in chosen {
        writeln!(err, "  {}", line(c))?;
    }
    write!(err, "Delete {}? [y/N] ", describe(chosen))?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer from the terminal")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The account's name, escaped (names come from web pages: crate::shown).
fn user_of(c: &CredentialSummary) -> String {
    c.user_name
        .as_deref()
        .or(c.user_display_name.as_deref())
        .map_or_else(|| "no user name".into(), |u| shown(u, NAME_CHARS))
}

/// The RP id, escaped.
fn rp_of(c: &CredentialSummary) -> String {
    if c.rp_id.is_empty() {
        "(empty RP id)".into()
    } else {
        shown(&c.rp_id, RP_ID_CHARS)
    }
}

/// "github.com  alice  created 2026-11-02T10:00:00Z  id 9f86d081884c7d65…"
fn line(c: &CredentialSummary) -> String {
    let hex = to_hex(&c.credential_id);
    let short = match hex.get(..16) {
        Some(head) if hex.len() > 16 => format!("{head}…"),
        _ => hex.clone(),
    };
    format!(
        "{}  {}  created {}  id {short}",
        rp_of(c),
        user_of(c),
        rfc3339(c.created)
    )
}

/// "1 passkey for github.com (alice)", "3 passkeys for a.com (x, y), b.org (z)".
fn describe(list: &[CredentialSummary]) -> String {
    let mut by_rp: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in list {
        by_rp.entry(rp_of(c)).or_default().push(user_of(c));
    }
    let groups: Vec<String> = by_rp
        .iter()
        .map(|(rp, users)| format!("{rp} ({})", users.join(", ")))
        .collect();
    format!(
        "{} passkey{} for {}",
        list.len(),
        if list.len() == 1 { "" } else { "s" },
        groups.join(", ")
    )
}

fn to_json(deleted: &[CredentialSummary]) -> Result<serde_json::Value> {
    let items: Vec<CredentialJson<'_>> = deleted.iter().map(CredentialJson::from).collect();
    serde_json::to_value(items).context("encoding JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(rp: &str, user: &str, id: &[u8]) -> CredentialSummary {
        CredentialSummary {
            rp_id: rp.into(),
            user_id: user.as_bytes().to_vec(),
            user_name: Some(user.into()),
            user_display_name: None,
            created: 0,
            credential_id: id.to_vec(),
        }
    }

    #[test]
    fn descriptions_read_well() {
        let one = [cred("github.com", "alice", b"\x01")];
        assert_eq!(describe(&one), "1 passkey for github.com (alice)");
        let many = [
            cred("a.com", "x", b"\x01"),
            cred("a.com", "y", b"\x02"),
            cred("b.org", "z", b"\x03"),
        ];
        assert_eq!(describe(&many), "3 passkeys for a.com (x, y), b.org (z)");
    }

    #[test]
    fn prefixes_must_be_hex() {
        assert_eq!(parse_prefix(" 9F86 ").unwrap(), "9f86");
        assert!(parse_prefix("xyz").is_err());
        assert!(parse_prefix("").is_err());
    }
}
