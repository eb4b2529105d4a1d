//! `softkey-bench --scale N,…`: the issue-5 scale figures for a vault holding N
//! discoverable credentials: unlock time minus the KDF, file size per credential,
//! resident makeCredential (durable append), username-less getAssertion on an RP with
//! 50 accounts, allowList getAssertion of credentials picked at random, and the
//! server's memory.
//!
//! Per N: `Vault::create` (KdfParams::DEFAULT) + attestation provisioning (what
//! `softkey init` does), then N − 1 synthetic passkeys imported with `import_backup`
//! over the product's vault store (one atomic batch). A first `softkey serve` run
//! registers the N-th passkey over USB/IP on the 50-account RP, so that one account's
//! public key is known and every username-less assertion can be verified (it is the
//! newest, so it comes first: CTAP 2.1 §6.2.2 step 11). Then the vault is opened
//! in-process to time the unlock, and a second `softkey serve` is measured over USB/IP.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use softkey_authenticator::{DEFAULT_AAGUID, import_backup, provision_attestation};
use softkey_conformance::ctap2::{Attestation, Ctap2, GetAssertionRequest};
use softkey_vault::{KdfParams, Vault};

use crate::measure::{self, Key};
use crate::report::Summary;
use crate::scale_data::{self, RP_MANY, Random};
use crate::server::{self, Memory, PASSPHRASE, ServerProcess, TempDir};
use softkey::store::Backing;
use softkey_transport::DEFAULT_BUS_ID;

/// Accounts on [`RP_MANY`]: one RP with many accounts.
pub const MANY_ACCOUNTS: usize = 50;
/// RP of the timed resident makeCredentials (new users on an RP not in the data set).
const RP_NEW: &str = "new.example";
/// In-process opens timed per N.
const UNLOCKS: usize = 5;

/// Sample counts of one scale run.
#[derive(Debug, Clone, Copy)]
pub struct ScalePlan {
    pub assertions: usize,
    pub make_credentials: usize,
}

/// Everything measured for one N.
#[derive(Debug, Clone)]
pub struct ScaleRow {
    /// Discoverable credentials in the vault while getAssertion is measured.
    pub credentials: usize,
    /// Time to build the N − 1 synthetic credentials, and to import them.
    pub generate: Duration,
    pub import: Duration,
    /// From the in-process opens: file size and records (credentials and device state).
    pub file_len: u64,
    pub live_records: usize,
    pub kdf: Summary,
    pub unlock_minus_kdf: Summary,
    pub make_credential_rk: Summary,
    pub username_less: Summary,
    pub allow_list: Summary,
    /// Of the measured server, after all measurements.
    pub memory: Memory,
    /// Time from spawning the measured server to its address line (unlock included).
    pub server_start: Duration,
}

impl ScaleRow {
    pub fn bytes_per_credential(&self) -> f64 {
        self.file_len as f64 / self.credentials.max(1) as f64
    }
}

