//! The `softkey serve` child process under test: a fresh vault (or `--ephemeral`),
//! a free loopback port read from the first stdout line, CPU time from /proc, and
//! kill-on-drop so no server outlives the benchmark, even on error.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};

/// How long `softkey serve` may take to print its address (KDF included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The prefix of the first stdout line of `softkey serve` (src/commands/serve.rs).
const SERVING_PREFIX: &str = "softkey: serving on ";
/// Throwaway passphrase of the benchmark vault; the vault is deleted afterwards.
pub const PASSPHRASE: &str = "softkey-bench throwaway passphrase";

/// Argon2id settings of the benchmark vault. The KDF runs once at unlock and is not
/// what is measured, so the small setting keeps start-up quick.
pub const KDF_MEMORY_MIB: u32 = 8;
pub const KDF_ITERATIONS: u32 = 1;

/// Which store the server keeps credentials in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// An encrypted vault file made with `softkey init` (durable writes).
    Vault,
    /// `--ephemeral`: an in-memory store.
    Memory,
}

/// A directory removed on drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(parent: &Path) -> Result<Self> {
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).map_err(|e| anyhow!("the OS RNG failed: {e}"))?;
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("softkey-bench-{suffix}"));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `softkey serve`; killed and reaped on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
    /// Keeps the vault alive while the server runs; dropped after the kill.
    _dir: Option<TempDir>,
}

impl ServerProcess {
    /// Starts `softkey serve --presence auto --listen 127.0.0.1:0` on `store`. With
    /// [`StoreKind::Vault`] it first runs `softkey init` into a new directory under `dir`.
    pub fn start(softkey: &Path, store: StoreKind, dir: &Path) -> Result<Self> {
        Self::start_with(softkey, store, dir, &[])
    }

    /// [`Self::start`] with more `serve` arguments (e.g. `--algorithms all`).
    pub fn start_with(
        softkey: &Path,
        store: StoreKind,
        dir: &Path,
        extra: &[&OsStr],
    ) -> Result<Self> {
        match store {
            StoreKind::Memory => {
                let args: Vec<&OsStr> = [OsStr::new("--ephemeral")]
                    .into_iter()
                    .chain(extra.iter().copied())
                    .collect();
                Self::spawn(softkey, &args, None)
            }
            StoreKind::Vault => {
                let tmp = TempDir::new(dir)?;
                let (vault, pass) = init_vault(softkey, tmp.path())?;
                let args: Vec<&OsStr> = [
                    OsStr::new("--vault"),
                    vault.as_os_str(),
                    OsStr::new("--passphrase-file"),
                    pass.as_os_str(),
                ]
                .into_iter()
                .chain(extra.iter().copied())
                .collect();
                Self::spawn(softkey, &args, Some(tmp))
            }
        }
    }

    /// Starts `softkey serve --vault VAULT --passphrase-file PASS --presence auto
    /// --listen 127.0.0.1:0` on an existing vault. `dir`, if any, is removed after the
    /// server is killed.
    pub fn serve_vault(
        softkey: &Path,
        vault: &Path,
        passphrase_file: &Path,
        dir: Option<TempDir>,
    ) -> Result<Self> {
        let args = [
            OsStr::new("--vault"),
            vault.as_os_str(),
            OsStr::new("--passphrase-file"),
            passphrase_file.as_os_str(),
        ];
        Self::spawn(softkey, &args, dir)
    }

    /// `softkey serve STORE_ARGS --presence auto --listen 127.0.0.1:0`, waiting for the
    /// address line.
    fn spawn(softkey: &Path, store_args: &[&OsStr], dir: Option<TempDir>) -> Result<Self> {
        let mut cmd = Command::new(softkey);
        cmd.arg("serve")
            .args(store_args)
            .args(["--presence", "auto", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", softkey.display()))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let lines = pipe_threads(&mut child, &stderr)?;
        // From here on, dropping `server` kills the child.
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            _dir: dir,
        };
        server.addr = server.wait_for_address(&lines)?;
        Ok(server)
    }

    fn wait_for_address(&mut self, lines: &Receiver<String>) -> Result<SocketAddr> {
        let line = match lines.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let status = self.child.try_wait().ok().flatten();
                bail!(
                    "softkey serve printed no address (exit status {status:?}); stderr:\n{}",
                    self.stderr_text()
                );
            }
        };
        let rest = line
            .strip_prefix(SERVING_PREFIX)
            .ok_or_else(|| anyhow!("unexpected first line from softkey serve: {line:?}"))?;
        let addr = rest.split_whitespace().next().unwrap_or_default();
        addr.parse()
            .with_context(|| format!("cannot parse the address in {line:?}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote to stderr so far (for error messages).
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("waitpid on the server")? {
            bail!(
                "softkey serve exited ({status}); stderr:\n{}",
                self.stderr_text()
            );
        }
        Ok(())
    }

    /// The server's CPU time so far.
    pub fn cpu(&self) -> Result<CpuSample> {
        CpuSample::read(self.pid())
    }

    /// The server's resident memory now and at its peak.
    pub fn memory(&self) -> Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Memory::parse(&status).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `softkey init` with a passphrase file; returns (vault path, passphrase file).
fn init_vault(softkey: &Path, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let vault = dir.join("bench.softkey");
    let pass = dir.join("passphrase");
    write_passphrase_file(&pass)?;
    let out = Command::new(softkey)
        .arg("init")
        .arg("--vault")
        .arg(&vault)
        .arg("--passphrase-file")
        .arg(&pass)
        .arg("--kdf-memory-mib")
        .arg(KDF_MEMORY_MIB.to_string())
        .arg("--kdf-iterations")
        .arg(KDF_ITERATIONS.to_string())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {} init", softkey.display()))?;
    if !out.status.success() {
        bail!(
            "softkey init failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((vault, pass))
}

/// Threads that collect stderr and forward stdout lines; returns the stdout lines.
fn pipe_threads(child: &mut Child, sink: &Arc<Mutex<String>>) -> Result<Receiver<String>> {
    let mut err = child.stderr.take().context("no stderr pipe")?;
    let out = child.stdout.take().context("no stdout pipe")?;
    let sink = Arc::clone(sink);
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
                break;
            };
            if let Ok(mut s) = sink.lock() {
                s.push_str(&String::from_utf8_lossy(chunk));
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        // Keep reading after the first line so the server never blocks on a full pipe.
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    Ok(rx)
}

/// Resident set size of a process, now and at its peak (proc(5): VmRSS, VmHWM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl Memory {
    /// Reads process `pid`'s.
    pub fn of_pid(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/status");
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Memory::parse(&status).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }

    /// Reads `VmRSS:` and `VmHWM:` (in kB) from a /proc/PID/status text.
    fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| -> Option<u64> {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(':')?;
                value.trim().strip_suffix("kB")?.trim().parse().ok()
            })
        };
        Some(Memory {
            rss_kib: field("VmRSS")?,
            hwm_kib: field("VmHWM")?,
        })
    }
}

