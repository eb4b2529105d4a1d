//! What the repository promises a new user, checked as written: the
//! commands the README and docs/ print, how the package installs, and that
//! every test which needs an outside tool says so when it cannot run.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, TempDir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, docs/*.md, contrib/README.md, fuzz/README.md and
/// conformance/vm/README.md: what a new user reads.
fn user_docs() -> Vec<(PathBuf, String)> {
    let mut paths: Vec<PathBuf> = ["README.md", "contrib/README.md", "fuzz/README.md"]
        .iter()
        .map(|p| root().join(p))
        .collect();
    paths.push(root().join("conformance/vm/README.md"));
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect()
}

/// The lines inside the ```sh / ```console / ``` fences of `text`.
fn code_lines(text: &str) -> Vec<&str> {
    let mut inside = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside {
            lines.push(line.trim());
        }
    }
    lines
}

/// The command part of a shell line: before a ` # ` comment.
fn command_of(line: &str) -> &str {
    line.split(" # ").next().unwrap_or(line).trim()
}

#[test]
fn install_commands_use_the_lock_file() {
    for (path, text) in user_docs() {
        for line in text.lines().filter(|l| l.contains("cargo install")) {
            assert!(
                line.contains("--locked"),
                "{}: `cargo install` without --locked builds versions CI never tested:\n{line}",
                path.display()
            );
        }
    }
}

/// `cargo metadata` of the workspace's own packages.
fn cargo_metadata() -> serde_json::Value {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_package_installs_only_softkey() {
    let meta = cargo_metadata();
    let package = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "softkey")
        .unwrap();
    let bins: Vec<&str> = package["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(bins, ["softkey"], "`cargo install --path .` installs these");
}

/// ARCHITECTURE.md's crate table is literally true: the workspace crates
/// each crate depends on (normal dependencies, as `cargo tree -e normal`
/// shows them) are the ones its last column names, outside parentheses.
#[test]
fn the_crate_table_names_each_crates_workspace_dependencies() {
    let meta = cargo_metadata();
    let packages = meta["packages"].as_array().unwrap();
    // The table names crates by directory; packages are softkey-DIR.
    let short = |package: &str| match package {
        "softkey" => "softkey".to_owned(),
        "softkey-bench" => "bench".to_owned(),
        other => other.trim_start_matches("softkey-").to_owned(),
    };
    let members: Vec<String> = packages
        .iter()
        .map(|p| short(p["name"].as_str().unwrap()))
        .collect();
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = architecture
        .split("## Crates and their boundaries")
        .nth(1)
        .unwrap();
    let mut rows = 0;
    for line in table.lines().skip(3).take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].split('`').nth(1).unwrap();
        // Outside parentheses: "(`conformance` for its tests only)" is not one.
        let mut depth = 0;
        let outside: String = cells[4]
            .chars()
            .filter(|&c| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => return depth == 0,
                }
                false
            })
            .collect();
        let mut named: Vec<String> = outside
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        named.sort();
        let package = packages
            .iter()
            .find(|p| short(p["name"].as_str().unwrap()) == name)
            .unwrap_or_else(|| panic!("no package for the row `{name}`"));
        let mut actual: Vec<String> = package["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null())
            .map(|d| short(d["name"].as_str().unwrap()))
            .filter(|d| members.contains(d))
            .collect();
        actual.sort();
        assert_eq!(named, actual, "ARCHITECTURE.md's row for `{name}`");
        rows += 1;
    }
    assert_eq!(rows, members.len(), "one row per workspace crate");
}

