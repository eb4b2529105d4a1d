//! Runs every conformance check against a USB/IP FIDO device and prints the reports.
//!
//! Usage: `cargo run -p softkey-conformance --example check -- [ADDR:PORT] [CHECK...]`
//! (default 127.0.0.1:3240, all checks). Exits 1 if any check fails.

use std::net::SocketAddr;

use softkey_conformance::checks::{ALL, CheckReport};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match args
        .next()
        .unwrap_or_else(|| "127.0.0.1:3240".into())
        .parse()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad address: {e}");
            std::process::exit(2);
        }
    };
    let only: Vec<String> = args.collect();
    // A misspelled name would otherwise run nothing and report success.
    let unknown: Vec<&String> = only
        .iter()
        .filter(|o| !ALL.iter().any(|(name, _)| name == o))
        .collect();
    if !unknown.is_empty() {
        let names: Vec<&str> = ALL.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "no check named {}; the checks are: {}",
            unknown
                .iter()
                .map(|u| format!("`{u}`"))
                .collect::<Vec<_>>()
                .join(", "),
            names.join(", ")
        );
        std::process::exit(2);
    }
    let reports: Vec<CheckReport> = ALL
        .iter()
        .filter(|(name, _)| only.is_empty() || only.iter().any(|o| o == name))
        .map(|(_, check)| {
            let r = check(addr);
            println!("{r}");
            r
        })
        .collect();
    let failed = reports.iter().filter(|r| !r.passed).count();
    println!("{} passed, {failed} failed", reports.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
