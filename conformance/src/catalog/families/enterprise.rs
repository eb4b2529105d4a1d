//! Enterprise attestation (CTAP 2.1 §6.1.2 step 9, §6.11.1
//! enableEnterpriseAttestation, §7.1), for a key whose getInfo offers
//! "ep": turned on with an acfg token, then asked for platform-managed (2)
//! and vendor-facilitated (1, for the RP id given with `--ep-rp-id`).
//! Destructive: turning it on is a setting only a reset undoes.

use super::common::{RP_ID, pass_if, refused, send_make_credential, status_text};
use super::verified::token;
use crate::Error;
use crate::catalog::pin::Protocol;
use crate::catalog::pin::permission::AUTHENTICATOR_CONFIG;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{Value, int};
use crate::ctap2::{AttestationCheck, MakeCredentialRequest, command, status};

const ENABLE_ENTERPRISE_ATTESTATION: u8 = 0x01;

/// Turns enterprise attestation on (if getInfo does not say it is).
/// `Err` with the check's verdict: not applicable to a key without "ep",
/// failed when the key does not turn it on.
fn ensure_enabled(s: &mut Session) -> Result<Result<(), Verdict>, Error> {
    s.forget_info();
    match s.info()?.option("ep") {
        None => {
            return Ok(Err(Verdict::NotApplicable(
                "getInfo has no \"ep\" option".into(),
            )));
        }
        Some(true) => return Ok(Ok(())),
        Some(false) => {}
    }
    let t = match token(s, AUTHENTICATOR_CONFIG, None)? {
        Ok(t) => t,
        Err(verdict) => return Ok(Err(verdict)),
    };
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0D, ENABLE_ENTERPRISE_ATTESTATION]);
    let request = Value::Map(vec![
        (int(1), int(i64::from(ENABLE_ENTERPRISE_ATTESTATION))),
        (int(3), int(2)),
        (
            int(4),
            Value::Bytes(Protocol::Two.authenticate(&t, &message)),
        ),
    ]);
    let st = s.send(command::CONFIG, Some(&request))?.0;
    s.forget_info();
    Ok(match (st, s.info()?.option("ep")) {
        (0, Some(true)) => Ok(()),
        (st, ep) => Err(Verdict::Fail(format!(
            "enableEnterpriseAttestation: {}, ep {ep:?}",
            status_text(st)
        ))),
    })
}

/// makeCredential for `rp_id` with `enterpriseAttestation` (if any): the
/// epAtt it answered and whether the statement had an x5c chain, or the
/// status.
fn make(s: &mut Session, rp_id: &str, ep: Option<i64>) -> Result<Result<(bool, bool), u8>, Error> {
    let mut cdh = [0u8; 32];
    crate::bytes::random_bytes(&mut cdh)?;
    let mut req = MakeCredentialRequest::new(cdh, rp_id, b"conformance-user");
    if let Some(ep) = ep {
        req.extra.push((int(0x0A), int(ep)));
    }
    Ok(send_make_credential(s, &req)?.map(|a| {
        (
            a.ep_att == Some(true),
            matches!(a.check, AttestationCheck::Batch(_)),
        )
    }))
}

/// Pass when a makeCredential for `rp_id` asking enterpriseAttestation
/// `ep` gets epAtt true and an attestation with an x5c chain.
fn enterprise_attested(s: &mut Session, rp_id: &str, ep: i64) -> Result<Verdict, Error> {
    Ok(match make(s, rp_id, Some(ep))? {
        Ok((ep_att, chain)) => pass_if(
            ep_att && chain,
            "epAtt true, x5c",
            format!("epAtt {ep_att}, x5c {chain}"),
        ),
        Err(st) => Verdict::Fail(status_text(st)),
    })
}

fn check(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(Family::Enterprise, id, spec, sends, expects, body)
        .gated(ensure_enabled)
        .destructive()
}

pub fn checks() -> Vec<Check> {
    let step9 = "CTAP 2.1 §6.1.2 step 9";
    vec![
        check(
            "enable",
            "CTAP 2.1 §6.11.1 enableEnterpriseAttestation",
            "enableEnterpriseAttestation with an acfg token",
            "getInfo ep true",
            |_| Ok(Verdict::Pass("ep: true".into())),
        ),
        check(
            "platform-managed",
            step9,
            "makeCredential with enterpriseAttestation 2",
            "after a touch: epAtt true and an attestation with an x5c chain",
            |s| enterprise_attested(s, RP_ID, 2),
        )
        .with_presence(),
        check(
            "vendor-facilitated-listed",
            step9,
            "makeCredential with enterpriseAttestation 1 for the RP id given with --ep-rp-id",
            "after a touch: epAtt true and an attestation with an x5c chain",
            |s| {
                let Some(rp) = s.ep_rp_id.clone() else {
                    return Ok(Verdict::NotApplicable(
                        "no --ep-rp-id names an RP id the key lists".into(),
                    ));
                };
                enterprise_attested(s, &rp, 1)
            },
        )
        .with_presence(),
        check(
            "vendor-facilitated-unlisted",
            "CTAP 2.1 §6.1.2 step 9 (an RP id not on the key's list gets ordinary attestation)",
            "makeCredential with enterpriseAttestation 1 for an RP id on no list",
            "after a touch: a credential without epAtt",
            |s| {
                Ok(
                    match make(s, "unlisted.conformance.softkey.example", Some(1))? {
                        Ok((ep_att, _)) => {
                            pass_if(!ep_att, "no epAtt", "epAtt true for an unlisted RP id")
                        }
                        Err(st) => Verdict::Fail(status_text(st)),
                    },
                )
            },
        )
        .with_presence(),
        check(
            "unknown-value",
            step9,
            "makeCredential with enterpriseAttestation 3",
            "0x2C CTAP2_ERR_INVALID_OPTION",
            |s| Ok(refused(make(s, RP_ID, Some(3))?, status::INVALID_OPTION)),
        ),
        check(
            "not-asked",
            step9,
            "makeCredential without enterpriseAttestation, with ep on",
            "after a touch: a credential without epAtt",
            |s| {
                Ok(match make(s, RP_ID, None)? {
                    Ok((ep_att, _)) => pass_if(!ep_att, "no epAtt", "epAtt true unasked"),
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        )
        .with_presence(),
    ]
}
