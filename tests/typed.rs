//! Commands that ask for a passphrase, answered at a real terminal (tmux)
//! as a person types: a weak passphrase is named and must be confirmed, a
//! mistyped repeat or a wrong passphrase is asked again instead of ending
//! the command.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code: a failed unwrap is a failed test

mod common;

use std::time::Duration;

use common::terminal::Terminal;

const WAIT: Duration = Duration::from_secs(30);
const GOOD: &str = "correct horse battery staple";

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn init_warns_of_a_weak_passphrase_and_asks_again_after_a_typo() {
    let dir = common::TempDir::new("typed-init");
    let vault = dir.path().join("v.softkey").display().to_string();
    let t = Terminal::run(
        "typed-init",
        &[
            "init",
            "--vault",
            &vault,
            "--kdf-memory-mib",
            "8",
            "--kdf-iterations",
            "1",
        ],
    );
    t.wait_for("New vault passphrase:", WAIT);
    t.type_line("a");
    t.wait_for("This passphrase is short (1 character)", WAIT);
    t.wait_for("Use it anyway? [y/N]", WAIT);
    t.type_line("");
    // Declined: asked for another.
    t.wait_for_nth("New vault passphrase:", 2, WAIT);
    t.type_line(GOOD);
    t.wait_for("Repeat the passphrase:", WAIT);
    t.type_line("correct horse battery stapel");
    t.wait_for("The passphrases differ; try again.", WAIT);
    t.wait_for_nth("New vault passphrase:", 3, WAIT);
    t.type_line(GOOD);
    t.wait_for_nth("Repeat the passphrase:", 2, WAIT);
    t.type_line(GOOD);
    t.wait_for(&format!("Created vault {vault}"), WAIT);
    assert_eq!(t.exit_status(WAIT), 0, "{}", t.screen());
    assert!(!t.screen().contains(GOOD), "a passphrase was echoed");

    // A wrong passphrase is asked again; the right one unlocks.
    let t = Terminal::run("typed-list", &["list", "--vault", &vault]);
    t.wait_for("Vault passphrase:", WAIT);
    t.type_line("not the passphrase");
    t.wait_for("wrong passphrase (or a damaged vault); try again.", WAIT);
    t.wait_for_nth("Vault passphrase:", 2, WAIT);
    t.type_line(GOOD);
    assert_eq!(t.exit_status(WAIT), 0, "{}", t.screen());
    assert!(t.screen().contains("unlocked"), "{}", t.screen());
}

#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn three_wrong_passphrases_end_the_command() {
    let vault = common::TestVault::create("typed-wrong");
    let path = vault.path.display().to_string();
    let t = Terminal::run("typed-wrong", &["list", "--vault", &path]);
    for n in 1..=3 {
        t.wait_for_nth("Vault passphrase:", n, WAIT);
        t.type_line("wrong");
    }
    assert_eq!(t.exit_status(WAIT), 1, "{}", t.screen());
    t.wait_for("could not decrypt the vault", WAIT);
}

/// Calibration takes a second or more: it runs after the prompts, never
/// before the first one, where keys typed ahead would be echoed.
#[test]
#[cfg_attr(missing_tmux, ignore = "needs tmux, not found (apt-get install tmux)")]
fn the_passphrase_prompt_comes_before_calibration() {
    let dir = common::TempDir::new("typed-calibrate");
    let vault = dir.path().join("v.softkey").display().to_string();
    let t = Terminal::run("typed-calibrate", &["init", "--vault", &vault]);
    t.wait_for("New vault passphrase:", WAIT);
    assert!(!t.screen().contains("Calibrating"), "{}", t.screen());
    t.type_line(GOOD);
    t.wait_for("Repeat the passphrase:", WAIT);
    t.type_line(GOOD);
    t.wait_for("Calibrating Argon2id on this machine", WAIT);
    assert_eq!(t.exit_status(Duration::from_secs(120)), 0, "{}", t.screen());
    assert!(!t.screen().contains(GOOD), "a passphrase was echoed");
}