/// Measures one vault of `n` discoverable credentials in a fresh directory under `dir`.
pub fn run_size(softkey: &Path, dir: &Path, n: usize, plan: ScalePlan) -> Result<ScaleRow> {
    ensure!(
        n > MANY_ACCOUNTS,
        "--scale sizes must exceed {MANY_ACCOUNTS} (one RP has {MANY_ACCOUNTS} accounts)"
    );
    let tmp = TempDir::new(dir)?;
    let vault_path = tmp.path().join("scale.softkey");
    let pass_path = tmp.path().join("passphrase");
    server::write_passphrase_file(&pass_path)?;

    eprintln!("softkey-bench: N = {n}: generating {} passkeys…", n - 1);
    let mut rng = Random::new();
    let t = Instant::now();
    let contents = scale_data::generate(n - 1, MANY_ACCOUNTS - 1, &mut rng)?;
    let generate = t.elapsed();
    let imported: Vec<(String, Vec<u8>)> = contents
        .credentials
        .iter()
        .map(|c| (c.rp_id.clone(), c.credential_id.clone()))
        .collect();

    eprintln!("softkey-bench: N = {n}: creating the vault and importing…");
    let vault = Vault::create(&vault_path, PASSPHRASE.as_bytes(), KdfParams::DEFAULT)
        .with_context(|| format!("cannot create {}", vault_path.display()))?;
    let mut store = Backing::vault(vault);
    provision_attestation(&mut store, &mut os_random, DEFAULT_AAGUID)
        .context("provisioning attestation")?;
    let t = Instant::now();
    let report = import_backup(&mut store, &contents).context("import_backup")?;
    // As `softkey import` does: one sorted snapshot after a bulk import.
    store.compact().context("compacting after the import")?;
    let import = t.elapsed();
    ensure!(
        report.added.len() == n - 1,
        "the import added {} of {} credentials",
        report.added.len(),
        n - 1
    );
    drop(store);
    drop(contents);

    // The N-th passkey, made over USB/IP so its public key is known (module docs).
    let registered = {
        let server = ServerProcess::serve_vault(softkey, &vault_path, &pass_path, None)?;
        let mut key = connect(&server)?;
        let req = measure::mc_request(RP_MANY, b"bench-registered", true)?;
        measure::make_credential(&mut key, &req)?.1
    };

    eprintln!("softkey-bench: N = {n}: timing {UNLOCKS} unlocks…");
    let unlock = unlocks(&vault_path)?;

    eprintln!("softkey-bench: N = {n}: measuring over USB/IP…");
    let t = Instant::now();
    let mut server = ServerProcess::serve_vault(softkey, &vault_path, &pass_path, None)?;
    let server_start = t.elapsed();
    let mut key = connect(&server)?;
    let measured = measure_server(&mut key, &registered, &imported, &mut rng, plan)
        .with_context(|| format!("server stderr so far:\n{}", server.stderr_text()))?;
    server.check_alive()?;
    let memory = server.memory()?;
    drop(key);
    drop(server);

    Ok(ScaleRow {
        credentials: n,
        generate,
        import,
        file_len: unlock.file_len,
        live_records: unlock.live_records,
        kdf: unlock.kdf,
        unlock_minus_kdf: unlock.minus_kdf,
        make_credential_rk: measured.make_credential_rk,
        username_less: measured.username_less,
        allow_list: measured.allow_list,
        memory,
        server_start,
    })
}

fn connect(server: &ServerProcess) -> Result<Key> {
    Ctap2::connect(server.addr, DEFAULT_BUS_ID)
        .with_context(|| format!("attaching {DEFAULT_BUS_ID} at {}", server.addr))
}

