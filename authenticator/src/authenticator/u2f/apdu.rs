//! ISO/IEC 7816-4 command APDU parsing for CTAP1/U2F (FIDO U2F Raw Message
//! Formats v1.2 §3.1 "Request Message Framing"; CTAP 2.1 "Interoperating
//! with CTAP1/U2F authenticators", U2F request message framing).
//!
//! U2F clients use the extended-length encoding
//! `CLA INS P1 P2 || 00 Lc1 Lc2 || data || [Le1 Le2]`; some send the
//! short forms (`Lc || data || [Le]`, or a lone `Le`), which ISO 7816-4
//! also defines, so every case is accepted:
//!
//! | case | body after the 4-byte header |
//! |------|------------------------------|
//! | 1    | (empty)                      |
//! | 2S   | `Le`                         |
//! | 3S   | `Lc (1..=255) data`          |
//! | 4S   | `Lc data Le`                 |
//! | 2E   | `00 Le1 Le2`                 |
//! | 3E   | `00 Lc1 Lc2 (≠ 0) data`      |
//! | 4E   | `00 Lc1 Lc2 data Le1 Le2`    |
//!
//! One non-ISO form is tolerated because python-fido2 sends it for
//! VERSION: `00 00 00 Le1 Le2`, an extended Lc of zero then an Le, read as
//! no data. Anything else — a truncated header, Lc larger than the data,
//! trailing bytes, a zero Lc with data, a short Le after an extended Lc —
//! is SW_WRONG_LENGTH.

use super::StatusWord;

/// A well-formed command APDU, borrowing its data from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Apdu<'a> {
    pub(crate) cla: u8,
    pub(crate) ins: u8,
    pub(crate) p1: u8,
    pub(crate) p2: u8,
    /// The command data (Nc = its length; empty when there is no Lc).
    pub(crate) data: &'a [u8],
    /// Ne, the most response bytes the client accepts, if it sent an Le.
    /// Parsed so its encoding is checked, but not enforced: U2F responses
    /// are small and carried whole by CTAPHID_MSG, and clients send values
    /// such as 256 that are shorter than a registration response.
    pub(crate) ne: Option<usize>,
}

/// The length of `CLA INS P1 P2`.
const HEADER_LEN: usize = 4;

/// Parses `apdu`, checking every length field against the bytes present.
pub(crate) fn parse(apdu: &[u8]) -> Result<Apdu<'_>, StatusWord> {
    let (header, body) = apdu
        .split_at_checked(HEADER_LEN)
        .ok_or(StatusWord::WrongLength)?;
    let [cla, ins, p1, p2]: [u8; HEADER_LEN] =
        header.try_into().map_err(|_| StatusWord::WrongLength)?;
    let (data, ne) = parse_body(body)?;
    Ok(Apdu {
        cla,
        ins,
        p1,
        p2,
        data,
        ne,
    })
}

fn parse_body(body: &[u8]) -> Result<(&[u8], Option<usize>), StatusWord> {
    match body {
        // Case 1: no data, no Le.
        [] => Ok((&[], None)),
        // Case 2S: Le only.
        [le] => Ok((&[], Some(short_ne(*le)))),
        // Extended forms start with a zero byte and carry 2-byte lengths.
        [0, hi, lo, rest @ ..] => {
            let n = usize::from(u16::from_be_bytes([*hi, *lo]));
            if rest.is_empty() {
                // Case 2E: the two bytes are Le.
                return Ok((&[], Some(extended_ne(n))));
            }
            if n == 0 {
                // ISO 7816-4 §5.1: an Lc field never encodes zero. But
                // python-fido2 frames empty data (VERSION) as
                // `00 00 00 || Le1 Le2`: accept exactly that as no data + Le.
                return match rest {
                    [hi, lo] => Ok((
                        &[],
                        Some(extended_ne(usize::from(u16::from_be_bytes([*hi, *lo])))),
                    )),
                    _ => Err(StatusWord::WrongLength),
                };
            }
            let (data, tail) = rest.split_at_checked(n).ok_or(StatusWord::WrongLength)?;
            match tail {
                [] => Ok((data, None)),
                [hi, lo] => Ok((
                    data,
                    Some(extended_ne(usize::from(u16::from_be_bytes([*hi, *lo])))),
                )),
                _ => Err(StatusWord::WrongLength),
            }
        }
        // Short forms: Lc (1..=255), data, optional 1-byte Le.
        [lc, rest @ ..] => {
            if *lc == 0 {
                return Err(StatusWord::WrongLength);
            }
            let (data, tail) = rest
                .split_at_checked(usize::from(*lc))
                .ok_or(StatusWord::WrongLength)?;
            match tail {
                [] => Ok((data, None)),
                [le] => Ok((data, Some(short_ne(*le)))),
                _ => Err(StatusWord::WrongLength),
            }
        }
    }
}

