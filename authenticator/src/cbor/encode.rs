//! Canonical CBOR encoder (CTAP 2.1 §8.1 "CTAP2 canonical CBOR encoding
//! form"): shortest integer and length encodings, definite lengths only,
//! map keys sorted at encode time whatever order the caller built them in.

use super::Value;
use super::decode::canonical_cmp;

/// Encodes `value` in CTAP2 canonical form.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(&mut out, value);
    out
}

fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Unsigned(n) => head(out, 0, *n),
        Value::Negative(n) => head(out, 1, *n),
        Value::Bytes(b) => {
            head(out, 2, len(b.len()));
            out.extend_from_slice(b);
        }
        Value::Text(t) => {
            head(out, 3, len(t.len()));
            out.extend_from_slice(t.as_bytes());
        }
        Value::Array(items) => {
            head(out, 4, len(items.len()));
            for item in items {
                write(out, item);
            }
        }
        Value::Map(pairs) => {
            let mut encoded: Vec<(Vec<u8>, &Value)> =
                pairs.iter().map(|(k, v)| (encode(k), v)).collect();
            encoded.sort_by(|(a, _), (b, _)| canonical_cmp(a, b));
            head(out, 5, len(encoded.len()));
            for (key, v) in encoded {
                out.extend_from_slice(&key);
                write(out, v);
            }
        }
        Value::Bool(false) => out.push(0xF4),
        Value::Bool(true) => out.push(0xF5),
        Value::Null => out.push(0xF6),
    }
}

fn len(n: usize) -> u64 {
    // usize is at most 64 bits on every supported target.
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Writes an initial byte and its argument in the shortest form.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    if let Ok(small) = u8::try_from(n) {
        if small < 24 {
            out.push(major | small);
        } else {
            out.extend_from_slice(&[major | 24, small]);
        }
    } else if let Ok(n16) = u16::try_from(n) {
        out.push(major | 25);
        out.extend_from_slice(&n16.to_be_bytes());
    } else if let Ok(n32) = u32::try_from(n) {
        out.push(major | 26);
        out.extend_from_slice(&n32.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::super::decode;
    use super::*;

    #[test]
    fn integers_use_the_shortest_form() {
        assert_eq!(encode(&Value::int(23)), [0x17]);
        assert_eq!(encode(&Value::int(24)), [0x18, 24]);
        assert_eq!(encode(&Value::int(255)), [0x18, 0xFF]);
        assert_eq!(encode(&Value::int(256)), [0x19, 0x01, 0x00]);
        assert_eq!(encode(&Value::int(65_536)), [0x1A, 0, 1, 0, 0]);
        assert_eq!(encode(&Value::int(1 << 32)), [0x1B, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(encode(&Value::int(-7)), [0x26]);
        assert_eq!(encode(&Value::int(-25)), [0x38, 24]);
    }

    #[test]
    fn map_keys_are_sorted_canonically_whatever_the_build_order() {
        let cose = Value::Map(vec![
            (Value::int(-3), Value::bytes(&[3])),
            (Value::int(-2), Value::bytes(&[2])),
            (Value::int(-1), Value::int(1)),
            (Value::int(3), Value::int(-7)),
            (Value::int(1), Value::int(2)),
        ]);
        let bytes = encode(&cose);
        assert_eq!(
            bytes,
            [
                0xA5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x41, 2, 0x22, 0x41, 3
            ]
        );
        let options = Value::text_map(vec![
            ("plat", Value::Bool(false)),
            ("up", Value::Bool(true)),
            ("rk", Value::Bool(true)),
        ]);
        let bytes = encode(&options);
        assert_eq!(&bytes[..4], [0xA3, 0x62, b'r', b'k']);
        // The strict decoder accepts what the encoder writes.
        decode(&bytes).unwrap();
    }

    #[test]
    fn round_trip_of_nested_values() {
        let v = Value::int_map(vec![
            (
                10,
                Value::Array(vec![Value::text_map(vec![("alg", Value::int(-7))])]),
            ),
            (1, Value::Bytes(vec![0xAB; 300])),
            (24, Value::Null),
        ]);
        let decoded = decode(&encode(&v)).unwrap();
        // Decoding yields canonical order; re-encoding is byte-identical.
        assert_eq!(encode(&decoded), encode(&v));
        assert_eq!(decoded.get(&Value::int(24)), Some(&Value::Null));
    }
}
