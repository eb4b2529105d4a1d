//! Small helpers for output, one of each: hex, RFC 3339 dates and the
//! current Unix time, aligned tables, and a credential as JSON.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use softkey_authenticator::CredentialSummary;

pub fn to_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Seconds since the Unix epoch now (0 on a clock set before 1970).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Left-aligned columns two spaces apart, the header first, no trailing
/// spaces. Widths count characters, not bytes.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let header = header.map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| {
                let pad = w.saturating_sub(cell.chars().count());
                format!("{cell}{}", " ".repeat(pad))
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A credential as `list --json` and `delete --json` print it.
#[derive(Debug, Serialize)]
pub struct CredentialJson<'a> {
    pub rp_id: &'a str,
    pub user_name: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub user_id: String,
    pub credential_id: String,
    pub created: String,
}

impl<'a> From<&'a CredentialSummary> for CredentialJson<'a> {
    fn from(c: &'a CredentialSummary) -> Self {
        CredentialJson {
            rp_id: &c.rp_id,
            user_name: c.user_name.as_deref(),
            display_name: c.user_display_name.as_deref(),
            user_id: to_hex(&c.user_id),
            credential_id: to_hex(&c.credential_id),
            created: rfc3339(c.created),
        }
    }
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn tables_align_by_characters() {
        let rows = [
            ["é".to_owned(), "x".to_owned()],
            ["abc".to_owned(), String::new()],
        ];
        assert_eq!(table(["K", "V"], &rows), "K    V\né    x\nabc\n");
    }
}
