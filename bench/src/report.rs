//! Summaries of timing samples (min, median, p95, max), the machine description, and
//! the plain-text and Markdown renderings of a benchmark run.

use std::fmt::Write as _;
use std::time::Duration;

/// min / median / p95 / max of one operation's samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub n: usize,
    pub min: Duration,
    pub median: Duration,
    pub p95: Duration,
    pub max: Duration,
}

impl Summary {
    /// None for an empty sample set. Percentiles are nearest-rank: the smallest sample
    /// with at least p·n samples at or below it.
    pub fn of(name: &str, samples: &[Duration]) -> Option<Self> {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let rank = |p: f64| -> Option<Duration> {
            // Nearest-rank percentile: index ceil(p·n) − 1.
            let idx = ((p * s.len() as f64).ceil() as usize).saturating_sub(1);
            s.get(idx).copied()
        };
        Some(Summary {
            name: name.to_string(),
            n: s.len(),
            min: *s.first()?,
            median: rank(0.5)?,
            p95: rank(0.95)?,
            max: *s.last()?,
        })
    }
}

/// What the idle measurement saw.
#[derive(Debug, Clone)]
pub struct Idle {
    pub seconds: f64,
    /// Seqnum of the IN URB the client kept outstanding.
    pub in_seqnum: Option<u32>,
    /// IN completions (reports) that arrived while idle: any is a spurious completion.
    pub completions: u64,
    pub ticks: u64,
    pub ticks_per_second: u64,
    pub ticks_from_getconf: bool,
    /// Nanoseconds on CPU (all server threads), where the kernel reports it.
    pub sched_ns: Option<u64>,
}

impl Idle {
    pub fn cpu_ms(&self) -> f64 {
        self.ticks as f64 * 1000.0 / self.ticks_per_second as f64
    }
}

/// The machine and build the figures come from.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub rustc: String,
    pub bench_profile: &'static str,
    pub softkey: String,
}

impl Machine {
    pub fn detect(softkey: &std::path::Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let processors = cpuinfo
            .lines()
            .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
            .count();
        let cores = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(processors);
        Machine {
            cpu,
            cores,
            kernel: command_line("uname", &["-r"]).unwrap_or_else(|| "unknown".into()),
            rustc: command_line("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            bench_profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            softkey: softkey.display().to_string(),
        }
    }
}

/// First line of a command's stdout, if it runs and succeeds.
fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Report {
    pub machine: Machine,
    /// `vault` or `memory`.
    pub store_name: &'static str,
    /// The store in a sentence (KDF, filesystem).
    pub store: String,
    pub attach: Duration,
    pub rows: Vec<Summary>,
    pub idle: Option<Idle>,
}

/// Microseconds below 10 ms, else milliseconds with two decimals.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

fn machine_lines(r: &Report) -> Vec<String> {
    let m = &r.machine;
    vec![
        format!("CPU: {} ({} cores available)", m.cpu, m.cores),
        format!("kernel: {}", m.kernel),
        format!("rustc: {}", m.rustc),
        format!("bench build: {}; server: {}", m.bench_profile, m.softkey),
        format!("store: {}", r.store),
        format!(
            "attach (OP_REQ_IMPORT + enumeration + CTAPHID_INIT): {}",
            fmt_duration(r.attach)
        ),
    ]
}

fn idle_lines(idle: &Idle) -> Vec<String> {
    let tck = if idle.ticks_from_getconf {
        format!("CLK_TCK {} from getconf", idle.ticks_per_second)
    } else {
        format!("CLK_TCK assumed {}", idle.ticks_per_second)
    };
    let sched = idle.sched_ns.map_or_else(
        || "schedstat not available".to_string(),
        |ns| format!("{:.3} ms on CPU by schedstat", ns as f64 / 1e6),
    );
    let urb = idle
        .in_seqnum
        .map_or_else(|| "none".to_string(), |s| format!("seqnum {s}"));
    vec![
        format!(
            "idle for {:.1} s with an IN URB pending ({urb}):",
            idle.seconds
        ),
        format!("  IN completions while idle: {}", idle.completions),
        format!(
            "  server CPU: {} ticks = {:.0} ms ({tck}); {sched}",
            idle.ticks,
            idle.cpu_ms()
        ),
    ]
}

/// A plain-text report for the terminal.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    for l in machine_lines(r) {
        let _ = writeln!(s, "{l}");
    }
    let _ = writeln!(
        s,
        "\n{:<52} {:>5} {:>10} {:>10} {:>10} {:>10}",
        "operation", "n", "min", "median", "p95", "max"
    );
    for row in &r.rows {
        let _ = writeln!(
            s,
            "{:<52} {:>5} {:>10} {:>10} {:>10} {:>10}",
            row.name,
            row.n,
            fmt_duration(row.min),
            fmt_duration(row.median),
            fmt_duration(row.p95),
            fmt_duration(row.max)
        );
    }
    if let Some(idle) = &r.idle {
        let _ = writeln!(s);
        for l in idle_lines(idle) {
            let _ = writeln!(s, "{l}");
        }
    }
    s
}

/// A Markdown section ready to paste into BENCHMARKS.md.
pub fn render_markdown(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#### Store: {}\n", r.store_name);
    for l in machine_lines(r) {
        let _ = writeln!(s, "- {l}");
    }
    let _ = writeln!(s, "\n| operation | n | min | median | p95 | max |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for row in &r.rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            row.name,
            row.n,
            fmt_duration(row.min),
            fmt_duration(row.median),
            fmt_duration(row.p95),
            fmt_duration(row.max)
        );
    }
    if let Some(idle) = &r.idle {
        let _ = writeln!(s);
        let mut lines = idle_lines(idle).into_iter();
        if let Some(head) = lines.next() {
            let _ = writeln!(s, "{head}\n");
        }
        for l in lines {
            let _ = writeln!(s, "- {}", l.trim_start());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(us).collect();
        let s = Summary::of("x", &samples).unwrap();
        assert_eq!(
            (s.n, s.min, s.median, s.p95, s.max),
            (100, us(1), us(50), us(95), us(100))
        );
        let one = Summary::of("y", &[us(7)]).unwrap();
        assert_eq!((one.median, one.p95), (us(7), us(7)));
        assert!(Summary::of("z", &[]).is_none());
    }

    #[test]
    fn durations_switch_to_milliseconds_at_ten() {
        assert_eq!(fmt_duration(us(9_999)), "9999 µs");
        assert_eq!(fmt_duration(us(12_346)), "12.35 ms");
    }
}
