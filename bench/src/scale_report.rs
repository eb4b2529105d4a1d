//! Plain-text and Markdown renderings of a `--scale` run: one row per vault size.

use std::fmt::Write as _;

use crate::report::{Machine, Summary, fmt_duration};
use crate::scale::{MANY_ACCOUNTS, ScalePlan, ScaleRow};

/// A `--scale` run.
#[derive(Debug, Clone)]
pub struct ScaleReport {
    pub machine: Machine,
    /// Where the vaults were and how they were made (KDF, filesystem), in a sentence.
    pub store: String,
    pub plan: ScalePlan,
    pub rows: Vec<ScaleRow>,
}

const HEADERS: [&str; 9] = [
    "credentials",
    "file size",
    "bytes/cred",
    "KDF",
    "unlock − KDF",
    "makeCredential rk (median / p95)",
    "username-less GA, 50 accounts (median / p95)",
    "allowList GA (median / p95)",
    "server RSS / HWM",
];

const DETAIL_HEADERS: [&str; 7] = [
    "credentials",
    "vault records",
    "generate",
    "import + compaction",
    "serve start (unlock incl. KDF)",
    "unlock − KDF min / max",
    "samples (unlock, GA, MC)",
];

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

fn file_size(bytes: u64) -> String {
    if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        mib(bytes as f64)
    }
}

fn median_p95(s: &Summary) -> String {
    format!("{} / {}", fmt_duration(s.median), fmt_duration(s.p95))
}

fn cells(r: &ScaleRow) -> [String; 9] {
    [
        r.credentials.to_string(),
        file_size(r.file_len),
        format!("{:.0}", r.bytes_per_credential()),
        fmt_duration(r.kdf.median),
        fmt_duration(r.unlock_minus_kdf.median),
        median_p95(&r.make_credential_rk),
        median_p95(&r.username_less),
        median_p95(&r.allow_list),
        format!(
            "{} / {}",
            mib(r.memory.rss_kib as f64 * 1024.0),
            mib(r.memory.hwm_kib as f64 * 1024.0)
        ),
    ]
}

fn detail_cells(r: &ScaleRow) -> [String; 7] {
    [
        r.credentials.to_string(),
        r.live_records.to_string(),
        fmt_duration(r.generate),
        fmt_duration(r.import),
        fmt_duration(r.server_start),
        format!(
            "{} / {}",
            fmt_duration(r.unlock_minus_kdf.min),
            fmt_duration(r.unlock_minus_kdf.max)
        ),
        format!(
            "{}, {}, {}",
            r.unlock_minus_kdf.n, r.username_less.n, r.make_credential_rk.n
        ),
    ]
}

fn header_lines(r: &ScaleReport) -> Vec<String> {
    let m = &r.machine;
    vec![
        format!("CPU: {} ({} cores available)", m.cpu, m.cores),
        format!("kernel: {}", m.kernel),
        format!("rustc: {}", m.rustc),
        format!("bench build: {}; server: {}", m.bench_profile, m.softkey),
        format!("store: {}", r.store),
        format!(
            "data: N − 1 ES256 passkeys imported with import_backup (one vault batch, then compacted as `softkey import` does), \
             {} of them on {}, the rest on other RPs with 1–3 accounts each; the N-th \
             registered over USB/IP on {} (the newest, verified in every username-less \
             assertion)",
            MANY_ACCOUNTS - 1,
            crate::scale_data::RP_MANY,
            crate::scale_data::RP_MANY,
        ),
        format!(
            "getAssertion: {} samples each after {} warm-up rounds; makeCredential rk: {} \
             new users on a new RP (durable vault append), measured after getAssertion",
            r.plan.assertions,
            crate::measure::WARMUP,
            r.plan.make_credentials
        ),
        "memory: VmRSS / VmHWM of the measured `softkey serve` after all measurements \
         (HWM includes the Argon2id working memory of its unlock)"
            .to_string(),
    ]
}

/// A plain-text report for the terminal.
pub fn render_text(r: &ScaleReport) -> String {
    let mut s = String::new();
    for l in header_lines(r) {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(s);
    for row in &r.rows {
        let _ = writeln!(s, "N = {}", row.credentials);
        for (h, c) in HEADERS.iter().zip(cells(row)).skip(1) {
            let _ = writeln!(s, "  {h:<46} {c}");
        }
        for (h, c) in DETAIL_HEADERS.iter().zip(detail_cells(row)).skip(1) {
            let _ = writeln!(s, "  {h:<46} {c}");
        }
    }
    s
}

fn table(s: &mut String, headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let _ = writeln!(s, "| {} |", headers.join(" | "));
    let _ = writeln!(s, "|{}", "---:|".repeat(headers.len()));
    for row in rows {
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
}

/// A Markdown section ready to paste into BENCHMARKS.md.
pub fn render_markdown(r: &ScaleReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#### Scale: vaults of 100 to 100,000 passkeys\n");
    for l in header_lines(r) {
        let _ = writeln!(s, "- {l}");
    }
    let _ = writeln!(s);
    table(
        &mut s,
        &HEADERS,
        r.rows.iter().map(|row| cells(row).to_vec()),
    );
    let _ = writeln!(s);
    table(
        &mut s,
        &DETAIL_HEADERS,
        r.rows.iter().map(|row| detail_cells(row).to_vec()),
    );
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::server::Memory;

    fn summary(us: u64) -> Summary {
        Summary::of("x", &[Duration::from_micros(us)]).unwrap()
    }

    #[test]
    fn a_row_renders_every_column() {
        let row = ScaleRow {
            credentials: 100_000,
            generate: Duration::from_millis(40),
            import: Duration::from_secs(3),
            file_len: 30 * 1024 * 1024,
            live_records: 100_004,
            kdf: summary(400_000),
            unlock_minus_kdf: summary(80_000),
            make_credential_rk: summary(5_000),
            username_less: summary(3_000),
            allow_list: summary(2_000),
            memory: Memory {
                rss_kib: 51_200,
                hwm_kib: 117_760,
            },
            server_start: Duration::from_millis(600),
        };
        let c = cells(&row);
        assert_eq!(c[0], "100000");
        assert_eq!(c[1], "30.0 MiB");
        assert_eq!(c[2], "315");
        assert_eq!(c[4], "80.00 ms");
        assert_eq!(c[5], "5000 µs / 5000 µs");
        assert_eq!(c[8], "50.0 MiB / 115.0 MiB");
        assert_eq!(file_size(2048), "2.0 KiB");
        let mut s = String::new();
        table(&mut s, &HEADERS, std::iter::once(c.to_vec()));
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 3);
        // Every line has the same number of cells.
        let pipes: Vec<usize> = lines.iter().map(|l| l.matches('|').count()).collect();
        assert!(pipes.iter().all(|&p| p == HEADERS.len() + 1), "{s}");
    }
}