fn os_random(buf: &mut [u8]) {
    // Attestation keys must not be made without randomness: fail loudly.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// What the in-process opens saw.
struct Unlocks {
    file_len: u64,
    live_records: usize,
    kdf: Summary,
    minus_kdf: Summary,
}

/// Opens the vault [`UNLOCKS`] times (each a full unlock: KDF, key unwrap, reading and
/// authenticating every record) and splits the time by `VaultStats`.
fn unlocks(path: &Path) -> Result<Unlocks> {
    let mut kdf = Vec::new();
    let mut minus_kdf = Vec::new();
    let mut last = None;
    for _ in 0..UNLOCKS {
        let vault = Vault::open(path, PASSPHRASE.as_bytes())
            .with_context(|| format!("cannot open {}", path.display()))?;
        let stats = vault.stats();
        ensure!(
            stats.recovered_tail_bytes == 0,
            "the vault had a torn tail of {} bytes",
            stats.recovered_tail_bytes
        );
        kdf.push(stats.kdf_time);
        minus_kdf.push(stats.open_time.saturating_sub(stats.kdf_time));
        last = Some(stats);
    }
    let last = last.ok_or_else(|| anyhow!("no unlock was timed"))?;
    let summary =
        |name, s: &[Duration]| Summary::of(name, s).ok_or_else(|| anyhow!("no {name} samples"));
    Ok(Unlocks {
        file_len: last.file_len,
        live_records: last.live_records,
        kdf: summary("KDF", &kdf)?,
        minus_kdf: summary("unlock minus KDF", &minus_kdf)?,
    })
}

struct Measured {
    make_credential_rk: Summary,
    username_less: Summary,
    allow_list: Summary,
}

fn measure_server(
    key: &mut Key,
    registered: &Attestation,
    imported: &[(String, Vec<u8>)],
    rng: &mut Random,
    plan: ScalePlan,
) -> Result<Measured> {
    // The registered passkey still signs correctly after the restart.
    let cdh = measure::client_data_hash()?;
    let mut req = GetAssertionRequest::new(RP_MANY, cdh);
    req.allow_list = vec![registered.credential_id().to_vec()];
    measure::get_assertion(key, &req)?
        .1
        .verify(registered.public_key(), &cdh)
        .context("allowList assertion of the registered passkey")?;

    for _ in 0..measure::WARMUP {
        username_less(key, registered)?;
        allow_list(key, imported, rng)?;
    }
    let summary = |name: &str, samples: Vec<Duration>| {
        Summary::of(name, &samples).ok_or_else(|| anyhow!("no samples for {name}"))
    };
    let username_less = summary(
        "getAssertion, username-less, 50 accounts",
        measure::repeat(plan.assertions, |_| username_less(key, registered))?,
    )?;
    let allow_list = summary(
        "getAssertion, allowList of 1 (random credential)",
        measure::repeat(plan.assertions, |_| allow_list(key, imported, rng))?,
    )?;
    // Last, so getAssertion ran on exactly N credentials.
    let make_credential_rk = summary(
        "makeCredential, resident",
        measure::repeat(plan.make_credentials, |i| {
            let user = format!("new-{i}");
            let req = measure::mc_request(RP_NEW, user.as_bytes(), true)?;
            Ok(measure::make_credential(key, &req)?.0)
        })?,
    )?;
    Ok(Measured {
        make_credential_rk,
        username_less,
        allow_list,
    })
}

/// Username-less getAssertion on [`RP_MANY`]: 50 accounts, the registered (newest)
/// first, its signature verified after the clock stopped.
fn username_less(key: &mut Key, registered: &Attestation) -> Result<Duration> {
    let cdh = measure::client_data_hash()?;
    let (d, a) = measure::get_assertion(key, &GetAssertionRequest::new(RP_MANY, cdh))?;
    let count = a.number_of_credentials.unwrap_or(1);
    ensure!(
        count == MANY_ACCOUNTS as u64,
        "{RP_MANY}: numberOfCredentials {count}, expected {MANY_ACCOUNTS}"
    );
    // CTAP 2.1 §6.2.2 step 11: most recently created first.
    ensure!(
        a.credential_id == registered.credential_id(),
        "{RP_MANY}: the first account is not the newest"
    );
    a.verify(registered.public_key(), &cdh)
        .context("username-less assertion signature")?;
    Ok(d)
}

/// getAssertion with an allowList of one imported credential picked at random. The
/// response must name it with the right rpIdHash and UP (checked by the parser); its
/// public key is not known to the bench, so the signature is not verified.
fn allow_list(key: &mut Key, imported: &[(String, Vec<u8>)], rng: &mut Random) -> Result<Duration> {
    let (rp_id, id) = imported
        .get(rng.below(imported.len())?)
        .ok_or_else(|| anyhow!("no imported credentials"))?;
    let mut req = GetAssertionRequest::new(rp_id, measure::client_data_hash()?);
    req.allow_list = vec![id.clone()];
    let (d, a) = measure::get_assertion(key, &req)?;
    ensure!(
        a.credential_id == *id,
        "{rp_id}: asserted another credential"
    );
    Ok(d)
}
