//! `softkey-bench`: latency and idle cost of the real `softkey serve` over USB/IP on
//! loopback, measured with the conformance client the way a Linux host drives the key
//! (import + enumeration, one interrupt-IN URB always pending, CTAPHID, CTAP2).
//!
//! It starts the `softkey` binary as a child process, times PING, getInfo,
//! makeCredential and getAssertion, then leaves the key idle with an IN URB pending and
//! reads the server's CPU time from /proc. Figures go in BENCHMARKS.md; speed is
//! measured here, never asserted in tests.
//!
//! With `--scale 100,10000,100000` it instead measures vaults of that many passkeys
//! (unlock minus KDF, file size, getAssertion and makeCredential at scale, memory):
//! see `scale.rs`.

mod algorithms;
mod compare;
mod lab;
mod measure;
mod report;
mod rsa_burst;
mod scale;
mod scale_data;
mod scale_report;
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use softkey_conformance::ctap2::Ctap2;
use softkey_transport::DEFAULT_BUS_ID;

use measure::Plan;
use report::{Machine, Report};
use scale::ScalePlan;
use scale_report::ScaleReport;
use server::{KDF_ITERATIONS, KDF_MEMORY_MIB, ServerProcess, StoreKind};
use softkey_vault::KdfParams;

#[derive(Debug, Parser)]
#[command(
    name = "softkey-bench",
    about = "Measure softkey over the real USB/IP path on loopback",
    after_help = "Build both with `cargo build --release -p softkey -p softkey-bench`.\n\n\
                  Examples:\n  target/release/softkey-bench --store vault --markdown\n  \
                  target/release/softkey-bench --scale 100,10000,100000 --markdown\n  \
                  target/release/softkey-bench --compare --store memory --target peer=127.0.0.1:3241"
)]
struct Args {
    /// Timed repetitions of each operation [default: 300; with --scale, 200
    /// getAssertions of each kind].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    iterations: Option<u64>,

    /// Timed repetitions of makeCredential with rk (each stores one more passkey)
    /// [default: the smaller of --iterations and 100; with --scale, 100].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rk_iterations: Option<u64>,

    /// Seconds to stay idle with an IN URB pending (0 skips the idle measurement).
    #[arg(long, default_value_t = 10.0)]
    idle_seconds: f64,

    /// Where the server keeps credentials.
    #[arg(long, value_enum, default_value_t = StoreKind::Vault)]
    store: StoreKind,

    /// The softkey binary [default: `softkey` next to this executable].
    #[arg(long, value_name = "PATH")]
    softkey: Option<PathBuf>,

    /// Directory for the temporary vault [default: the system temp directory].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,

