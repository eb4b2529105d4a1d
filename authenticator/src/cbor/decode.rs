//! Strict CTAP2 CBOR decoder (CTAP 2.1 §8 "Message Encoding" and
//! §8.1 "CTAP2 canonical CBOR encoding form").
//!
//! Accepted: definite-length items of major types 0–5 and the simple values
//! false, true and null. Rejected with CTAP2_ERR_INVALID_CBOR: truncation,
//! trailing bytes, indefinite lengths, non-minimal integer or length
//! encodings, reserved additional-information values, map keys out of
//! canonical order or duplicated, invalid UTF-8, nesting deeper than
//! [`MAX_DEPTH`]. Rejected with CTAP2_ERR_CBOR_UNEXPECTED_TYPE: well-formed
//! items CTAP2 never uses (tags, floats, undefined, other simple values).
//!
//! A declared length is checked against the bytes remaining before anything
//! is allocated, so a huge declared array in a small message costs nothing.

use core::cmp::Ordering;

use super::Value;
use crate::status::CtapError;

/// Deepest container nesting accepted; the top-level map is depth 1.
/// A makeCredential excludeList entry's `transports` array is depth 4
/// (map → excludeList → descriptor → transports), as is an hmac-secret
/// keyAgreement COSE key (map → extensions → hmac-secret → COSE key).
pub const MAX_DEPTH: usize = 4;

