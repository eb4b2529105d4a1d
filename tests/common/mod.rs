//! Starts the real `softkey` binary as a process on a free loopback port.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test
#![allow(dead_code)]

pub mod prompt;
pub mod python;
pub mod terminal;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn softkey() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_softkey"));
    // Never the user's real configuration file: an empty config home unless
    // a test sets its own XDG_CONFIG_HOME or SOFTKEY_CONFIG afterwards.
    command
        .env("XDG_CONFIG_HOME", empty_config_home())
        .env_remove("SOFTKEY_CONFIG");
    command
}

/// An empty directory shared by every test, never written to: no
/// `softkey/config.toml` in it means all configuration defaults.
pub fn empty_config_home() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-config-home");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command that runs as the local user `uid` (and its group of the same
/// number, no supplementary groups): `setpriv`, which needs root.
pub fn as_user(uid: u32) -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        format!("--reuid={uid}"),
        format!("--regid={uid}"),
        "--clear-groups".into(),
        "--".into(),
    ]);
    c
}

/// A program that is not ours, found where build.rs looked: `PATH`, then
/// the system directories (Debian's `usbip` is in /usr/sbin). Tests that
/// call this are `#[ignore]`d where it is missing.
pub fn system_tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed (build.rs found it at build time)"))
}

/// A fresh directory under the target dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).unwrap();
        let dir = base.join(format!(
            "{name}-{}",
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
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

/// A vault made with `softkey init` (fast KDF settings so tests stay quick).
pub struct TestVault {
    pub dir: TempDir,
    pub path: PathBuf,
    pub passphrase_file: PathBuf,
}

impl TestVault {
    pub fn create(name: &str) -> Self {
        let dir = TempDir::new(name);
        let path = dir.path().join("vault.softkey");
        let passphrase_file = dir.path().join("passphrase");
        std::fs::write(&passphrase_file, format!("{PASSPHRASE}\n")).unwrap();
        let out = softkey()
            .args([
                "init",
                "--kdf-memory-mib",
                "8",
                "--kdf-iterations",
                "1",
                "--vault",
            ])
            .arg(&path)
            .arg("--passphrase-file")
            .arg(&passphrase_file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            path,
            passphrase_file,
        }
    }

    /// `softkey list --json` on this vault (no server may hold it); panics
    /// if the vault does not open.
    pub fn list_json(&self) -> String {
        let out = softkey()
            .arg("list")
            .args(self.serve_args())
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "softkey list on the vault failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--vault".into(),
            self.path.display().to_string(),
            "--passphrase-file".into(),
            self.passphrase_file.display().to_string(),
        ]
    }
}

/// A running `softkey serve`, killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The first line `serve` printed: `softkey: serving on ADDR (...)`.
    pub listen_line: String,
    pub stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    stdout_lines: Receiver<String>,
    stderr_reader: Option<thread::JoinHandle<()>>,
    /// The server's $XDG_RUNTIME_DIR (removed on drop, after the kill).
    runtime_dir: TempDir,
}

impl Server {
    /// `softkey serve --ephemeral --presence auto` on a free port.
    pub fn ephemeral() -> Self {
        Self::start(&["--ephemeral", "--presence", "auto"])
    }

    pub fn start<S: AsRef<str>>(args: &[S]) -> Self {
        Self::try_start(args)
            .unwrap_or_else(|stderr| panic!("softkey serve did not start; stderr:\n{stderr}"))
    }

    /// Like [`Server::start`], but a server that exits (or stays silent for
    /// 60 s) before its listen line is `Err(its stderr)` instead of a panic.
    pub fn try_start<S: AsRef<str>>(args: &[S]) -> Result<Self, String> {
        Self::try_start_with_env(args, &[])
    }

    /// Like [`Server::try_start`], with extra environment variables for the
    /// server (e.g. a private session bus).
    pub fn try_start_with_env<S: AsRef<str>>(
        args: &[S],
        env: &[(String, String)],
    ) -> Result<Self, String> {
        Self::try_start_as(None, args, env)
    }

