//! Inline, fixed-size identifiers: symbols, order ids and user ids.
//!
//! Identifiers live inside `Command`s and `Event`s, which cross ring buffers and
//! the journal by value, so they are plain zero-padded byte arrays and never
//! touch the heap. A constructor validates the text once, at the edge; after
//! that every holder of the type may rely on its invariant. This module must not
//! grow a way to build an identifier that skips validation, except from bytes
//! that are re-validated (snapshots).

use std::fmt;

use thiserror::Error;

/// Why a piece of text is not a valid identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text is empty.
    #[error("{kind} is empty")]
    Empty {
        /// Which identifier was being built.
        kind: &'static str,
    },
    /// The text is longer than the identifier's inline capacity.
    #[error("{kind} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// Which identifier was being built.
        kind: &'static str,
        /// The length that was offered.
        len: usize,
        /// The inline capacity.
        max: usize,
    },
    /// The text holds a character outside the identifier's alphabet.
    #[error("{kind} holds a character outside {alphabet}")]
    BadCharacter {
        /// Which identifier was being built.
        kind: &'static str,
        /// The allowed alphabet, in words.
        alphabet: &'static str,
    },
}

/// Generates a zero-padded inline ASCII identifier type.
///
/// Zero padding (rather than a length byte) works because no allowed character
/// is NUL, and it makes equality and hashing whole-array operations.
macro_rules! inline_id {
    (
        $(#[$meta:meta])*
        $name:ident, capacity = $cap:literal, max_len = $max:literal,
        kind = $kind:literal, alphabet = $alphabet:literal, allowed = $allowed:expr
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord,
            rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
        )]
        #[rkyv(derive(Debug))]
        pub struct $name([u8; $cap]);

        impl $name {
            /// The longest text this identifier accepts, in bytes.
            pub(crate) const MAX_LEN: usize = $max;

            /// All zeroes: not a valid identifier. Fills memory that holds
            /// no value, and nothing else.
            #[allow(dead_code)] // generated for every id type; not all need it
            pub(crate) const VACANT: Self = Self([0; $cap]);

            /// Validates `text` and stores it inline.
            pub fn new(text: &str) -> Result<Self, IdError> {
                Self::from_bytes(text.as_bytes())
            }

            /// Validates `bytes` (which must be ASCII from the allowed
            /// alphabet) and stores them inline.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                if bytes.is_empty() {
                    return Err(IdError::Empty { kind: $kind });
                }
                if bytes.len() > Self::MAX_LEN {
                    return Err(IdError::TooLong { kind: $kind, len: bytes.len(), max: Self::MAX_LEN });
                }
                let allowed: fn(u8) -> bool = $allowed;
                if !bytes.iter().all(|&b| allowed(b)) {
                    return Err(IdError::BadCharacter { kind: $kind, alphabet: $alphabet });
                }
                let mut inline = [0u8; $cap];
                inline[..bytes.len()].copy_from_slice(bytes);
                Ok(Self(inline))
            }

            /// The identifier's text.
            pub fn as_str(&self) -> &str {
                let len = self.0.iter().position(|&b| b == 0).unwrap_or($cap);
                // Construction admits ASCII only, so this cannot fail; the
                // fallback keeps a corrupted value printable rather than fatal.
                std::str::from_utf8(&self.0[..len]).unwrap_or("?")
            }

            /// The zero-padded inline bytes, for hashing and wire encoders.
            pub fn as_padded_bytes(&self) -> &[u8; $cap] {
                &self.0
            }

            /// Re-validates an identifier whose bytes came from outside the
            /// process, such as a snapshot file.
            pub(crate) fn revalidate(self) -> Result<Self, IdError> {
                // The common case, a valid id, in one branch-free pass that
                // the compiler vectorises: a restore checks two ids per
                // order, a million orders in a row. Only a bad id takes the
                // byte loop below, for its precise error.
                let allowed: fn(u8) -> bool = $allowed;
                let bytes = &self.0;
                let mut bad = bytes[0] == 0;
                for i in 0..$cap {
                    let zero = bytes[i] == 0;
                    bad |= !zero && (!allowed(bytes[i]) || i >= $max);
                    // Nothing but padding may follow a zero.
                    bad |= i + 1 < $cap && zero && bytes[(i + 1) % $cap] != 0;
                }
                if !bad {
                    return Ok(self);
                }
                let len = self.0.iter().position(|&b| b == 0).unwrap_or($cap);
                if self.0[len..].iter().any(|&b| b != 0) {
                    return Err(IdError::BadCharacter { kind: $kind, alphabet: $alphabet });
                }
                Self::from_bytes(&self.0[..len])
            }
        }

        /// Hashes the padded bytes as whole 64-bit words: no length prefix
        /// and no byte loop, since every value has the same size.
        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                let (words, _) = self.0.as_chunks::<8>();
                for word in words {
                    state.write_u64(u64::from_le_bytes(*word));
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(text: &str) -> Result<Self, IdError> {
                Self::new(text)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(de)?;
                Self::new(&text).map_err(serde::de::Error::custom)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                ser.serialize_str(self.as_str())
            }
        }
    };
}

