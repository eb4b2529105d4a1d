//! makeCredential's response (CTAP 2.1 §6.1.2 steps 3, 14 and 19; WebAuthn
//! §6.1 authenticator data, §6.5 attestation): each check makes one
//! non-discoverable credential (a touch) and looks at one property of the
//! answer; the crate's client verifies the attestation statement of every
//! answer it parses.

use super::common::{RP_ID, pass_if};

fn verdict(cond: bool, ok: String, wrong: String) -> Result<Verdict, Error> {
    Ok(pass_if(cond, ok, wrong))
}
use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::{Attestation, GetAssertionRequest, MakeCredentialRequest, flags};

/// Makes a credential offering `algs`; the request and its verified answer.
fn make(s: &mut Session, algs: &[i64]) -> Result<(MakeCredentialRequest, Attestation), Error> {
    let mut cdh = [0u8; 32];
    crate::bytes::random_bytes(&mut cdh)?;
    let mut req = MakeCredentialRequest::new(cdh, RP_ID, b"conformance-user");
    req.pub_key_cred_params = algs.to_vec();
    let att = s.ctap2()?.make_credential(&req)?;
    Ok((req, att))
}

fn response_check(
    id: &str,
    spec: &str,
    expects: &str,
    judge: impl Fn(&mut Session, &MakeCredentialRequest, &Attestation) -> Result<Verdict, Error>
    + Send
    + Sync
    + 'static,
) -> Check {
    Check::in_family(
        Family::MakeCredentialResponse,
        id,
        spec,
        "makeCredential for a non-discoverable ES256 credential",
        expects,
        move |s| {
            let (req, att) = make(s, &[super::common::ES256])?;
            judge(s, &req, &att)
        },
    )
    .with_presence()
}

/// COSE algorithms a key may list (CTAP 2.1 §6.4 algorithms), by name.
const ALGORITHMS: [(&str, i64); 10] = [
    ("es256", -7),
    ("eddsa", -8),
    ("es384", -35),
    ("es512", -36),
    ("es256k", -47),
    ("rs256", -257),
    ("ps256", -37),
    ("ml-dsa-44", -48),
    ("ml-dsa-65", -49),
    ("ml-dsa-87", -50),
];