    /// Instead of the latency run, measure vaults of these many discoverable
    /// credentials (comma-separated, each above 50), e.g. 100,10000,100000. Each vault
    /// uses the default KDF (64 MiB, t = 3), whose time is reported and subtracted.
    #[arg(long, value_name = "N,N,…", value_delimiter = ',', num_args = 1..,
          value_parser = clap::value_parser!(u64).range(51..=1_000_000))]
    scale: Option<Vec<u64>>,

    /// Measure this USB/IP FIDO key instead of starting softkey:
    /// `[LABEL=]HOST:PORT[/BUSID]` (bus id 1-1 by default). Repeat it to
    /// compare keys; the key must approve presence on its own.
    #[arg(long, value_name = "TARGET")]
    target: Vec<compare::Target>,

    /// With --target: also start softkey (the --store kind) and measure it first,
    /// interleaved with the targets in one run, and print each target's
    /// median as a ratio of softkey's.
    #[arg(long)]
    compare: bool,

    /// Measure only the operations whose name contains this text, e.g.
    /// "1,000 accounts (1st)" while a profiler watches the server.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,

    /// With --target: `LABEL=TEXT` says the key LABEL lacks the operations whose name
    /// contains TEXT, e.g. `vfido=getNextAssertion`; they are not sent to it (a key that
    /// stops answering after a command it does not know would hang the run) and show as
    /// n/a. Repeatable.
    #[arg(long, value_name = "LABEL=TEXT")]
    unsupported: Vec<String>,

    /// Instead of the latency run: makeCredential and getAssertion (allowList of 1) for
    /// every credential algorithm, on a key served with `--algorithms all`, with the
    /// size of each answer.
    #[arg(long, conflicts_with_all = ["target", "scale"])]
    per_algorithm: bool,

    /// Instead of the latency run: bursts of this many back-to-back RS256 makeCredentials,
    /// each burst after --rsa-refill-seconds idle, on a key served with `--algorithms all`:
    /// the pool of ready RSA keys, then primes found on the request path.
    #[arg(long, value_name = "N", conflicts_with_all = ["target", "scale", "per_algorithm"],
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    rsa_burst: Option<u64>,

    /// Instead of the latency run: `softkey lab serve` with these many authenticators
    /// (comma-separated, e.g. 1,10,100): latency and operations per second of
    /// getAssertion round-robin over them, and memory per authenticator.
    #[arg(long, value_name = "N,N,…", value_delimiter = ',', num_args = 1..,
          conflicts_with_all = ["target", "scale", "per_algorithm"],
          value_parser = clap::value_parser!(u64).range(1..=126))]
    lab: Option<Vec<u64>>,

    /// With --rsa-burst: idle seconds before each burst, for the pool to refill.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    rsa_refill_seconds: u64,

    /// Print a Markdown section for BENCHMARKS.md instead of plain text.
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("softkey-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `softkey serve --algorithms all` (the per-algorithm and RSA runs), attached.
fn serve_every_algorithm(
    softkey: &std::path::Path,
    store: StoreKind,
    dir: &std::path::Path,
) -> Result<(ServerProcess, measure::Key)> {
    let all = [
        std::ffi::OsStr::new("--algorithms"),
        std::ffi::OsStr::new("all"),
    ];
    let server = ServerProcess::start_with(softkey, store, dir, &all)?;
    let key = Ctap2::connect(server.addr, DEFAULT_BUS_ID)
        .with_context(|| format!("attaching {DEFAULT_BUS_ID} at {}", server.addr))?;
    Ok((server, key))
}

fn run(args: &Args) -> Result<String> {
    ensure!(
        args.idle_seconds.is_finite() && (0.0..=3600.0).contains(&args.idle_seconds),
        "--idle-seconds must be between 0 and 3600"
    );
    let softkey = match &args.softkey {
        Some(path) => path.clone(),
        None => std::env::current_exe()
            .context("cannot find this executable's path")?
            .with_file_name("softkey"),
    };
    ensure!(
        softkey.is_file(),
        "{} does not exist: build it with `cargo build --release -p softkey` or pass --softkey",
        softkey.display()
    );
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    if let Some(sizes) = &args.scale {
        return run_scale(args, sizes, &softkey, &dir);
    }
    let iterations = args.iterations.unwrap_or(300);
    let plan = Plan {
        iterations: usize::try_from(iterations).context("--iterations")?,
        rk_iterations: usize::try_from(args.rk_iterations.unwrap_or(iterations.min(100)))
            .context("--rk-iterations")?,
        only: args.only.clone(),
    };

    if !args.target.is_empty() {
        return run_targets(args, &plan, &softkey, &dir);
    }
    if let Some(sizes) = &args.lab {
        let sizes = sizes
            .iter()
            .map(|&n| usize::try_from(n).context("--lab"))
            .collect::<Result<Vec<_>>>()?;
        let rows = lab::run(&softkey, &dir, &sizes, plan.iterations)?;
        return Ok(lab::render(&rows, args.markdown));
    }
    if let Some(length) = args.rsa_burst {
        let (server, mut key) = serve_every_algorithm(&softkey, args.store, &dir)?;
        let bursts = usize::try_from(args.iterations.unwrap_or(5)).context("--iterations")?;
        let refill = Duration::from_secs(args.rsa_refill_seconds);
        let length = usize::try_from(length).context("--rsa-burst")?;
        let rows = rsa_burst::run(&mut key, bursts, length, refill, &run_tag()?)
            .with_context(|| format!("server stderr so far:\n{}", server.stderr_text()))?;
        return Ok(rsa_burst::render(&rows, bursts, refill, args.markdown));
    }
    if args.per_algorithm {
        let (server, mut key) = serve_every_algorithm(&softkey, args.store, &dir)?;
        let rows = algorithms::run(&mut key, plan.iterations, &run_tag()?)
            .with_context(|| format!("server stderr so far:\n{}", server.stderr_text()))?;
        return Ok(algorithms::render(&rows, args.markdown));
    }
    let mut server = ServerProcess::start(&softkey, args.store, &dir)?;
    eprintln!(
        "softkey-bench: server pid {} on {}; measuring…",
        server.pid(),
        server.addr
    );
    let t = Instant::now();
    let mut key = Ctap2::connect(server.addr, DEFAULT_BUS_ID)
        .with_context(|| format!("attaching {DEFAULT_BUS_ID} at {}", server.addr))?;
    let attach = t.elapsed();

    let rows = measure::run_all(&mut key, &plan, &run_tag()?)
        .with_context(|| format!("server stderr so far:\n{}", server.stderr_text()))?;
    let idle = if args.idle_seconds > 0.0 {
        eprintln!(
            "softkey-bench: idle for {} s with an IN URB pending…",
            args.idle_seconds
        );
        let ticks = server::clock_ticks_per_second();
        let idle = measure::idle(&mut key, &server, args.idle_seconds, ticks)?;
        // The key must still answer after the idle period.
        key.hid().ping(b"still there").context("PING after idle")?;
        Some(idle)
    } else {
        None
    };
    server.check_alive()?;

    let report = Report {
        machine: Machine::detect(&softkey),
        store_name: match args.store {
            StoreKind::Vault => "vault",
            StoreKind::Memory => "memory",
        },
        store: store_description(args.store, &dir),
        attach,
        rows,
        idle,
    };
    Ok(if args.markdown {
        report::render_markdown(&report)
    } else {
        report::render_text(&report)
    })
}

/// `--target` (and `--compare`): the operations against other keys.
fn run_targets(args: &Args, plan: &Plan, softkey: &Path, dir: &Path) -> Result<String> {
    let mut targets = Vec::new();
    let mut server = None;
    if args.compare {
        let started = ServerProcess::start(softkey, args.store, dir)?;
        targets.push(compare::Target {
            label: "softkey".into(),
            addr: started.addr,
            bus_id: DEFAULT_BUS_ID.into(),
            peer: false,
        });
        server = Some(started);
    }
    targets.extend(args.target.iter().cloned());
    let declared = args
        .unsupported
        .iter()
        .map(|d| {
            let (label, text) = d
                .split_once('=')
                .with_context(|| format!("--unsupported {d}: not LABEL=TEXT"))?;
            if !targets.iter().any(|t| t.label == label) {
                anyhow::bail!("--unsupported {d}: no target is labelled {label}");
            }
            Ok((label.to_owned(), text.to_owned()))
        })
        .collect::<Result<Vec<_>>>()?;
    let comparison = compare::run(&targets, plan, &declared, &run_tag()?)?;
    if let Some(server) = &mut server {
        server.check_alive()?;
    }
    let machine = Machine::detect(softkey);
    let mut text = format!(
        "CPU: {} ({} cores available); kernel {}; {}; bench build {}\n",
        machine.cpu, machine.cores, machine.kernel, machine.rustc, machine.bench_profile
    );
    for t in &comparison.targets {
        text.push_str(&format!(
            "target {}: {} bus {}\n",
            t.label, t.addr, t.bus_id
        ));
    }
    text.push('\n');
    text.push_str(&compare::render(&comparison, args.markdown));
    Ok(text)
}

/// A tag for this run's RP ids, so credentials of earlier runs on a key
/// that keeps them never mix into this run's counts.
fn run_tag() -> Result<String> {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("the OS RNG failed: {e}"))?;
    Ok(format!(
        "run{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// `--scale`: one vault per size, measured in turn (scale.rs).
fn run_scale(args: &Args, sizes: &[u64], softkey: &Path, dir: &Path) -> Result<String> {
    let plan = ScalePlan {
        assertions: usize::try_from(args.iterations.unwrap_or(200)).context("--iterations")?,
        make_credentials: usize::try_from(args.rk_iterations.unwrap_or(100))
            .context("--rk-iterations")?,
    };
    let mut rows = Vec::new();
    for &n in sizes {
        let n = usize::try_from(n).context("--scale")?;
        let row = scale::run_size(softkey, dir, n, plan)
            .with_context(|| format!("scale run with {n} credentials"))?;
        rows.push(row);
    }
    let kdf = KdfParams::DEFAULT;
    let report = ScaleReport {
        machine: Machine::detect(softkey),
        store: format!(
            "vault files in {} ({}), Argon2id m = {} MiB, t = {}, p = {} (KdfParams::DEFAULT)",
            dir.display(),
            server::filesystem_of(dir).unwrap_or_else(|| "filesystem unknown".into()),
            kdf.memory_kib / 1024,
            kdf.iterations,
            kdf.parallelism,
        ),
        plan,
        rows,
    };
    Ok(if args.markdown {
        scale_report::render_markdown(&report)
    } else {
        scale_report::render_text(&report)
    })
}

fn store_description(store: StoreKind, dir: &std::path::Path) -> String {
    match store {
        StoreKind::Memory => "memory (`serve --ephemeral`)".into(),
        StoreKind::Vault => format!(
            "vault file in {} ({}; made by `softkey init --kdf-memory-mib {KDF_MEMORY_MIB} \
             --kdf-iterations {KDF_ITERATIONS}`: the KDF runs once at unlock and is not measured)",
            dir.display(),
            server::filesystem_of(dir).unwrap_or_else(|| "filesystem unknown".into()),
        ),
    }
}
