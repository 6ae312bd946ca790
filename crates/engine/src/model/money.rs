//! Money as exact integer fen (1 yuan = 100 fen). No floating point ever touches an amount.

use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount of money in fen. Signed so that differences (group deltas) are natural;
/// input amounts are checked non-negative at decode time.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount `{0}` is not a decimal number of yuan with at most two decimals")]
    Malformed(String),
    #[error("amount `{0}` is negative")]
    Negative(String),
    #[error("amount `{0}` is too large")]
    TooLarge(String),
}

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub const fn yuan(y: i64) -> Fen {
        Fen(y * 100)
    }

    /// Parses a yuan amount written as a plain decimal: `12`, `12.3`, `12.30`, `-1.5`.
    /// Exponents, more than two decimals, signs other than a leading `-`, and empty parts
    /// (`.5`, `5.`) are malformed. Negative amounts parse here; the caller decides whether
    /// they are allowed.
    pub fn parse_yuan(text: &str) -> Result<Fen, MoneyError> {
        let malformed = || MoneyError::Malformed(text.to_owned());
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed());
        }
        let frac_fen = match frac {
            None => 0,
            Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(malformed())
            }
            Some(f) => {
                let v: i64 = f.parse().map_err(|_| malformed())?;
                if f.len() == 1 {
                    v * 10
                } else {
                    v
                }
            }
        };
        let too_large = || MoneyError::TooLarge(text.to_owned());
        let whole: i64 = whole.parse().map_err(|_| too_large())?;
        let fen = whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(frac_fen))
            .ok_or_else(too_large)?;
        Ok(Fen(if negative { -fen } else { fen }))
    }

    pub const fn as_fen(self) -> i64 {
        self.0
    }
}

/// Formats as yuan with exactly two decimals: `1234.50`, `-0.05`.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Serialized as the decimal string of the JSON contract (`"12.30"`); in binary formats
/// (state snapshots) as the integer number of fen.
impl Serialize for Fen {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

/// Configuration amounts: a decimal string (`"450"`, `"12.50"`) or a whole number of yuan.
/// Fractional numbers are refused because a float cannot carry an exact amount; the JSON
/// input decoder reads amounts from the raw text instead and never goes through this.
impl<'de> Deserialize<'de> for Fen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !d.is_human_readable() {
            return i64::deserialize(d).map(Fen);
        }
        struct YuanVisitor;
        impl serde::de::Visitor<'_> for YuanVisitor {
            type Value = Fen;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount of yuan as a decimal string or a whole number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Fen, E> {
                Fen::parse_yuan(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Fen, E> {
                v.checked_mul(100)
                    .map(Fen)
                    .ok_or_else(|| E::custom("amount too large"))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Fen, E> {
                i64::try_from(v)
                    .ok()
                    .and_then(|v| v.checked_mul(100))
                    .map(Fen)
                    .ok_or_else(|| E::custom("amount too large"))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Fen, E> {
                Err(E::custom(format!(
                    "amount {v} is a float; write it as a string, e.g. \"{v}\""
                )))
            }
        }
        d.deserialize_any(YuanVisitor)
    }
}

impl Add for Fen {
    type Output = Fen;
    fn add(self, rhs: Fen) -> Fen {
        Fen(self.0 + rhs.0)
    }
}
impl AddAssign for Fen {
    fn add_assign(&mut self, rhs: Fen) {
        self.0 += rhs.0;
    }
}
impl Sub for Fen {
    type Output = Fen;
    fn sub(self, rhs: Fen) -> Fen {
        Fen(self.0 - rhs.0)
    }
}
impl SubAssign for Fen {
    fn sub_assign(&mut self, rhs: Fen) {
        self.0 -= rhs.0;
    }
}
impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_and_fractional_yuan_exactly() {
        assert_eq!(Fen::parse_yuan("12").unwrap(), Fen(1200));
        assert_eq!(Fen::parse_yuan("12.3").unwrap(), Fen(1230));
        assert_eq!(Fen::parse_yuan("12.34").unwrap(), Fen(1234));
        assert_eq!(Fen::parse_yuan("0.07").unwrap(), Fen(7));
        assert_eq!(Fen::parse_yuan("-1.5").unwrap(), Fen(-150));
    }

    #[test]
    fn rejects_anything_but_plain_decimals_with_two_places() {
        for bad in [
            "", "1.234", "1e3", ".5", "5.", "+5", "1,5", "abc", "1.2.3", " 1",
        ] {
            assert!(Fen::parse_yuan(bad).is_err(), "{bad:?} should be malformed");
        }
        assert!(matches!(
            Fen::parse_yuan("99999999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_with_two_decimals() {
        assert_eq!(Fen(123450).to_string(), "1234.50");
        assert_eq!(Fen(5).to_string(), "0.05");
        assert_eq!(Fen(-5).to_string(), "-0.05");
    }
}
