//! `softkey man`: the manual pages (roff), generated from the clap
//! definition: `softkey(1)` first, then one page per subcommand
//! (`softkey-init(1)`, …), the pages the main page's COMMANDS section names.
//! With `--dir` each page is its own file there (`softkey-init.1`), so that
//! `man softkey-init` finds what the main page refers to; without, every
//! page goes to standard output (`man -l -` renders the stream; each page
//! starts with its own `.TH`).

use std::io::Write;

use anyhow::{Context, Result};
use clap::CommandFactory;
use clap_mangen::Man;

use crate::cli::{Cli, ManArgs};

pub fn run(args: &ManArgs) -> Result<()> {
    let pages = pages().context("rendering the manual pages")?;
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, page) in &pages {
                let path = dir.join(format!("{name}.1"));
                std::fs::write(&path, page)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("Wrote {} manual pages to {}.", pages.len(), dir.display());
            Ok(())
        }
        None => {
            let mut out = std::io::stdout().lock();
            for (_, page) in &pages {
                out.write_all(page)
                    .context("writing the manual pages to standard output")?;
            }
            Ok(())
        }
    }
}

/// Every page with its name: `softkey`, then `softkey-SUBCOMMAND`.
fn pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cli = Cli::command().disable_help_subcommand(true);
    // Builds the subcommands too, so their synopses read "softkey init …".
    cli.build();
    let mut pages = Vec::new();
    let mut main = Vec::new();
    render(&cli, &mut main)?;
    pages.push(("softkey".to_owned(), main));
    for sub in cli.get_subcommands() {
        let name = format!("softkey-{}", sub.get_name());
        let mut page = Vec::new();
        render(&sub.clone().display_name(name.clone()), &mut page)?;
        pages.push((name, page));
    }
    Ok(pages)
}

/// One page; the after-help text ("Examples:\n  softkey …") becomes an
/// EXAMPLES section (or QUICK START) with its lines kept as they are.
fn render(cmd: &clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    let title = cmd
        .get_display_name()
        .unwrap_or(cmd.get_name())
        .to_uppercase();
    let without_extra = cmd
        .clone()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let mut page = Vec::new();
    Man::new(without_extra).title(title).render(&mut page)?;
    out.extend_from_slice(&title_first(&String::from_utf8_lossy(&page)).into_bytes());
    let extra = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(ToString::to_string);
    if let Some(text) = extra {
        extra_section(&text, out)?;
    }
    Ok(())
}

/// Moves the `.TH` request to the top, ahead of clap_mangen's string
/// definitions (`.ie \n(.g .ds Aq …`): a page then starts with its title,
/// as man(7) pages conventionally do, and the definitions still precede
/// any text that uses them.
fn title_first(page: &str) -> String {
    let mut lines: Vec<&str> = page.lines().collect();
    if let Some(at) = lines.iter().position(|l| l.starts_with(".TH ")) {
        let title = lines.remove(at);
        lines.insert(0, title);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// "Heading:" lines become `.SH HEADING`; other lines are printed verbatim
/// (no filling) so that commands stay one per line.
fn extra_section(text: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut in_block = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(heading) = trimmed.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            if in_block {
                writeln!(out, ".fi")?;
            }
            writeln!(out, ".SH {}", escape(&heading.to_uppercase()))?;
            writeln!(out, ".nf")?;
            in_block = true;
        } else if !trimmed.is_empty() {
            if !in_block {
                writeln!(out, ".SH NOTES\n.nf")?;
                in_block = true;
            }
            writeln!(out, "{}", escape(line))?;
        }
    }
    if in_block {
        writeln!(out, ".fi")?;
    }
    Ok(())
}

/// Roff-safe text: backslashes and hyphens escaped, and a leading `.` or
/// `'` (a request) neutralised with a zero-width escape.
fn escape(line: &str) -> String {
    let body = line.replace('\\', "\\e").replace('-', "\\-");
    if body.starts_with('.') || body.starts_with('\'') {
        format!("\\&{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_become_a_verbatim_section() {
        let mut out = Vec::new();
        extra_section("Examples:\n  softkey serve --ephemeral\n  .x \\y", &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            ".SH EXAMPLES\n.nf\n  softkey serve \\-\\-ephemeral\n  .x \\ey\n.fi\n"
        );
        assert_eq!(escape(".TH"), "\\&.TH");
        assert_eq!(
            title_first(".ie x\n.el y\n.TH A 1\n.SH NAME\n"),
            ".TH A 1\n.ie x\n.el y\n.SH NAME\n"
        );
    }
}
