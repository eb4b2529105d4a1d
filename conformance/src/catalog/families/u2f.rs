//! CTAP1/U2F over CTAPHID_MSG (FIDO U2F Raw Message Formats v1.2 §3–§6;
//! CTAP 2.1 §11.2.9.1.1 CTAPHID_MSG and §10 "Interoperating with
//! CTAP1/U2F"): VERSION, REGISTER and AUTHENTICATE, their signatures
//! verified, and the status words for what a U2F key must refuse. For keys
//! that speak U2F: MSG offered (no NMSG) and, on a CTAP2 key, U2F_V2 among
//! getInfo's versions.

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use x509_cert::der::Decode;

use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctaphid::capability;

const SW_NO_ERROR: u16 = 0x9000;
const SW_WRONG_LENGTH: u16 = 0x6700;
const SW_CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
const SW_WRONG_DATA: u16 = 0x6A80;
const SW_INS_NOT_SUPPORTED: u16 = 0x6D00;
const SW_CLA_NOT_SUPPORTED: u16 = 0x6E00;

const REGISTER: u8 = 0x01;
const AUTHENTICATE: u8 = 0x02;
const VERSION: u8 = 0x03;
const ENFORCE: u8 = 0x03;
const CHECK_ONLY: u8 = 0x07;

/// An extended-length command APDU (§3.1): `CLA INS P1 P2 00 Lc1 Lc2 data 00 00`.
fn apdu(cla: u8, ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap_or(u16::MAX).to_be_bytes();
    let mut out = vec![cla, ins, p1, 0x00, 0x00];
    out.extend_from_slice(&len);
    out.extend_from_slice(data);
    out.extend_from_slice(&[0x00, 0x00]);
    out
}

/// Sends an APDU; the response data and status word.
fn send(s: &mut Session, apdu: &[u8]) -> Result<(Vec<u8>, u16), Error> {
    let mut r = s.hid()?.msg(apdu)?;
    if r.len() < 2 {
        return Err(Error::protocol("a U2F response without a status word"));
    }
    let sw = r.split_off(r.len() - 2);
    let sw: [u8; 2] = sw.try_into().map_err(|_| Error::protocol("status word"))?;
    Ok((r, u16::from_be_bytes(sw)))
}

/// Whether the key speaks U2F; `Err` with the reason it does not.
fn speaks_u2f(s: &mut Session) -> Result<Result<(), String>, Error> {
    if s.hid()?.capabilities() & capability::NMSG != 0 {
        return Ok(Err("CTAPHID_INIT sets NMSG: no CTAPHID_MSG".into()));
    }
    if s.offers_cbor()? && !s.info()?.versions.iter().any(|v| v == "U2F_V2") {
        return Ok(Err("getInfo versions lack U2F_V2".into()));
    }
    Ok(Ok(()))
}

fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    crate::bytes::random_bytes(&mut b)?;
    Ok(b)
}

/// A verified registration: the user key and key handle.
struct Registration {
    key: VerifyingKey,
    key_handle: Vec<u8>,
}

/// REGISTER (§4), the attestation signature verified with the certificate's key.
fn register(s: &mut Session, app: &[u8; 32]) -> Result<Result<Registration, String>, Error> {
    let challenge = random32()?;
    let (r, sw) = send(
        s,
        &apdu(0, REGISTER, 0x03, &[challenge.as_slice(), app].concat()),
    )?;
    if sw != SW_NO_ERROR {
        return Ok(Err(format!("REGISTER answered {sw:04X}")));
    }
    let parsed = (|| {
        let (&reserved, rest) = r.split_first()?;
        let (user_key, rest) = rest.split_at_checked(65)?;
        let (&kh_len, rest) = rest.split_first()?;
        let (key_handle, rest) = rest.split_at_checked(usize::from(kh_len))?;
        // The certificate is one DER SEQUENCE; its length says where it ends.
        let cert_len = der_length(rest)?;
        let (cert, signature) = rest.split_at_checked(cert_len)?;
        Some((reserved, user_key, key_handle, cert, signature))
    })();
    let Some((reserved, user_key, key_handle, cert, signature)) = parsed else {
        return Ok(Err(format!(
            "a {}-byte REGISTER response that does not parse",
            r.len()
        )));
    };
    if reserved != 0x05 {
        return Ok(Err(format!("reserved byte {reserved:#04x}, not 0x05")));
    }
    let Ok(key) = VerifyingKey::from_sec1_bytes(user_key) else {
        return Ok(Err("the user public key is not a P-256 point".into()));
    };
    let Ok(cert) = x509_cert::Certificate::from_der(cert) else {
        return Ok(Err("the attestation certificate is not DER X.509".into()));
    };
    let spki = cert.tbs_certificate().subject_public_key_info();
    let Ok(attestation_key) = VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes())
    else {
        return Ok(Err("the attestation key is not P-256".into()));
    };
    let signed = [&[0x00][..], app, &challenge, key_handle, user_key].concat();
    let ok = Signature::from_der(signature)
        .is_ok_and(|sig| attestation_key.verify(&signed, &sig).is_ok());
    if !ok {
        return Ok(Err("the registration signature does not verify".into()));
    }
    Ok(Ok(Registration {
        key,
        key_handle: key_handle.to_vec(),
    }))
}