pub fn checks() -> Vec<Check> {
    let mut checks = vec![
        response_check(
            "verifies",
            "CTAP 2.1 §6.1.2 step 19; WebAuthn §6.5",
            "fmt, authData and attStmt; the statement verifies",
            |_, _, a| {
                Ok(Verdict::Pass(format!(
                    "fmt {}, {} bytes",
                    a.fmt,
                    a.raw.len()
                )))
            },
        ),
        response_check(
            "rp-id-hash",
            "WebAuthn §6.1 (rpIdHash is SHA-256 of the RP id)",
            "rpIdHash = SHA-256(rp.id)",
            |_, r, a| {
                let ok = a.auth_data.check_rp_id(&r.rp.id).is_ok();
                verdict(
                    ok,
                    "matches".into(),
                    "rpIdHash is not SHA-256 of the RP id".into(),
                )
            },
        ),
        response_check(
            "flags-up-at",
            "CTAP 2.1 §6.1.2 step 14 (UP), step 19 (AT)",
            "UP and AT set",
            |_, _, a| {
                let f = a.flags();
                verdict(
                    f & flags::UP != 0 && f & flags::AT != 0,
                    format!("flags {f:#04x}"),
                    format!("flags {f:#04x} lack UP or AT"),
                )
            },
        ),
        response_check(
            "flags-no-uv",
            "CTAP 2.1 §6.1.2 step 11 (UV only when verified)",
            "UV clear: no verification was asked for",
            |_, _, a| {
                let f = a.flags();
                verdict(
                    f & flags::UV == 0,
                    format!("flags {f:#04x}"),
                    format!("flags {f:#04x} claim UV"),
                )
            },
        ),
        response_check(
            "flags-no-ed",
            "WebAuthn §6.1 (ED only with extension outputs)",
            "ED clear: no extensions were asked for",
            |_, _, a| {
                let f = a.flags();
                let has = a.auth_data.extensions.is_some();
                verdict(
                    (f & flags::ED != 0) == has,
                    format!(
                        "flags {f:#04x}, extension data {}",
                        if has { "present" } else { "absent" }
                    ),
                    format!("ED {} but extension data {}", f & flags::ED != 0, has),
                )
            },
        ),
        response_check(
            "aaguid",
            "CTAP 2.1 §6.4 (aaguid), WebAuthn §6.5.1; §8.6 (fido-u2f has a zero AAGUID)",
            "the AAGUID getInfo gives (zero for fido-u2f)",
            |s, _, a| {
                let want = if a.fmt == "fido-u2f" {
                    [0; 16]
                } else {
                    s.info()?.aaguid
                };
                verdict(
                    a.aaguid() == want,
                    crate::hex(&want),
                    format!(
                        "AAGUID {} in authData, {} expected",
                        crate::hex(&a.aaguid()),
                        crate::hex(&want)
                    ),
                )
            },
        ),
        response_check(
            "credential-id-length",
            "WebAuthn §4 (16 to 1023 bytes); CTAP 2.1 §6.4 maxCredentialIdLength",
            "a credential ID of 16 bytes to maxCredentialIdLength (or 1023)",
            |s, _, a| {
                let len = a.credential_id().len() as u64;
                let max = s.info()?.max_credential_id_length.unwrap_or(1023);
                verdict(
                    (16..=max).contains(&len),
                    format!("{len} bytes"),
                    format!("{len} bytes, outside 16..={max}"),
                )
            },
        ),
        response_check(
            "key-algorithm",
            "CTAP 2.1 §6.1.2 step 3 (the credential uses the chosen algorithm)",
            "an ES256 public key",
            |_, _, a| {
                let alg = a.public_key().alg();
                verdict(alg == -7, "ES256".into(), format!("COSE algorithm {alg}"))
            },
        ),
        response_check(
            "credential-signs",
            "CTAP 2.1 §6.2.2 step 11; WebAuthn §6.3.3",
            "a getAssertion naming it: the signature verifies with the attested key",
            |s, r, a| {
                let mut cdh = [0u8; 32];
                crate::bytes::random_bytes(&mut cdh)?;
                let mut ga = GetAssertionRequest::new(&r.rp.id, cdh);
                ga.allow_list = vec![a.credential_id().to_vec()];
                let assertion = s.ctap2()?.get_assertion(&ga)?;
                assertion.verify(a.public_key(), &cdh)?;
                Ok(Verdict::Pass(format!(
                    "signCount {}",
                    assertion.sign_count()
                )))
            },
        ),
        response_check(
            "two-credentials-differ",
            "WebAuthn §6.1.3 (a new key pair and ID per credential)",
            "a second credential has another ID and key",
            |s, _, a| {
                let (_, b) = make(s, &[super::common::ES256])?;
                verdict(
                    a.credential_id() != b.credential_id()
                        && a.credential.cose_key != b.credential.cose_key,
                    "distinct".into(),
                    "two makeCredentials returned the same ID or key".into(),
                )
            },
        ),
    ];
    for (name, alg) in ALGORITHMS {
        checks.push(
            Check::new(
                format!("mc-response.algorithm.{name}"),
                Family::MakeCredentialResponse,
                "CTAP 2.1 §6.4 (algorithms), §6.1.2 step 3",
                format!("makeCredential offering only COSE {alg}"),
                format!("a credential with a COSE {alg} key whose attestation verifies"),
                move |s| {
                    let info = s.info()?;
                    if !info
                        .algorithms
                        .iter()
                        .any(|(t, a)| t == "public-key" && *a == alg)
                    {
                        return Ok(Verdict::NotApplicable(format!(
                            "getInfo algorithms lack {alg}"
                        )));
                    }
                    let (_, att) = make(s, &[alg])?;
                    verdict(
                        att.public_key().alg() == alg,
                        format!("fmt {}", att.fmt),
                        format!("COSE algorithm {}", att.public_key().alg()),
                    )
                },
            )
            .with_presence(),
        );
    }
    checks.push(
        Check::new(
            "mc-response.first-supported-algorithm",
            Family::MakeCredentialResponse,
            "CTAP 2.1 §6.1.2 step 3 (the first algorithm of the list the key supports)",
            "makeCredential offering the key's last listed algorithm, then ES256",
            "a credential of the first offered algorithm",
            |s| {
                let info = s.info()?;
                let Some(&(_, first)) = info
                    .algorithms
                    .iter()
                    .rev()
                    .find(|(t, a)| t == "public-key" && *a != -7)
                else {
                    return Ok(Verdict::NotApplicable(
                        "getInfo lists no algorithm besides ES256".into(),
                    ));
                };
                let (_, att) = make(s, &[first, -7])?;
                verdict(
                    att.public_key().alg() == first,
                    format!("COSE {first}"),
                    format!("COSE {} instead of {first}", att.public_key().alg()),
                )
            },
        )
        .with_presence(),
    );
    checks
}