/// Decodes exactly one data item that must fill `input`.
pub fn decode(input: &[u8]) -> Result<Value, CtapError> {
    let mut reader = Reader { input, pos: 0 };
    let value = reader.item(0)?;
    if reader.pos != input.len() {
        return Err(CtapError::InvalidCbor);
    }
    Ok(value)
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CtapError> {
        let end = self.pos.checked_add(n).ok_or(CtapError::InvalidCbor)?;
        let slice = self
            .input
            .get(self.pos..end)
            .ok_or(CtapError::InvalidCbor)?;
        self.pos = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, CtapError> {
        let b = *self.input.get(self.pos).ok_or(CtapError::InvalidCbor)?;
        self.pos += 1;
        Ok(b)
    }

    /// Reads the argument of an initial byte, insisting on the shortest
    /// encoding (§8.1: "Integers must be encoded as small as possible";
    /// lengths likewise).
    fn argument(&mut self, info: u8) -> Result<u64, CtapError> {
        let (value, min) = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => (u64::from(self.byte()?), 24),
            25 => (u64::from(u16::from_be_bytes(self.array()?)), 0x100),
            26 => (u64::from(u32::from_be_bytes(self.array()?)), 0x1_0000),
            27 => (u64::from_be_bytes(self.array()?), 0x1_0000_0000),
            // 28–30 are reserved; 31 is an indefinite length (§8.1 forbids it).
            _ => return Err(CtapError::InvalidCbor),
        };
        if value < min {
            return Err(CtapError::InvalidCbor);
        }
        Ok(value)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CtapError> {
        self.take(N)?.try_into().map_err(|_| CtapError::InvalidCbor)
    }

    /// A declared count of items, each at least `min_bytes_each` long, that
    /// must fit in what is left of the input.
    fn count(&mut self, info: u8, min_bytes_each: usize) -> Result<usize, CtapError> {
        let n = usize::try_from(self.argument(info)?).map_err(|_| CtapError::InvalidCbor)?;
        let needed = n
            .checked_mul(min_bytes_each)
            .ok_or(CtapError::InvalidCbor)?;
        if needed > self.remaining() {
            return Err(CtapError::InvalidCbor);
        }
        Ok(n)
    }

    fn item(&mut self, depth: usize) -> Result<Value, CtapError> {
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1F;
        match major {
            0 => Ok(Value::Unsigned(self.argument(info)?)),
            1 => Ok(Value::Negative(self.argument(info)?)),
            2 => {
                let n = self.count(info, 1)?;
                Ok(Value::Bytes(self.take(n)?.to_vec()))
            }
            3 => {
                let n = self.count(info, 1)?;
                let raw = self.take(n)?;
                let text = core::str::from_utf8(raw).map_err(|_| CtapError::InvalidCbor)?;
                Ok(Value::Text(text.to_owned()))
            }
            4 => {
                let depth = nested(depth)?;
                let n = self.count(info, 1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.item(depth)?);
                }
                Ok(Value::Array(items))
            }
            5 => self.map(info, nested(depth)?),
            6 => {
                // Tags are well-formed CBOR but no CTAP2 field is tagged.
                self.argument(info)?;
                Err(CtapError::CborUnexpectedType)
            }
            _ => self.simple(info),
        }
    }

    fn map(&mut self, info: u8, depth: usize) -> Result<Value, CtapError> {
        let input = self.input;
        let n = self.count(info, 2)?;
        let mut pairs = Vec::with_capacity(n);
        let mut previous_key: Option<&[u8]> = None;
        for _ in 0..n {
            let start = self.pos;
            let key = self.item(depth)?;
            let encoded_key = input.get(start..self.pos).ok_or(CtapError::InvalidCbor)?;
            // §8.1: keys strictly ascending in canonical order; equality is a
            // duplicate, also rejected.
            if let Some(prev) = previous_key
                && canonical_cmp(prev, encoded_key) != Ordering::Less
            {
                return Err(CtapError::InvalidCbor);
            }
            previous_key = Some(encoded_key);
            let value = self.item(depth)?;
            pairs.push((key, value));
        }
        Ok(Value::Map(pairs))
    }

    fn simple(&mut self, info: u8) -> Result<Value, CtapError> {
        match info {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 => Ok(Value::Null),
            // undefined, unassigned simple values, and floats: well-formed
            // but never a CTAP2 field type.
            0..=19 | 23 => Err(CtapError::CborUnexpectedType),
            24 => {
                // A one-byte simple value below 32 is not well-formed (RFC 8949 §3.3).
                if self.byte()? < 32 {
                    Err(CtapError::InvalidCbor)
                } else {
                    Err(CtapError::CborUnexpectedType)
                }
            }
            25 => self.take(2).and(Err(CtapError::CborUnexpectedType)),
            26 => self.take(4).and(Err(CtapError::CborUnexpectedType)),
            27 => self.take(8).and(Err(CtapError::CborUnexpectedType)),
            // 28–30 reserved; 31 is a "break" outside an indefinite item.
            _ => Err(CtapError::InvalidCbor),
        }
    }
}

fn nested(depth: usize) -> Result<usize, CtapError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH {
        return Err(CtapError::InvalidCbor);
    }
    Ok(depth)
}

