//! CTAP2 canonical CBOR (CTAP 2.1 §8 "Message Encoding"): encoding requests with keys
//! sorted length-first then bytewise, and checking that device responses are canonical.
//!
//! Uses ciborium (a different codec from the server's own) and decides canonicity by
//! re-encoding: minimal integers and lengths, definite lengths, sorted and unique keys,
//! no trailing bytes. Any difference is [`Error::NonCanonical`] with its byte offset.

use std::cmp::Ordering;

pub use ciborium::Value;

use crate::Error;

fn encode_raw(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail; an error would mean an unencodable Value.
    if ciborium::into_writer(v, &mut out).is_err() {
        out.clear();
    }
    out
}

/// CTAP 2.1 §8 canonical key order: shorter encoded key first, then bytewise.
fn key_order(a: &[u8], b: &[u8]) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Sorts every map (recursively) into canonical key order.
pub fn canonicalize(v: Value) -> Value {
    match v {
        Value::Map(entries) => {
            let mut e: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let k = canonicalize(k);
                    (encode_raw(&k), k, canonicalize(v))
                })
                .collect();
            e.sort_by(|a, b| key_order(&a.0, &b.0));
            Value::Map(e.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        Value::Tag(t, inner) => Value::Tag(t, Box::new(canonicalize(*inner))),
        other => other,
    }
}

/// Canonical CTAP2 encoding of `v`.
pub fn encode(v: &Value) -> Vec<u8> {
    encode_raw(&canonicalize(v.clone()))
}

fn check_unique_keys(v: &Value) -> Result<(), Error> {
    match v {
        Value::Map(entries) => {
            let mut keys: Vec<Vec<u8>> = entries.iter().map(|(k, _)| encode_raw(k)).collect();
            keys.sort_by(|a, b| key_order(a, b));
            if keys.windows(2).any(|w| w.first() == w.get(1)) {
                return Err(Error::NonCanonical("duplicate map key".into()));
            }
            entries.iter().try_for_each(|(k, v)| {
                check_unique_keys(k)?;
                check_unique_keys(v)
            })
        }
        Value::Array(items) => items.iter().try_for_each(check_unique_keys),
        Value::Tag(_, inner) => check_unique_keys(inner),
        _ => Ok(()),
    }
}

/// Decodes the first CBOR item of `bytes`; returns it and how many bytes it used.
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), Error> {
    let mut rest = bytes;
    let v: Value = ciborium::from_reader(&mut rest)
        .map_err(|e| Error::cbor(format!("undecodable CBOR: {e}")))?;
    Ok((v, bytes.len() - rest.len()))
}

/// Checks that `bytes` is exactly one item in canonical form and returns it.
pub fn decode_canonical(bytes: &[u8]) -> Result<Value, Error> {
    let (v, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(Error::NonCanonical(format!(
            "{} trailing bytes after the CBOR item",
            bytes.len() - used
        )));
    }
    check_unique_keys(&v)?;
    let again = encode(&v);
    if again != bytes {
        let at = again
            .iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .unwrap_or(again.len().min(bytes.len()));
        return Err(Error::NonCanonical(format!(
            "differs from the canonical encoding at byte {at} (got {}, canonical {})",
            crate::hex(bytes.get(at..bytes.len().min(at + 8)).unwrap_or_default()),
            crate::hex(again.get(at..again.len().min(at + 8)).unwrap_or_default()),
        )));
    }
    Ok(v)
}

/// An integer map key.
pub fn int(k: i64) -> Value {
    Value::Integer(k.into())
}

/// A text value.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

/// Typed access to a decoded map, with errors naming the field.
#[derive(Debug, Clone, Copy)]
pub struct MapView<'a> {
    entries: &'a [(Value, Value)],
    what: &'static str,
}

impl<'a> MapView<'a> {
    pub fn new(v: &'a Value, what: &'static str) -> Result<Self, Error> {
        match v {
            Value::Map(entries) => Ok(MapView { entries, what }),
            _ => Err(Error::cbor(format!("{what} is not a map"))),
        }
    }

    pub fn entries(&self) -> &'a [(Value, Value)] {
        self.entries
    }

    pub fn get_int(&self, key: i64) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if i128::from(*i) == i128::from(key)))
            .map(|(_, v)| v)
    }

    pub fn get_text(&self, key: &str) -> Option<&'a Value> {
        self.entries
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)
    }

    pub fn require_int(&self, key: i64) -> Result<&'a Value, Error> {
        self.get_int(key)
            .ok_or_else(|| Error::cbor(format!("{}: missing key {key}", self.what)))
    }

    pub fn require_text(&self, key: &str) -> Result<&'a Value, Error> {
        self.get_text(key)
            .ok_or_else(|| Error::cbor(format!("{}: missing key {key:?}", self.what)))
    }

    /// Fails if any key is not one of the unsigned integers in `allowed`.
    pub fn only_int_keys(&self, allowed: &[i64]) -> Result<(), Error> {
        for (k, _) in self.entries {
            let ok = matches!(k, Value::Integer(i) if allowed.iter().any(|a| i128::from(*i) == i128::from(*a)));
            if !ok {
                return Err(Error::cbor(format!("{}: unexpected key {k:?}", self.what)));
            }
        }
        Ok(())
    }
}