    /// `softkey serve` run as the local user `uid` (with setpriv; the test
    /// must run as root), or as ourselves for `None`.
    pub fn try_start_as<S: AsRef<str>>(
        uid: Option<u32>,
        args: &[S],
        env: &[(String, String)],
    ) -> Result<Self, String> {
        // Each server gets its own runtime dir, so its control socket
        // ($XDG_RUNTIME_DIR/softkey/NAME.sock) never meets another test's
        // or the user's real one. `env` may still override it.
        let runtime_dir = TempDir::new("runtime");
        let command = match uid {
            None => softkey(),
            Some(uid) => {
                std::os::unix::fs::chown(runtime_dir.path(), Some(uid), Some(uid)).unwrap();
                let mut c = as_user(uid);
                c.arg(env!("CARGO_BIN_EXE_softkey"))
                    .env("XDG_CONFIG_HOME", empty_config_home())
                    .env_remove("SOFTKEY_CONFIG");
                c
            }
        };
        Self::spawn(command, runtime_dir, args, env)
    }

    /// `softkey serve ARGS` started by `sh -c SCRIPT`, which must end by
    /// running `exec "$0" "$@"` (the binary and the serve arguments): the
    /// script sets process limits or signal dispositions first.
    pub fn start_through_shell<S: AsRef<str>>(script: &str, args: &[S]) -> Self {
        let mut command = Command::new("sh");
        command
            .args(["-c", script, env!("CARGO_BIN_EXE_softkey")])
            .env("XDG_CONFIG_HOME", empty_config_home())
            .env_remove("SOFTKEY_CONFIG");
        Self::spawn(command, TempDir::new("runtime"), args, &[])
            .unwrap_or_else(|stderr| panic!("softkey serve did not start; stderr:\n{stderr}"))
    }

    fn spawn<S: AsRef<str>>(
        mut command: Command,
        runtime_dir: TempDir,
        args: &[S],
        env: &[(String, String)],
    ) -> Result<Self, String> {
        let mut child = command
            .env("XDG_RUNTIME_DIR", runtime_dir.path())
            .env_remove("SOFTKEY_CONTROL_SOCKET")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("serve")
            .args(args.iter().map(AsRef::as_ref))
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let stderr_reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let (tx, stdout_lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut server = Self {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            listen_line: String::new(),
            stdin,
            stderr,
            stdout_lines,
            stderr_reader: Some(stderr_reader),
            runtime_dir,
        };
        server.addr = server.wait_for_listen()?;
        Ok(server)
    }

    fn wait_for_listen(&mut self) -> Result<SocketAddr, String> {
        loop {
            match self.stdout_lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("softkey: serving on ") {
                        let addr = rest.split_whitespace().next().unwrap();
                        let addr = addr.parse().unwrap();
                        self.listen_line = line;
                        return Ok(addr);
                    }
                }
                Err(_) => {
                    // Reap it and drain its stderr, so the text is complete.
                    self.kill();
                    if let Some(reader) = self.stderr_reader.take() {
                        let _ = reader.join();
                    }
                    return Err(self.stderr());
                }
            }
        }
    }

    /// The next line `serve` printed after the listen line, if any within 5 s.
    pub fn next_stdout_line(&self) -> Option<String> {
        self.stdout_lines.recv_timeout(Duration::from_secs(5)).ok()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stderr contains `needle` (e.g. a prompt), up to `timeout`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if self.stderr().contains(needle) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's control socket in its own runtime dir (unless it was
    /// given --control-socket or another XDG_RUNTIME_DIR): the one socket there.
    pub fn control_socket(&self) -> PathBuf {
        let dir = self.runtime_dir.path().join("softkey");
        let sockets: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sock"))
            .collect();
        assert_eq!(sockets.len(), 1, "one control socket in {}", dir.display());
        sockets.into_iter().next().unwrap()
    }

    /// `softkey` in the server's session: the same $XDG_RUNTIME_DIR, so
    /// `status`, `pending`, `approve` and `deny` find it as a person's would.
    pub fn client(&self) -> Command {
        let mut command = softkey();
        command
            .env("XDG_RUNTIME_DIR", self.runtime_dir.path())
            .env_remove("SOFTKEY_CONTROL_SOCKET");
        command
    }

    /// Sends a signal by name ("TERM", "INT") with kill(1).
    pub fn signal(&self, name: &str) {
        send_signal(self.child.id(), name);
    }

    /// Waits up to `timeout` for the process to exit; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Its stderr is complete once the reader has seen EOF.
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL and reap: a crash, as far as the vault is concerned.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends signal `name` ("TERM", "INT") to process `pid` with kill(1).
pub fn send_signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -s {name} {pid} failed");
}