/// CTAP 2.1 §8.1 key order: lower major type first, then shorter encoding,
/// then byte-wise lexical order. For keys of one major type this is the
/// RFC 7049 §3.9 "length first" order.
pub(super) fn canonical_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let major = |k: &[u8]| k.first().map(|b| b >> 5);
    major(a)
        .cmp(&major(b))
        .then(a.len().cmp(&b.len()))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(input: &[u8]) -> CtapError {
        decode(input).unwrap_err()
    }

    #[test]
    fn decodes_every_supported_type() {
        assert_eq!(decode(&[0x00]).unwrap(), Value::Unsigned(0));
        assert_eq!(decode(&[0x17]).unwrap(), Value::Unsigned(23));
        assert_eq!(decode(&[0x18, 0x18]).unwrap(), Value::Unsigned(24));
        assert_eq!(decode(&[0x19, 0x01, 0x00]).unwrap(), Value::Unsigned(256));
        assert_eq!(
            decode(&[0x1B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap(),
            Value::Unsigned(u64::MAX)
        );
        assert_eq!(decode(&[0x26]).unwrap(), Value::int(-7));
        assert_eq!(decode(&[0x42, 1, 2]).unwrap(), Value::Bytes(vec![1, 2]));
        assert_eq!(decode(&[0x62, b'h', b'i']).unwrap(), Value::text("hi"));
        assert_eq!(
            decode(&[0x82, 0xF4, 0xF5]).unwrap(),
            Value::Array(vec![Value::Bool(false), Value::Bool(true)])
        );
        assert_eq!(decode(&[0xF6]).unwrap(), Value::Null);
        assert_eq!(
            decode(&[0xA2, 0x01, 0x02, 0x20, 0x03]).unwrap(),
            Value::Map(vec![
                (Value::int(1), Value::int(2)),
                (Value::int(-1), Value::int(3))
            ])
        );
    }

    #[test]
    fn truncated_input_is_invalid_cbor() {
        for input in [
            &[][..],
            &[0x18],
            &[0x19, 0x01],
            &[0x43, 1, 2],
            &[0xA1, 0x01],
            &[0x82, 0x01],
        ] {
            assert_eq!(err(input), CtapError::InvalidCbor, "{input:02X?}");
        }
    }

    #[test]
    fn trailing_bytes_are_invalid_cbor() {
        assert_eq!(err(&[0x01, 0x00]), CtapError::InvalidCbor);
        assert_eq!(err(&[0xA0, 0xA0]), CtapError::InvalidCbor);
    }

    #[test]
    fn non_minimal_integers_and_lengths_are_invalid_cbor() {
        // §8.1: "Integers must be encoded as small as possible."
        assert_eq!(err(&[0x18, 0x17]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x19, 0x00, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x1A, 0x00, 0x00, 0xFF, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(
            err(&[0x1B, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]),
            CtapError::InvalidCbor
        );
        assert_eq!(err(&[0x38, 0x06]), CtapError::InvalidCbor);
        // Lengths too: a 1-byte string with a 1-byte length argument.
        assert_eq!(err(&[0x58, 0x01, 0xAA]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x98, 0x01, 0x00]), CtapError::InvalidCbor);
    }

    #[test]
    fn indefinite_lengths_are_invalid_cbor() {
        // §8.1: "Indefinite-length items must be made into definite-length items."
        assert_eq!(err(&[0x5F, 0x41, 0x00, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x7F, 0x61, b'a', 0xFF]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x9F, 0x01, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(err(&[0xBF, 0x01, 0x02, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(err(&[0xFF]), CtapError::InvalidCbor);
    }

    #[test]
    fn reserved_additional_information_is_invalid_cbor() {
        for ib in [0x1C, 0x1D, 0x1E, 0x3C, 0x5C, 0x7D, 0x9E, 0xBC, 0xDC, 0xFC] {
            assert_eq!(
                err(&[ib, 0, 0, 0, 0, 0, 0, 0, 0]),
                CtapError::InvalidCbor,
                "{ib:02X}"
            );
        }
    }

    #[test]
    fn map_keys_must_be_in_canonical_order_without_duplicates() {
        // {2: 0, 1: 0}: descending.
        assert_eq!(err(&[0xA2, 0x02, 0x00, 0x01, 0x00]), CtapError::InvalidCbor);
        // {1: 0, 1: 0}: duplicate.
        assert_eq!(err(&[0xA2, 0x01, 0x00, 0x01, 0x00]), CtapError::InvalidCbor);
        // {"up": .., "rk": ..}: same length, bytewise out of order.
        assert_eq!(
            err(&[0xA2, 0x62, b'u', b'p', 0xF5, 0x62, b'r', b'k', 0xF5]),
            CtapError::InvalidCbor
        );
        // {"plat": .., "rk": ..}: longer key first.
        assert_eq!(
            err(&[
                0xA2, 0x64, b'p', b'l', b'a', b't', 0xF4, 0x62, b'r', b'k', 0xF5
            ]),
            CtapError::InvalidCbor
        );
        // {-1: .., 1: ..}: negative (major 1) before unsigned (major 0).
        assert_eq!(err(&[0xA2, 0x20, 0x00, 0x01, 0x00]), CtapError::InvalidCbor);
        // {24: .., 1: ..}: longer encoding first.
        assert_eq!(
            err(&[0xA2, 0x18, 0x18, 0x00, 0x01, 0x00]),
            CtapError::InvalidCbor
        );
        // The canonical versions decode.
        decode(&[0xA2, 0x62, b'r', b'k', 0xF5, 0x62, b'u', b'p', 0xF5]).unwrap();
        decode(&[0xA2, 0x01, 0x00, 0x18, 0x18, 0x00]).unwrap();
        decode(&[0xA3, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01]).unwrap();
    }

    #[test]
    fn invalid_utf8_is_invalid_cbor() {
        assert_eq!(err(&[0x62, 0xC3, 0x28]), CtapError::InvalidCbor);
        assert_eq!(err(&[0x61, 0xFF]), CtapError::InvalidCbor);
        assert_eq!(decode(&[0x62, 0xC3, 0xA9]).unwrap(), Value::text("é"));
    }

    #[test]
    fn depth_four_is_accepted_and_five_is_invalid_cbor() {
        // map{1: [ {"t": [ "usb" ]} ]}: the excludeList shape, depth 4.
        let ok = [
            0xA1, 0x01, 0x81, 0xA1, 0x61, b't', 0x81, 0x63, b'u', b's', b'b',
        ];
        decode(&ok).unwrap();
        assert_eq!(err(&[0x81, 0x81, 0x81, 0x81, 0x80]), CtapError::InvalidCbor);
        assert_eq!(
            err(&[0xA1, 0x01, 0xA1, 0x01, 0xA1, 0x01, 0xA1, 0x01, 0xA0]),
            CtapError::InvalidCbor
        );
        decode(&[0x81, 0x81, 0x81, 0x80]).unwrap();
    }

    #[test]
    fn huge_declared_lengths_fail_before_allocating() {
        // 2^64-1 elements / bytes / pairs declared in a 9-byte message: an
        // allocation of that size would abort the process, so reaching the
        // error proves the length was checked first.
        let huge = [0xFF; 8];
        for major in [0x5B, 0x7B, 0x9B, 0xBB] {
            let mut input = vec![major];
            input.extend_from_slice(&huge);
            assert_eq!(err(&input), CtapError::InvalidCbor);
        }
        // 1000 declared array items with 10 present.
        let mut input = vec![0x99, 0x03, 0xE8];
        input.extend_from_slice(&[0u8; 10]);
        assert_eq!(err(&input), CtapError::InvalidCbor);
    }

    #[test]
    fn unused_types_are_unexpected_type() {
        assert_eq!(err(&[0xC0, 0x61, b'x']), CtapError::CborUnexpectedType); // tag 0
        assert_eq!(err(&[0xF7]), CtapError::CborUnexpectedType); // undefined
        assert_eq!(err(&[0xF0]), CtapError::CborUnexpectedType); // simple(16)
        assert_eq!(err(&[0xF8, 0x20]), CtapError::CborUnexpectedType); // simple(32)
        assert_eq!(err(&[0xF9, 0x3C, 0x00]), CtapError::CborUnexpectedType); // half 1.0
        assert_eq!(err(&[0xFA, 0, 0, 0, 0]), CtapError::CborUnexpectedType); // f32
        assert_eq!(
            err(&[0xFB, 0, 0, 0, 0, 0, 0, 0, 0]),
            CtapError::CborUnexpectedType
        );
        // Not well-formed: two-byte simple value below 32.
        assert_eq!(err(&[0xF8, 0x14]), CtapError::InvalidCbor);
        // Truncated float is malformed, not a type error.
        assert_eq!(err(&[0xFA, 0, 0]), CtapError::InvalidCbor);
    }
}