/// Debian installs usbip in /usr/sbin, off an ordinary user's PATH, and
/// `--tcp-port` is an option of usbip itself, before the subcommand.
#[test]
fn usbip_commands_in_the_docs_run_as_written() {
    for (path, text) in user_docs() {
        for line in code_lines(&text) {
            let command = command_of(line);
            let words: Vec<&str> = command.split_whitespace().collect();
            assert!(
                words.first() != Some(&"usbip"),
                "{}: run usbip with sudo (it is in /usr/sbin on Debian):\n{line}",
                path.display()
            );
            if words.get(..2) != Some(&["sudo", "usbip"][..]) {
                continue;
            }
            if let Some(port) = words.iter().position(|w| *w == "--tcp-port") {
                let sub = words
                    .iter()
                    .position(|w| ["list", "attach", "port", "detach"].contains(w))
                    .unwrap();
                assert!(
                    port < sub,
                    "{}: --tcp-port goes before the subcommand:\n{line}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn relative_links_in_the_docs_lead_somewhere() {
    for (path, text) in user_docs() {
        let dir = path.parent().unwrap();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let target = &rest[..rest.find(')').unwrap()];
            if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
                continue;
            }
            let file = target.split('#').next().unwrap();
            assert!(
                dir.join(file).exists(),
                "{}: the link ({target}) leads nowhere",
                path.display()
            );
        }
    }
}

/// The README's configuration example, copied as a new user would, on a
/// machine with no desktop: `softkey config` accepts it and `serve` starts.
#[test]
fn the_readme_config_example_works_on_a_headless_machine() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    assert!(example.contains("presence = "), "{example}");
    let home = TempDir::new("readme-config");
    std::fs::create_dir_all(home.path().join("softkey")).unwrap();
    std::fs::write(home.path().join("softkey/config.toml"), example).unwrap();
    let out = common::softkey()
        .env("XDG_CONFIG_HOME", home.path())
        .arg("config")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No session bus, no desktop: what a server or a container has.
    let no_bus = format!("unix:path={}", home.path().join("no-bus").display());
    let env = [
        (
            "XDG_CONFIG_HOME".to_owned(),
            home.path().display().to_string(),
        ),
        ("DBUS_SESSION_BUS_ADDRESS".to_owned(), no_bus),
    ];
    let server = Server::try_start_with_env(&["--ephemeral"], &env);
    assert!(server.is_ok(), "{}", server.err().unwrap_or_default());
}

/// A test that drives an outside tool is `#[ignore]`d with the reason
/// where the tool is missing (build.rs), never a silent `ok`: every test
/// whose body uses one carries the matching marker.
#[test]
fn every_test_that_needs_an_outside_tool_is_marked() {
    let needs: &[(&str, &[&str])] = &[
        (
            "missing_tmux",
            &["Pane::start", "Terminal::run", "\"tmux\""],
        ),
        ("missing_dbus_daemon", &["desktop(", "SessionBus::start"]),
        ("missing_usbip", &["system_tool(\"usbip\")"]),
        ("missing_python_venv", &["python::with_fido2"]),
        (
            "missing_root",
            &["other_user(", "try_start_as(Some", "chown("],
        ),
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("tests")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("repository.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for test in text.split("#[test]\n").skip(1) {
            let (attrs_and_sig, body) = test.split_once('{').unwrap();
            let body = body.split("\n}\n").next().unwrap();
            let name = attrs_and_sig
                .split("fn ")
                .nth(1)
                .and_then(|s| s.split('(').next())
                .unwrap_or("?");
            for (cfg, uses) in needs {
                if uses.iter().any(|u| body.contains(u)) {
                    checked += 1;
                    assert!(
                        attrs_and_sig.contains(&format!("{cfg},"))
                            || attrs_and_sig.contains(&format!("{cfg})")),
                        "{}: {name} uses what {cfg} names but is not marked \
                         #[cfg_attr({cfg}, ignore = \"needs …\")]",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(
        checked > 20,
        "the scan found only {checked} uses: is it still looking?"
    );
}

/// The repository stands alone: no comment or document points to a design
/// document outside it, or to an issue number a reader cannot open
/// (CONTRIBUTING.md "How a file reads"). Spec sections and the project's own
/// documents are what to cite.
#[test]
fn nothing_points_outside_the_repository() {
    // Spelled in pieces, so that this file does not match itself.
    let outside = ["brief", "protocol", "security", "crates"].map(|name| format!("{name}.md"));
    let issue = format!("{} ", "issue");
    let mut found = Vec::new();
    let mut stack = vec![root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path
                .strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if [
                ".git",
                "target",
                "fuzz/corpus",
                "fuzz/artifacts",
                "fuzz/target",
            ]
            .iter()
            .any(|skip| relative == *skip)
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text_file =
                path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    ["rs", "md", "toml", "sh", "py", "json", "service"].contains(&e)
                }) || relative.starts_with(".ci/");
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            if !text_file {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let lower = line.to_lowercase();
                // The match is case-sensitive: SECURITY.md is the repository's own.
                let outside_doc = outside.iter().any(|doc| line.contains(doc.as_str()));
                let issue_number = lower.match_indices(&issue).any(|(at, _)| {
                    lower[at + issue.len()..].starts_with(|c: char| c.is_ascii_digit())
                });
                if outside_doc || issue_number {
                    found.push(format!("{relative}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "references outside the repository:\n{}",
        found.join("\n")
    );
}