/// The length of the DER element at the start of `bytes`, header included.
fn der_length(bytes: &[u8]) -> Option<usize> {
    let (&first, rest) = bytes.get(1..)?.split_first()?;
    if first < 0x80 {
        return Some(2 + usize::from(first));
    }
    let n = usize::from(first & 0x7F);
    let len = rest
        .get(..n)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Some(2 + n + len)
}

fn authenticate_data(app: &[u8; 32], key_handle: &[u8]) -> Result<(Vec<u8>, [u8; 32]), Error> {
    let challenge = random32()?;
    let len = u8::try_from(key_handle.len())
        .map_err(|_| Error::Usage("key handle over 255 bytes".into()))?;
    Ok((
        [challenge.as_slice(), app, &[len], key_handle].concat(),
        challenge,
    ))
}

/// AUTHENTICATE with enforce-user-presence; the counter, verified.
fn authenticate(
    s: &mut Session,
    app: &[u8; 32],
    reg: &Registration,
) -> Result<Result<u32, String>, Error> {
    let (data, challenge) = authenticate_data(app, &reg.key_handle)?;
    let (r, sw) = send(s, &apdu(0, AUTHENTICATE, ENFORCE, &data))?;
    if sw != SW_NO_ERROR {
        return Ok(Err(format!("AUTHENTICATE answered {sw:04X}")));
    }
    let Some((head, signature)) = r.split_at_checked(5) else {
        return Ok(Err("a short AUTHENTICATE response".into()));
    };
    let Some((&presence, counter)) = head.split_first() else {
        return Ok(Err("a short AUTHENTICATE response".into()));
    };
    if presence & 0x01 == 0 {
        return Ok(Err("the user-presence byte is clear".into()));
    }
    let counter = u32::from_be_bytes(counter.try_into().map_err(|_| Error::protocol("counter"))?);
    let signed = [app.as_slice(), head, &challenge].concat();
    let ok = Signature::from_der(signature).is_ok_and(|sig| reg.key.verify(&signed, &sig).is_ok());
    Ok(if ok {
        Ok(counter)
    } else {
        Err("the signature does not verify".into())
    })
}

fn u2f_check(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::new(format!("u2f.{id}"), Family::U2f, spec, sends, expects, body)
        .gated(|s| Ok(speaks_u2f(s)?.map_err(Verdict::NotApplicable)))
}

/// Pass when the status word is `want`.
fn sw_is(got: u16, want: u16) -> Verdict {
    if got == want {
        Verdict::Pass(format!("{got:04X}"))
    } else {
        Verdict::Fail(format!("{got:04X}, not {want:04X}"))
    }
}

fn verdict(r: Result<String, String>) -> Verdict {
    match r {
        Ok(t) => Verdict::Pass(t),
        Err(t) => Verdict::Fail(t),
    }
}

