//! `softkey attestation-ca`: print the vault's attestation CA certificate
//! (PEM), the trust anchor an RP needs to verify softkey's packed batch
//! (and enterprise) attestation (WebAuthn §8.2).

use anyhow::{Context, Result};
use softkey_authenticator::{DEFAULT_AAGUID, attestation_ca_pem, provision_attestation};

use crate::cli::AttestationCaArgs;
use crate::store::Backing;

pub fn run(args: &AttestationCaArgs) -> Result<()> {
    let mut store = Backing::vault(super::open_vault(&args.vault)?);
    let pem = match attestation_ca_pem(&store).context(
        "cannot read the attestation CA: its vault record is damaged (`softkey export` the \
         passkeys and import them into a new vault)",
    )? {
        Some(pem) => pem,
        None => {
            // Vaults made before attestation existed get their CA now.
            let pem = provision(&mut store)?;
            eprintln!("This vault had no attestation CA; created one.");
            pem
        }
    };
    print!("{pem}");
    Ok(())
}

/// Creates the attestation CA and batch certificate in `store` (or returns
/// the existing CA): `softkey init`, `serve --ephemeral`, and old vaults.
pub fn provision(store: &mut Backing) -> Result<String> {
    provision_attestation(store, &mut os_random, DEFAULT_AAGUID)
        .context("cannot create the attestation CA (nothing was saved; try again)")
}

fn os_random(buf: &mut [u8]) {
    // No fallback exists for a broken OS RNG: keys must not be made without one.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}