/// Writes the benchmark passphrase file `softkey serve --passphrase-file` reads.
pub fn write_passphrase_file(path: &Path) -> Result<()> {
    std::fs::write(path, format!("{PASSPHRASE}\n"))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// CPU time of a process: utime + stime in clock ticks (/proc/PID/stat fields 14, 15)
/// and, where the kernel keeps it, nanoseconds on CPU summed over its threads
/// (/proc/PID/task/*/schedstat, first field).
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    pub ticks: u64,
    pub sched_ns: Option<u64>,
}

impl CpuSample {
    pub fn read(pid: u32) -> Result<Self> {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Ok(CpuSample {
            ticks: parse_stat_ticks(&stat).with_context(|| format!("cannot parse {path}"))?,
            sched_ns: sched_ns(pid),
        })
    }
}

/// utime + stime from a /proc/PID/stat line. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from the last ')' (proc(5)).
fn parse_stat_ticks(stat: &str) -> Result<u64> {
    let (_, rest) = stat.rsplit_once(')').context("no ')' in stat")?;
    // After ')' come fields 3 (state), 4, …: utime is field 14, stime field 15.
    let mut fields = rest.split_whitespace().skip(14 - 3);
    let mut next = |name: &str| -> Result<u64> {
        fields
            .next()
            .with_context(|| format!("no {name} field"))?
            .parse::<u64>()
            .with_context(|| format!("{name} is not a number"))
    };
    let utime = next("utime")?;
    let stime = next("stime")?;
    Ok(utime + stime)
}

/// Nanoseconds on CPU over all threads, or None where schedstat is missing or all zero
/// (kernels without scheduler statistics report 0).
fn sched_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
        total = total.saturating_add(ns);
    }
    (total > 0).then_some(total)
}

/// Clock ticks per second from `getconf CLK_TCK`; (100, false) if that fails
/// (100 is what Linux reports to user space on every architecture).
pub fn clock_ticks_per_second() -> (u64, bool) {
    let out = Command::new("getconf").arg("CLK_TCK").output();
    match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .map_or((100, false), |t: u64| (t, true)),
        _ => (100, false),
    }
}

/// The filesystem type of the mount holding `path` (longest mount-point prefix in
/// /proc/mounts), to tell an fsync on disk from one on tmpfs.
pub fn filesystem_of(path: &Path) -> Option<String> {
    let path = path.canonicalize().ok()?;
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_dev, mount, fstype) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(mount)
                .then(|| (mount.len(), fstype.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, fstype)| fstype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_a_command_name_with_spaces_and_parens() {
        let stat = "1234 (soft key) (x)) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    7 5 0 0 20 0 3 0 100 0 0";
        assert_eq!(parse_stat_ticks(stat).unwrap(), 12);
    }

    #[test]
    fn stat_ticks_reject_a_truncated_line() {
        assert!(parse_stat_ticks("1 (a) S 1 2 3").is_err());
    }

    #[test]
    fn memory_reads_rss_and_hwm_in_kib() {
        let status = "Name:\tsoftkey\nVmHWM:\t  81234 kB\nVmRSS:\t   9876 kB\nThreads:\t3\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss_kib: 9876,
                hwm_kib: 81234
            })
        );
        assert_eq!(Memory::parse("VmRSS:\t1 kB\n"), None);
        assert_eq!(Memory::parse("VmRSS:\tmany kB\nVmHWM:\t2 kB\n"), None);
    }

    #[test]
    fn own_process_memory_is_readable() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let m = Memory::parse(&status).unwrap();
        assert!(m.rss_kib > 0 && m.hwm_kib >= m.rss_kib);
    }

    #[test]
    fn own_process_cpu_is_readable() {
        let s = CpuSample::read(std::process::id()).unwrap();
        assert!(s.ticks < 1_000_000_000);
    }
}
