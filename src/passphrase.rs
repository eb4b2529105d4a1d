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

/// How many times a new passphrase is asked for before the command gives up.
const NEW_ATTEMPTS: u32 = 3;
/// Fewer characters than this earn a warning (NIST SP 800-63B asks at
/// least 8 of a memorized secret; a file anyone may copy deserves more).
const SHORT: usize = 12;
/// Fewer distinct characters than this earn a warning ("aaaaaaaaaaaaaaa").
const FEW_DISTINCT: usize = 5;

/// A new passphrase for `what` ("vault", "backup"): asked twice on a
/// terminal. A mistyped repeat, an empty answer or a weak passphrase the
/// person does not confirm is asked again. From a file it is taken as is,
/// with a warning if it is weak.
pub fn new(file: Option<&Path>, what: &str) -> Result<Passphrase> {
    if let Some(path) = file {
        let passphrase = from_file(path)?;
        if let Some(weakness) = weakness(&passphrase) {
            eprintln!(
                "softkey: warning: the {what} passphrase in {} is {weakness}; {}",
                path.display(),
                advice(what)
            );
        }
        return Ok(passphrase);
    }
    for _ in 0..NEW_ATTEMPTS {
        let first = prompt(&format!("New {what} passphrase: "))?;
        if first.is_empty() {
            eprintln!("The passphrase must not be empty; try again.");
            continue;
        }
        if let Some(weakness) = weakness(&first) {
            eprintln!("This passphrase is {weakness}: {}", advice(what));
            if !confirm("Use it anyway? [y/N] ")? {
                continue;
            }
        }
        let second = prompt("Repeat the passphrase: ")?;
        if *first != *second {
            eprintln!("The passphrases differ; try again.");
            continue;
        }
        return Ok(first);
    }
    bail!("no new {what} passphrase after {NEW_ATTEMPTS} tries; nothing was changed")
}

/// Why a passphrase is easy to guess, if it is: too short, or too few
/// different characters. Deliberately simple, so the warning can say
/// exactly what is wrong.
pub fn weakness(passphrase: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(passphrase);
    let chars = text.chars().count();
    if chars < SHORT {
        return Some(format!(
            "short ({chars} character{})",
            if chars == 1 { "" } else { "s" }
        ));
    }
    let mut distinct: Vec<char> = text.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < FEW_DISTINCT {
        let n = distinct.len();
        return Some(format!(
            "made of only {n} different character{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    None
}

fn advice(what: &str) -> String {
    format!(
        "whoever gets a copy of the {what} file can try guesses offline, as fast as their \
         hardware allows (Argon2id only slows each guess). Use {SHORT} or more characters, or \
         four or more random words."
    )
}

/// A yes/no question on the terminal; only "y" or "yes" is yes.
fn confirm(question: &str) -> Result<bool> {
    use std::io::Write;
    eprint!("{question}");
    std::io::stderr().flush().context("writing the question")?;
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passphrases_are_named_for_what_is_wrong() {
        assert_eq!(weakness(b"a").as_deref(), Some("short (1 character)"));
        assert_eq!(
            weakness(b"correct12").as_deref(),
            Some("short (9 characters)")
        );
        assert_eq!(
            weakness(b"abababababababab").as_deref(),
            Some("made of only 2 different characters")
        );
        assert_eq!(weakness(b"correct horse battery staple"), None);
        // Characters, not bytes: twelve ideographs are twelve.
        assert_eq!(
            weakness("鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵鍵".as_bytes()).as_deref(),
            Some("made of only 1 different character")
        );
        assert_eq!(weakness("一二三四五六七八九十百千".as_bytes()), None);
    }
}
