//! Getting the vault passphrase: from a file (scripts, services) or from the
//! terminal without echo. Passphrases live in zeroizing buffers only.

use std::fs;
use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

pub type Passphrase = Zeroizing<Vec<u8>>;

/// Reads the first line of `path` (a trailing newline is not part of it).
pub fn from_file(path: &Path) -> Result<Passphrase> {
    let contents = Zeroizing::new(
        fs::read(path)
            .with_context(|| format!("cannot read passphrase file {}", path.display()))?,
    );
    let line = contents.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        bail!("passphrase file {} is empty", path.display());
    }
    Ok(Zeroizing::new(line.to_vec()))
}

fn prompt(text: &str) -> Result<Passphrase> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the passphrase: pass --passphrase-file FILE");
    }
    let answer = Zeroizing::new(rpassword::prompt_password(text).context("reading passphrase")?);
    Ok(Zeroizing::new(answer.as_bytes().to_vec()))
}

/// The passphrase to unlock an existing vault.
pub fn for_unlock(file: Option<&Path>) -> Result<Passphrase> {
    existing(file, "Vault passphrase: ")
}

/// An existing passphrase, from `file` or asked once with `question`.
pub fn existing(file: Option<&Path>, question: &str) -> Result<Passphrase> {
    match file {
        Some(path) => from_file(path),
        None => prompt(question),
    }
}

/// A new vault passphrase: asked twice on a terminal so a typo cannot lock the user out.
pub fn for_new_vault(file: Option<&Path>) -> Result<Passphrase> {
    new(file, "vault")
}

/// A new passphrase for `what` ("vault", "backup"), asked twice on a terminal.
pub fn new(file: Option<&Path>, what: &str) -> Result<Passphrase> {
    if let Some(path) = file {
        return from_file(path);
    }
    let first = prompt(&format!("New {what} passphrase: "))?;
    if first.is_empty() {
        bail!("the passphrase must not be empty");
    }
    let second = prompt("Repeat the passphrase: ")?;
    if *first != *second {
        bail!("the passphrases differ; nothing was changed");
    }
    Ok(first)
}
