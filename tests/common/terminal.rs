//! A `softkey` command on a real pseudo-terminal, driven as a person would:
//! it runs in a detached session of a private tmux server; the test reads
//! the screen with `capture-pane` and types with `send-keys`. Tests that use
//! it are `#[ignore]`d where tmux is missing (build.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::TempDir;

/// One tmux server with one session, `softkey`, killed on drop.
pub struct Terminal {
    dir: TempDir,
    socket: PathBuf,
}

impl Terminal {
    /// Runs `softkey ARGS` in a 160×40 terminal with a config home and a
    /// runtime dir of its own. The pane stays after softkey exits, showing
    /// `softkey exited: STATUS`, so its last words can be read.
    pub fn run(name: &str, args: &[&str]) -> Self {
        let dir = TempDir::new(name);
        let socket = dir.path().join("tmux.sock");
        for sub in ["config", "runtime"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let quoted: Vec<String> = args
            .iter()
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let script = format!(
            "XDG_CONFIG_HOME='{config}' XDG_RUNTIME_DIR='{runtime}' NO_COLOR=1 '{bin}' {args}; \
             echo \"softkey exited: $?\"; sleep 600",
            config = dir.path().join("config").display(),
            runtime = dir.path().join("runtime").display(),
            bin = env!("CARGO_BIN_EXE_softkey"),
            args = quoted.join(" "),
        );
        let terminal = Self { socket, dir };
        let out = terminal.tmux(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-s",
            "softkey",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        terminal
    }

    /// A directory of this terminal's own, removed with it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            // Never talk to a tmux the tests themselves may run in.
            .env_remove("TMUX")
            .env("TMUX_TMPDIR", self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tmux: {e}"))
    }

    /// The screen, scrollback included, wrapped lines joined.
    pub fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-500", "-t", "softkey"]);
        assert!(out.status.success(), "tmux capture-pane: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until a line contains `needle`; returns that line.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_for_nth(needle, 1, timeout)
    }

    /// Waits until `n` lines contain `needle`; returns the last of them.
    pub fn wait_for_nth(&self, needle: &str, n: usize, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            let found: Vec<&str> = screen.lines().filter(|l| l.contains(needle)).collect();
            if found.len() >= n
                && let Some(line) = found.last()
            {
                return (*line).to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear {n} time(s); the screen shows:\n{screen}"
            );
            sleep(Duration::from_millis(50));
        }
    }

    /// Types keys as tmux names them ("y", "Enter").
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "softkey"];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.keys(&["-l", text]);
        self.keys(&["Enter"]);
    }

    /// The exit status softkey ended with, once it has.
    pub fn exit_status(&self, timeout: Duration) -> i32 {
        let line = self.wait_for("softkey exited: ", timeout);
        line.split("softkey exited: ")
            .nth(1)
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no exit status in {line:?}"))
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Ends the session and with it softkey (SIGHUP).
        let _ = self.tmux(&["kill-server"]);
    }
}
