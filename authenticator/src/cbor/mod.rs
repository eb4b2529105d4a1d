//! A small, strict CBOR codec for CTAP2 (CTAP 2.1 §8 "Message Encoding").
//!
//! We do not use a general CBOR crate: requests must be rejected unless they
//! are in CTAP2 canonical form, declared lengths must be checked before any
//! allocation, and every response must come out canonical.
//! [`decode`] enforces all of §8; [`encode`] always emits canonical CBOR.
//! Typed access to decoded values, with the CTAP error for each failure,
//! lives in [`fields`].

mod decode;
mod encode;
pub mod fields;

pub use decode::{MAX_DEPTH, decode};
pub use encode::encode;

/// A decoded CBOR data item, limited to the types CTAP2 uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Major type 0.
    Unsigned(u64),
    /// Major type 1: the value is `-1 - n`.
    Negative(u64),
    /// Major type 2.
    Bytes(Vec<u8>),
    /// Major type 3, valid UTF-8.
    Text(String),
    /// Major type 4.
    Array(Vec<Value>),
    /// Major type 5, pairs in the order they were decoded (canonical order)
    /// or built (the encoder sorts).
    Map(Vec<(Value, Value)>),
    /// Simple values 20 and 21.
    Bool(bool),
    /// Simple value 22.
    Null,
}

impl Value {
    /// An integer of either sign.
    pub fn int(i: i64) -> Value {
        if i >= 0 {
            Value::Unsigned(i.unsigned_abs())
        } else {
            // -1 - n = i  =>  n = -(i + 1), which never overflows.
            Value::Negative((i + 1).unsigned_abs())
        }
    }

    pub fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    pub fn bytes(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }

    /// A map with unsigned integer keys, the shape of every CTAP2 request
    /// and response.
    pub fn int_map(pairs: Vec<(u64, Value)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::Unsigned(k), v))
                .collect(),
        )
    }

    /// A map with text keys (entities, options, attStmt).
    pub fn text_map(pairs: Vec<(&str, Value)>) -> Value {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Value::text(k), v))
                .collect(),
        )
    }

    /// The integer value if it fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Unsigned(n) => i64::try_from(*n).ok(),
            Value::Negative(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// Looks a key up in a map; `None` for absent keys and for non-maps.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        match self {
            Value::Map(pairs) => pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_covers_both_signs_and_extremes() {
        assert_eq!(Value::int(0), Value::Unsigned(0));
        assert_eq!(Value::int(-1), Value::Negative(0));
        assert_eq!(Value::int(-7), Value::Negative(6));
        assert_eq!(
            Value::int(i64::MIN),
            Value::Negative(i64::MAX.unsigned_abs())
        );
        assert_eq!(Value::int(i64::MIN).as_i64(), Some(i64::MIN));
        assert_eq!(Value::Unsigned(u64::MAX).as_i64(), None);
        assert_eq!(Value::Negative(u64::MAX).as_i64(), None);
    }
}
