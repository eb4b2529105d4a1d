//! Text from requests and files, made safe to show to a person.
//!
//! RP ids, user names and display names come from whoever sends a request
//! (a web page picks them) or wrote a backup file. Printed raw, a carriage
//! return, an ANSI escape sequence or a right-to-left override can repaint
//! a terminal prompt or reorder a line, so that one site passes for
//! another. Everything printed or notified for people goes through
//! [`shown`] (or [`shown_in_prompt`], which also escapes quotes so that no
//! name can fake the end of a quoted name and the start of another):
//! controls and invisible formatting characters become visible escapes,
//! backslashes are escaped (so no text can pass for an escape), and
//! over-long text is cut with a marker.
//! Machine-readable output (`--json`) keeps the text exactly, JSON-escaped.

use std::fmt::Write;

/// How much of an RP id a prompt shows (a DNS name is at most 253).
pub const RP_ID_CHARS: usize = 100;
/// How much of a user name or display name a prompt shows (CTAP 2.1 §6.1
/// lets an authenticator truncate them to 64 bytes).
pub const NAME_CHARS: usize = 64;

/// `text` with every character a person could be misled by escaped, cut
/// after `max_chars` characters of the original with "…(N more)". The
/// result holds no control or formatting character at all.
pub fn shown(text: &str, max_chars: usize) -> String {
    escape(text, max_chars, false)
}

/// [`shown`], with double quotes escaped too: for text a prompt puts in
/// quotes, or next to quoted text.
pub fn shown_in_prompt(text: &str, max_chars: usize) -> String {
    escape(text, max_chars, true)
}

fn escape(text: &str, max_chars: usize, quotes: bool) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4) + 2);
    let total = text.chars().count();
    for c in text.chars().take(max_chars) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if quotes => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_c0_c1_or_del(c) => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if is_invisible_format(c) => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    if total > max_chars {
        let _ = write!(out, "…({} more)", total - max_chars);
    }
    out
}

/// `"text"`, shown and quoted, or a plain-words stand-in when it is empty.
pub fn quoted(text: &str, max_chars: usize, when_empty: &str) -> String {
    if text.is_empty() {
        when_empty.to_owned()
    } else {
        format!("\"{}\"", shown_in_prompt(text, max_chars))
    }
}

/// C0 controls, DEL and the C1 controls (ESC, CSI and friends).
fn is_c0_c1_or_del(c: char) -> bool {
    matches!(u32::from(c), 0x00..=0x1F | 0x7F..=0x9F)
}

/// Characters that draw nothing but change how text around them reads:
/// bidirectional marks, embeddings, overrides and isolates (U+061C,
/// U+200E–U+200F, U+202A–U+202E, U+2066–U+2069), zero-width and joiner
/// characters, line and paragraph separators, invisible operators, the BOM
/// and interlinear annotation marks.
fn is_invisible_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x2069
            | 0xFEFF
            | 0xFFF9..=0xFFFB
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_become_visible() {
        // A name that would return the cursor, erase the line and move up
        // to repaint the prompt above it.
        assert_eq!(
            shown("alice\r\x1b[2K\x1b[1Aevil.example", 64),
            "alice\\r\\x1b[2K\\x1b[1Aevil.example"
        );
        assert_eq!(shown("a\nb\tc\u{7f}\u{9b}", 64), "a\\nb\\tc\\x7f\\x9b");
    }

    #[test]
    fn bidi_and_invisible_characters_become_visible() {
        // "moc.elgoog" reversed by an override reads as google.com.
        assert_eq!(
            shown("evil\u{202e}moc.elgoog", 64),
            "evil\\u{202e}moc.elgoog"
        );
        for c in [
            '\u{200b}', '\u{200f}', '\u{2066}', '\u{2069}', '\u{feff}', '\u{61c}',
        ] {
            assert!(shown(&format!("a{c}b"), 64).starts_with("a\\u{"), "{c:?}");
        }
    }

    #[test]
    fn quotes_and_backslashes_cannot_fake_structure() {
        assert_eq!(
            shown_in_prompt(r#"alice" as "bob"#, 64),
            r#"alice\" as \"bob"#
        );
        assert_eq!(shown(r#"Ann "A" Smith"#, 64), r#"Ann "A" Smith"#);
        // A literal backslash-x cannot pose as an escape we made.
        assert_eq!(shown("a\\x1b", 64), "a\\\\x1b");
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let long = "a".repeat(300);
        let s = shown(&long, RP_ID_CHARS);
        assert!(s.starts_with(&"a".repeat(100)));
        assert!(s.ends_with("…(200 more)"));
        assert_eq!(shown("été", 2), "ét…(1 more)");
    }

    #[test]
    fn ordinary_text_is_unchanged_and_empty_text_is_named() {
        assert_eq!(shown("Zoë Ångström 山田", 64), "Zoë Ångström 山田");
        assert_eq!(quoted("github.com", 100, "no RP id"), "\"github.com\"");
        assert_eq!(quoted("", 100, "an empty RP id"), "an empty RP id");
    }
}