pub fn as_bytes<'a>(v: &'a Value, what: &str) -> Result<&'a [u8], Error> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(Error::cbor(format!("{what} is not a byte string"))),
    }
}

pub fn as_text<'a>(v: &'a Value, what: &str) -> Result<&'a str, Error> {
    match v {
        Value::Text(t) => Ok(t),
        _ => Err(Error::cbor(format!("{what} is not a text string"))),
    }
}

pub fn as_int(v: &Value, what: &str) -> Result<i128, Error> {
    match v {
        Value::Integer(i) => Ok(i128::from(*i)),
        _ => Err(Error::cbor(format!("{what} is not an integer"))),
    }
}

pub fn as_uint(v: &Value, what: &str) -> Result<u64, Error> {
    u64::try_from(as_int(v, what)?).map_err(|_| Error::cbor(format!("{what} is negative")))
}

pub fn as_bool(v: &Value, what: &str) -> Result<bool, Error> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(Error::cbor(format!("{what} is not a boolean"))),
    }
}

pub fn as_array<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], Error> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(Error::cbor(format!("{what} is not an array"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_length_first_then_bytewise() {
        let m = Value::Map(vec![
            (text("aa"), int(3)),
            (text("b"), int(1)),
            (int(-1), int(5)),
            (int(10), int(2)),
            (int(1), int(4)),
            (int(24), int(6)),
        ]);
        // 01, 0a, 20 (-1), 18 18 (24), 61 62 ("b"), 62 61 61 ("aa")
        assert_eq!(
            encode(&m),
            vec![
                0xA6, 0x01, 0x04, 0x0A, 0x02, 0x20, 0x05, 0x18, 0x18, 0x06, 0x61, 0x62, 0x01, 0x62,
                0x61, 0x61, 0x03
            ]
        );
    }

    #[test]
    fn rp_entity_order_is_id_name() {
        let m = Value::Map(vec![(text("name"), text("E")), (text("id"), text("e"))]);
        assert_eq!(
            encode(&m),
            vec![
                0xA2, 0x62, b'i', b'd', 0x61, b'e', 0x64, b'n', b'a', b'm', b'e', 0x61, b'E'
            ]
        );
    }

    #[test]
    fn canonical_input_is_accepted() {
        let b = [0xA2, 0x01, 0x18, 0x64, 0x03, 0x42, 0xAB, 0xCD];
        let v = decode_canonical(&b).unwrap();
        let m = MapView::new(&v, "t").unwrap();
        assert_eq!(as_uint(m.require_int(1).unwrap(), "1").unwrap(), 100);
        assert_eq!(
            as_bytes(m.require_int(3).unwrap(), "3").unwrap(),
            &[0xAB, 0xCD]
        );
        assert!(m.only_int_keys(&[1, 3]).is_ok());
        assert!(m.only_int_keys(&[1]).is_err());
    }

    #[test]
    fn non_canonical_forms_are_rejected() {
        let cases: [&[u8]; 7] = [
            &[0xA2, 0x03, 0x00, 0x01, 0x00], // unsorted keys
            &[0xA1, 0x18, 0x01, 0x00],       // non-minimal key
            &[0xA1, 0x01, 0x19, 0x00, 0x05], // non-minimal value
            &[0xBF, 0x01, 0x00, 0xFF],       // indefinite map
            &[0x5F, 0x41, 0x00, 0xFF],       // indefinite bytes
            &[0xA1, 0x01, 0x00, 0x00],       // trailing byte
            &[0xA2, 0x01, 0x00, 0x01, 0x01], // duplicate key
        ];
        for c in cases {
            assert!(
                matches!(decode_canonical(c), Err(Error::NonCanonical(_))),
                "{c:02x?} accepted"
            );
        }
        assert!(
            matches!(decode_canonical(&[0xA2, 0x01]), Err(Error::Cbor(_))),
            "truncated"
        );
        assert!(
            matches!(decode_canonical(&[0x62, 0xFF, 0xFE]), Err(Error::Cbor(_))),
            "bad utf-8"
        );
    }

    #[test]
    fn decode_prefix_reports_consumed_length() {
        let (v, n) = decode_prefix(&[0xA1, 0x01, 0x02, 0xFF, 0xEE]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(v, Value::Map(vec![(int(1), int(2))]));
    }
}