pub fn checks() -> Vec<Check> {
    let framing = "FIDO U2F Raw Message Formats v1.2 §3 (request framing, status words)";
    vec![
        u2f_check(
            "version",
            "FIDO U2F Raw Message Formats v1.2 §6.1",
            "U2F_VERSION",
            "\"U2F_V2\" and 9000",
            |s| {
                let (r, sw) = send(s, &apdu(0, VERSION, 0, &[]))?;
                Ok(if sw == SW_NO_ERROR && r == b"U2F_V2" {
                    Verdict::Pass("U2F_V2".into())
                } else {
                    Verdict::Fail(format!("{r:02x?} {sw:04X}"))
                })
            },
        ),
        u2f_check(
            "register",
            "FIDO U2F Raw Message Formats v1.2 §4",
            "U2F_REGISTER",
            "after a touch: a registration whose attestation signature verifies",
            |s| {
                Ok(verdict(register(s, &random32()?)?.map(|r| {
                    format!("{}-byte key handle", r.key_handle.len())
                })))
            },
        )
        .with_presence(),
        u2f_check(
            "authenticate",
            "FIDO U2F Raw Message Formats v1.2 §5 (enforce-user-presence-and-sign)",
            "U2F_REGISTER, then U2F_AUTHENTICATE with P1 0x03",
            "after two touches: a signature the registered key verifies, UP set",
            |s| {
                let app = random32()?;
                Ok(match register(s, &app)? {
                    Err(e) => Verdict::Fail(e),
                    Ok(reg) => {
                        verdict(authenticate(s, &app, &reg)?.map(|c| format!("counter {c}")))
                    }
                })
            },
        )
        .with_presence(),
        u2f_check(
            "counter-increases",
            "FIDO U2F Raw Message Formats v1.2 §5.4 (the counter increases with each signature)",
            "two U2F_AUTHENTICATEs",
            "the second counter above the first",
            |s| {
                let app = random32()?;
                let reg = match register(s, &app)? {
                    Ok(r) => r,
                    Err(e) => return Ok(Verdict::Fail(e)),
                };
                let (a, b) = match (authenticate(s, &app, &reg)?, authenticate(s, &app, &reg)?) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => return Ok(Verdict::Fail(e)),
                };
                Ok(if b > a {
                    Verdict::Pass(format!("{a}, then {b}"))
                } else {
                    Verdict::Fail(format!("{a}, then {b}"))
                })
            },
        )
        .with_presence(),
        u2f_check(
            "check-only",
            "FIDO U2F Raw Message Formats v1.2 §5.1 (check-only: 6985 for a key handle of ours)",
            "U2F_REGISTER, then AUTHENTICATE with P1 0x07",
            "6985 SW_CONDITIONS_NOT_SATISFIED, with no touch",
            |s| {
                let app = random32()?;
                let reg = match register(s, &app)? {
                    Ok(r) => r,
                    Err(e) => return Ok(Verdict::Fail(e)),
                };
                let (data, _) = authenticate_data(&app, &reg.key_handle)?;
                Ok(sw_is(
                    send(s, &apdu(0, AUTHENTICATE, CHECK_ONLY, &data))?.1,
                    SW_CONDITIONS_NOT_SATISFIED,
                ))
            },
        )
        .with_presence(),
        u2f_check(
            "other-application",
            "FIDO U2F Raw Message Formats v1.2 §5.1 (a key handle is bound to its application)",
            "AUTHENTICATE with P1 0x03 for another application",
            "6A80 SW_WRONG_DATA, with no touch",
            |s| {
                let app = random32()?;
                let reg = match register(s, &app)? {
                    Ok(r) => r,
                    Err(e) => return Ok(Verdict::Fail(e)),
                };
                let (data, _) = authenticate_data(&random32()?, &reg.key_handle)?;
                Ok(sw_is(
                    send(s, &apdu(0, AUTHENTICATE, ENFORCE, &data))?.1,
                    SW_WRONG_DATA,
                ))
            },
        )
        .with_presence(),
        u2f_check(
            "unknown-key-handle",
            "FIDO U2F Raw Message Formats v1.2 §5.1",
            "AUTHENTICATE with a random 64-byte key handle",
            "6A80 SW_WRONG_DATA",
            |s| {
                let (data, _) = authenticate_data(&random32()?, &[0x3C; 64])?;
                Ok(sw_is(
                    send(s, &apdu(0, AUTHENTICATE, ENFORCE, &data))?.1,
                    SW_WRONG_DATA,
                ))
            },
        ),
        u2f_check(
            "cla-not-zero",
            framing,
            "U2F_VERSION with CLA 0x80",
            "6E00 SW_CLA_NOT_SUPPORTED",
            |s| {
                Ok(sw_is(
                    send(s, &apdu(0x80, VERSION, 0, &[]))?.1,
                    SW_CLA_NOT_SUPPORTED,
                ))
            },
        ),
        u2f_check(
            "unknown-ins",
            framing,
            "INS 0x55",
            "6D00 SW_INS_NOT_SUPPORTED",
            |s| {
                Ok(sw_is(
                    send(s, &apdu(0, 0x55, 0, &[]))?.1,
                    SW_INS_NOT_SUPPORTED,
                ))
            },
        ),
        u2f_check(
            "register-wrong-length",
            "FIDO U2F Raw Message Formats v1.2 §4.1 (64 bytes of request data)",
            "U2F_REGISTER with 63 bytes",
            "6700 SW_WRONG_LENGTH",
            |s| {
                Ok(sw_is(
                    send(s, &apdu(0, REGISTER, 0x03, &[0x11; 63]))?.1,
                    SW_WRONG_LENGTH,
                ))
            },
        ),
        u2f_check(
            "authenticate-truncated",
            "FIDO U2F Raw Message Formats v1.2 §5.1 (L bytes of key handle follow)",
            "AUTHENTICATE whose key handle is shorter than its L",
            "6700 SW_WRONG_LENGTH or 6A80 SW_WRONG_DATA",
            |s| {
                let mut data = [0x22u8; 65].to_vec();
                data.push(64);
                data.extend_from_slice(&[0x33; 10]);
                let sw = send(s, &apdu(0, AUTHENTICATE, ENFORCE, &data))?.1;
                Ok(if sw == SW_WRONG_LENGTH || sw == SW_WRONG_DATA {
                    Verdict::Pass(format!("{sw:04X}"))
                } else {
                    Verdict::Fail(format!("{sw:04X}"))
                })
            },
        ),
        u2f_check(
            "apdu-truncated",
            framing,
            "a 3-byte APDU",
            "6700 SW_WRONG_LENGTH",
            |s| Ok(sw_is(send(s, &[0x00, VERSION, 0x00])?.1, SW_WRONG_LENGTH)),
        ),
    ]
}
