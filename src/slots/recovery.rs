//! Recovery keys: 160 random bits a person writes down once and types back after the
//! passphrase is forgotten or the TPM is gone (vault/FORMAT.md "Key slots").
//!
//! Written in Crockford's base32 (digits and capitals without I, L, O, U) as eight groups of
//! four, like `7Q2K-M9XD-…`: nothing to confuse when read off paper, and typed back in any
//! case, with or without the dashes, with I and L read as 1 and O as 0. The vault slot's
//! Argon2id input is the 32 canonical characters.

use anyhow::Result;
use zeroize::Zeroizing;

/// Random bytes in a recovery key.
const KEY_BYTES: usize = 20;
/// Characters of a recovery key without its dashes (5 bits each).
const KEY_CHARS: usize = KEY_BYTES * 8 / 5;
/// Characters between dashes.
const GROUP: usize = 4;
/// Crockford's base32 digits.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery key's canonical text: 32 base32 characters, no dashes.
pub type RecoveryKey = Zeroizing<String>;

/// A fresh recovery key from the operating system's random source.
pub fn generate() -> Result<RecoveryKey> {
    let mut bytes = Zeroizing::new([0u8; KEY_BYTES]);
    getrandom::fill(bytes.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("no random numbers from the operating system: {e}"))?;
    let mut out = Zeroizing::new(String::with_capacity(KEY_CHARS));
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes.iter() {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let digit = ALPHABET
                .get(((acc >> bits) & 31) as usize)
                .copied()
                .unwrap_or(b'0');
            out.push(char::from(digit));
        }
        acc &= (1 << bits) - 1;
    }
    Ok(out)
}

/// The key as printed: groups of four joined by dashes.
pub fn display(key: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(KEY_CHARS + KEY_CHARS / GROUP));
    for (i, c) in key.chars().enumerate() {
        if i > 0 && i % GROUP == 0 {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// Reads typed text as a recovery key: `None` if it is not one (then it is a passphrase). A
/// passphrase of eight four-letter words has the same shape, so a caller that gets a key
/// still tries the text as a passphrase when the recovery-key slot does not open.
pub fn parse(typed: &[u8]) -> Option<RecoveryKey> {
    let text = std::str::from_utf8(typed).ok()?.trim();
    // The printed shape, eight groups of four split by dashes or spaces, or the 32 characters
    // run together.
    let groups: Vec<&str> = text.split(['-', ' ']).filter(|g| !g.is_empty()).collect();
    let dashed = groups.len() == KEY_CHARS / GROUP && groups.iter().all(|g| g.len() == GROUP);
    let joined = groups.len() == 1 && text.len() == KEY_CHARS;
    if !dashed && !joined {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(KEY_CHARS));
    for c in groups.iter().flat_map(|g| g.chars()) {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]
    use super::*;

    #[test]
    fn generated_keys_are_32_base32_characters_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), KEY_CHARS);
        assert_eq!(KEY_CHARS, 32);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(*a, *b);
    }

    #[test]
    fn the_printed_form_reads_back_in_any_case_and_with_lookalikes() {
        let key = generate().unwrap();
        let shown = display(&key);
        assert_eq!(shown.len(), 39);
        assert_eq!(shown.matches('-').count(), 7);
        assert_eq!(*parse(shown.as_bytes()).unwrap(), *key);
        let lower = shown.to_ascii_lowercase();
        assert_eq!(*parse(lower.as_bytes()).unwrap(), *key);
        let spaced = format!("  {}\n", shown.replace('-', " "));
        assert_eq!(*parse(spaced.as_bytes()).unwrap(), *key);
        let joined = shown.replace('-', "");
        assert_eq!(*parse(joined.as_bytes()).unwrap(), *key);
        let typed = parse(b"ILO0-1111-2222-3333-4444-5555-6666-7777").unwrap();
        assert_eq!(typed.get(..4), Some("1100"));
    }

    #[test]
    fn passphrases_are_not_recovery_keys() {
        for p in [
            &b"correct horse battery staple"[..],
            b"ABCD-EFGH",
            b"ABCDEFGHJKMNPQRSTVWXYZ012345678",
            b"\xff\xfe",
            // Eight four-letter words, one with a U: a passphrase.
            b"tree bird lake fish burn rock sand wind",
        ] {
            assert!(parse(p).is_none(), "{p:?}");
        }
    }
}