inline_id! {
    /// An instrument symbol: 1 to 10 characters of `[A-Z0-9]`.
    Symbol, capacity = 16, max_len = 10, kind = "symbol", alphabet = "[A-Z0-9]",
    allowed = |b| b.is_ascii_uppercase() || b.is_ascii_digit()
}

inline_id! {
    /// A client-assigned order id: 1 to 32 printable ASCII characters, no space.
    ///
    /// Order ids are unique per user among live orders; see `Engine`.
    OrderId, capacity = 32, max_len = 32, kind = "order_id",
    alphabet = "printable ASCII without space", allowed = |b| b.is_ascii_graphic()
}

inline_id! {
    /// An engine's id: 1 to 32 printable ASCII characters, no space. It
    /// names a shard (an engine and its standby) in ownership records,
    /// moves and every output message.
    EngineId, capacity = 32, max_len = 32, kind = "engine_id",
    alphabet = "printable ASCII without space", allowed = |b| b.is_ascii_graphic()
}

inline_id! {
    /// A user (account) id: 1 to 32 printable ASCII characters, no space.
    ///
    /// Self-trade prevention compares user ids.
    UserId, capacity = 32, max_len = 32, kind = "user_id",
    alphabet = "printable ASCII without space", allowed = |b| b.is_ascii_graphic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_accepts_upper_case_and_digits_up_to_ten() {
        assert_eq!(Symbol::new("AAPL").unwrap().as_str(), "AAPL");
        assert_eq!(Symbol::new("ABCDEFGHI9").unwrap().as_str(), "ABCDEFGHI9");
    }

    #[test]
    fn symbol_rejects_lower_case_long_and_empty() {
        assert!(matches!(
            Symbol::new("aapl"),
            Err(IdError::BadCharacter { .. })
        ));
        assert!(matches!(
            Symbol::new("ABCDEFGHIJK"),
            Err(IdError::TooLong { len: 11, .. })
        ));
        assert!(matches!(Symbol::new(""), Err(IdError::Empty { .. })));
    }

    #[test]
    fn order_id_holds_exactly_32_bytes() {
        let id = "x".repeat(32);
        assert_eq!(OrderId::new(&id).unwrap().as_str(), id);
        assert!(matches!(
            OrderId::new(&"x".repeat(33)),
            Err(IdError::TooLong { len: 33, .. })
        ));
    }

    #[test]
    fn ids_reject_space_and_control_characters() {
        assert!(OrderId::new("a b").is_err());
        assert!(UserId::new("a\u{0}b").is_err());
        assert!(UserId::new("é").is_err());
    }

    /// What `revalidate` must say: the text up to the first zero is a
    /// valid id, and only zeros follow it.
    fn valid_padded(bytes: &[u8], make: fn(&[u8]) -> bool) -> bool {
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        bytes[len..].iter().all(|&b| b == 0) && make(&bytes[..len])
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2_000))]

        #[test]
        fn revalidate_agrees_with_validating_the_text(
            text in "[ -~]{0,34}",
            tail in proptest::collection::vec(0u8..3, 0..34),
            symbol in "[A-Z0-9a]{0,14}",
        ) {
            // Text, then zeros with a few stray bytes: every kind of
            // padding mistake.
            let mut raw = [0u8; 32];
            for (i, b) in text.bytes().chain(tail.iter().map(|&t| if t == 2 { b'x' } else { 0 }))
                .take(32).enumerate() {
                raw[i] = b;
            }
            proptest::prop_assert_eq!(
                OrderId(raw).revalidate().is_ok(),
                valid_padded(&raw, |b| OrderId::from_bytes(b).is_ok())
            );
            let mut sym = [0u8; 16];
            for (i, b) in symbol.bytes().take(16).enumerate() {
                sym[i] = b;
            }
            proptest::prop_assert_eq!(
                Symbol(sym).revalidate().is_ok(),
                valid_padded(&sym, |b| Symbol::from_bytes(b).is_ok())
            );
        }
    }

    #[test]
    fn revalidate_rejects_bytes_after_the_padding() {
        let mut raw = [0u8; 32];
        raw[0] = b'a';
        raw[5] = b'b';
        assert!(OrderId(raw).revalidate().is_err());
        raw[5] = 0;
        assert_eq!(OrderId(raw).revalidate().unwrap().as_str(), "a");
    }
}