/// ISO 7816-4: a short Le of 0x00 means 256.
fn short_ne(le: u8) -> usize {
    match le {
        0 => 256,
        n => usize::from(n),
    }
}

/// ISO 7816-4: an extended Le of 0x0000 means 65536.
fn extended_ne(le: usize) -> usize {
    match le {
        0 => 65_536,
        n => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(bytes: &[u8]) -> Apdu<'_> {
        parse(bytes).unwrap()
    }

    fn wrong_length(bytes: &[u8]) {
        assert_eq!(parse(bytes), Err(StatusWord::WrongLength), "{bytes:02X?}");
    }

    #[test]
    fn header_fields() {
        let a = ok(&[0x00, 0x02, 0x07, 0x09]);
        assert_eq!((a.cla, a.ins, a.p1, a.p2), (0, 2, 7, 9));
        assert_eq!(a.data, &[] as &[u8]);
        assert_eq!(a.ne, None);
    }

    #[test]
    fn every_iso_case() {
        // 2S, with 0 meaning 256.
        assert_eq!(ok(&[0, 3, 0, 0, 0x10]).ne, Some(16));
        assert_eq!(ok(&[0, 3, 0, 0, 0x00]).ne, Some(256));
        // 3S and 4S.
        let a = ok(&[0, 1, 0, 0, 2, 0xAA, 0xBB]);
        assert_eq!((a.data, a.ne), (&[0xAA, 0xBB][..], None));
        let a = ok(&[0, 1, 0, 0, 2, 0xAA, 0xBB, 0x00]);
        assert_eq!((a.data, a.ne), (&[0xAA, 0xBB][..], Some(256)));
        // 2E: python-fido2 sends VERSION as 00 03 00 00 00 00 00.
        let a = ok(&[0, 3, 0, 0, 0, 0, 0]);
        assert_eq!((a.data, a.ne), (&[] as &[u8], Some(65_536)));
        assert_eq!(ok(&[0, 3, 0, 0, 0, 0x01, 0x00]).ne, Some(256));
        // 3E and 4E.
        let a = ok(&[0, 1, 0, 0, 0, 0, 2, 0xAA, 0xBB]);
        assert_eq!((a.data, a.ne), (&[0xAA, 0xBB][..], None));
        let a = ok(&[0, 1, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0x01, 0x00]);
        assert_eq!((a.data, a.ne), (&[0xAA, 0xBB][..], Some(256)));
        let a = ok(&[0, 1, 0, 0, 0, 0, 2, 0xAA, 0xBB, 0, 0]);
        assert_eq!(a.ne, Some(65_536));
    }

    #[test]
    fn python_fido2_empty_data_framing() {
        // python-fido2's send_apdu: 00 || Lc (2) || data || 00 00, also for
        // VERSION with no data.
        let a = ok(&[0, 3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!((a.ins, a.data, a.ne), (3, &[] as &[u8], Some(65_536)));
        let a = ok(&[0, 3, 0, 0, 0, 0, 0, 0x01, 0x00]);
        assert_eq!(a.ne, Some(256));
        // Only exactly two bytes after a zero Lc.
        wrong_length(&[0, 3, 0, 0, 0, 0, 0, 0]);
        wrong_length(&[0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn long_extended_data() {
        let mut apdu = vec![0, 1, 0, 0, 0, 0x01, 0x2C];
        apdu.extend(std::iter::repeat_n(0x5A, 300));
        assert_eq!(ok(&apdu).data.len(), 300);
        apdu.push(0);
        wrong_length(&apdu);
    }

    #[test]
    fn every_length_is_checked() {
        // Truncated header.
        for n in 0..4 {
            wrong_length(&[0, 3, 0, 0][..n]);
        }
        // Short Lc of zero, Lc beyond the data, trailing bytes.
        wrong_length(&[0, 1, 0, 0, 0, 0xAA]);
        wrong_length(&[0, 1, 0, 0, 3, 0xAA, 0xBB]);
        wrong_length(&[0, 1, 0, 0, 1, 0xAA, 0xBB, 0xCC]);
        // Extended Lc of zero with data, Lc beyond the data, a 1-byte or
        // 3-byte tail (short Le after extended Lc, trailing garbage).
        wrong_length(&[0, 1, 0, 0, 0, 0, 0, 0xAA]);
        wrong_length(&[0, 1, 0, 0, 0, 0, 3, 0xAA, 0xBB]);
        wrong_length(&[0, 1, 0, 0, 0, 0, 1, 0xAA, 0x00]);
        wrong_length(&[0, 1, 0, 0, 0, 0, 1, 0xAA, 0x00, 0x00, 0x00]);
        // Extended length marker with a single length byte.
        wrong_length(&[0, 1, 0, 0, 0, 0]);
    }
}
