//! Exact conversion of JSON number text into scaled integers.
//!
//! A price of `250.50` with two decimals is 25050 ticks, exactly. Going
//! through `f64` would turn `0.29` into `0.28999999999999998` and, scaled,
//! into 28 after truncation; so this reads the digits of the number's text
//! and never touches floating point. Integers are the same conversion with
//! zero decimals, so `15000`, `15000.0` and `1.5e4` are all 15000 and
//! `1.5` is refused rather than rounded. Pure and allocation-free.

/// Why a number could not be converted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NumberError {
    /// The text is not a JSON number (a string, a boolean, an object...).
    NotANumber,
    /// Below zero (`-0` is zero, and fine).
    Negative,
    /// More decimal places than the scale allows, after trailing zeros.
    TooPrecise,
    /// The scaled value does not fit in a `u64`.
    TooLarge,
}

/// `u64::MAX` has 20 digits, so a longer significand cannot fit.
const MAX_DIGITS: usize = 20;

/// Converts the text of a JSON number into an integer count of
/// `10^-decimals` units: with `decimals = 2`, `"250.5"` is 25050.
///
/// `text` is what the JSON parser already accepted, so it follows the JSON
/// number grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`; any other
/// text is [`NumberError::NotANumber`].
pub(crate) fn scaled(text: &str, decimals: u8) -> Result<u64, NumberError> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(at) => (&rest[..at], Some(&rest[at + 1..])),
        None => (rest, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (mantissa, ""),
    };
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) {
        return Err(NumberError::NotANumber);
    }
    if mantissa.ends_with('.') {
        return Err(NumberError::NotANumber);
    }
    let exponent = match exponent {
        None => 0i64,
        Some(e) => parse_exponent(e)?,
    };

    // The value is D × 10^shift, where D is the digits of whole and
    // fraction run together.
    let significand = Digits { whole, fraction };
    let Some((first, last)) = significand.nonzero_span() else {
        return Ok(0); // zero, in any spelling, and `-0`
    };
    if negative {
        return Err(NumberError::Negative);
    }
    let shift = exponent - fraction.len() as i64 + i64::from(decimals);
    // Drop trailing zeros of D into the shift: `250.50` is 2505 × 10^-1.
    let trailing = (significand.len() - 1 - last) as i64;
    let shift = shift + trailing;
    if shift < 0 {
        return Err(NumberError::TooPrecise);
    }
    let count = last - first + 1;
    if count as i64 + shift > MAX_DIGITS as i64 {
        return Err(NumberError::TooLarge);
    }
    let mut value: u64 = 0;
    for at in first..=last {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(significand.at(at) - b'0')))
            .ok_or(NumberError::TooLarge)?;
    }
    for _ in 0..shift {
        value = value.checked_mul(10).ok_or(NumberError::TooLarge)?;
    }
    Ok(value)
}

/// An exponent's text: `[+-]?[0-9]+`. Huge exponents are clamped, since
/// any beyond ±1000 already decides the outcome (too large or too precise)
/// for significands of the lengths a message can hold.
fn parse_exponent(text: &str) -> Result<i64, NumberError> {
    let (sign, digits) = match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotANumber);
    }
    let mut magnitude: i64 = 0;
    for b in digits.bytes() {
        magnitude = (magnitude * 10 + i64::from(b - b'0')).min(1_000_000);
    }
    Ok(sign * magnitude)
}

/// The significand's digits, whole part then fraction, without copying.
struct Digits<'a> {
    whole: &'a str,
    fraction: &'a str,
}

impl Digits<'_> {
    fn len(&self) -> usize {
        self.whole.len() + self.fraction.len()
    }

    fn at(&self, i: usize) -> u8 {
        match i.checked_sub(self.whole.len()) {
            None => self.whole.as_bytes()[i],
            Some(j) => self.fraction.as_bytes()[j],
        }
    }

    /// The first and last non-zero digit, if any.
    fn nonzero_span(&self) -> Option<(usize, usize)> {
        let first = (0..self.len()).find(|&i| self.at(i) != b'0')?;
        let last = (0..self.len()).rev().find(|&i| self.at(i) != b'0')?;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests fail loudly by design

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_issue_examples() {
        assert_eq!(scaled("250.50", 2), Ok(25_050));
        assert_eq!(scaled("250", 2), Ok(25_000));
        assert_eq!(scaled("250.505", 2), Err(NumberError::TooPrecise));
        assert_eq!(scaled("0.29", 2), Ok(29)); // 28 through f64 truncation
        assert_eq!(scaled("15000", 0), Ok(15_000));
        assert_eq!(scaled("15000.0", 0), Ok(15_000));
        assert_eq!(scaled("1.5e4", 0), Ok(15_000));
        assert_eq!(scaled("1.5", 0), Err(NumberError::TooPrecise));
    }

    #[test]
    fn signs_zeros_and_limits() {
        assert_eq!(scaled("-1", 0), Err(NumberError::Negative));
        assert_eq!(scaled("-0", 2), Ok(0));
        assert_eq!(scaled("-0.000e5", 2), Ok(0));
        assert_eq!(scaled("0e999999999999999999999", 2), Ok(0));
        assert_eq!(scaled("18446744073709551615", 0), Ok(u64::MAX));
        assert_eq!(
            scaled("18446744073709551616", 0),
            Err(NumberError::TooLarge)
        );
        assert_eq!(scaled("184467440737095516.15", 2), Ok(u64::MAX));
        assert_eq!(scaled("1e19", 0), Ok(10_000_000_000_000_000_000));
        assert_eq!(scaled("1e20", 0), Err(NumberError::TooLarge));
        assert_eq!(scaled("1e-999999999999", 2), Err(NumberError::TooPrecise));
        assert_eq!(scaled("123E+2", 1), Ok(123_000));
        assert_eq!(scaled("0.000000000000000000000000001e27", 0), Ok(1));
    }

    #[test]
    fn text_that_is_not_a_number() {
        for text in [
            "\"1\"", "true", "null", "", "-", "1.", ".5", "1e", "1e+", "{}",
        ] {
            assert_eq!(scaled(text, 2), Err(NumberError::NotANumber), "{text}");
        }
    }

    /// The slow reference: write the exact value `units / 10^decimals` as
    /// decimal text, the way a person would.
    fn written(units: u64, decimals: u8) -> String {
        let digits = format!("{units:0>width$}", width = usize::from(decimals) + 1);
        let (whole, fraction) = digits.split_at(digits.len() - usize::from(decimals));
        if fraction.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{fraction}")
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]

        /// Any exact decimal spelling of a value converts back to it: plain,
        /// with trailing zeros, and with the point moved into an exponent.
        #[test]
        fn every_spelling_of_a_value_converts_to_it(
            units in any::<u64>(),
            decimals in 0u8..=8,
            extra_zeros in 0usize..4,
            shift in 0i64..6,
        ) {
            let plain = written(units, decimals);
            prop_assert_eq!(scaled(&plain, decimals), Ok(units));
            let padded = if plain.contains('.') {
                format!("{plain}{}", "0".repeat(extra_zeros))
            } else if extra_zeros > 0 {
                format!("{plain}.{}", "0".repeat(extra_zeros))
            } else {
                plain.clone()
            };
            prop_assert_eq!(scaled(&padded, decimals), Ok(units));
            // value = units × 10^-decimals = (units × 10^-(decimals+shift)) e shift
            let moved = written(units, decimals + shift as u8);
            prop_assert_eq!(scaled(&format!("{moved}e{shift}"), decimals), Ok(units));
            prop_assert_eq!(scaled(&format!("{moved}E+{shift}"), decimals), Ok(units));
        }

        /// One more decimal place than the scale, not a zero, is refused.
        #[test]
        fn a_digit_beyond_the_scale_is_too_precise(
            units in 0u64..1_000_000_000_000,
            decimals in 0u8..=6,
            digit in 1u8..=9,
        ) {
            let plain = written(units, decimals);
            let finer = if plain.contains('.') {
                format!("{plain}{digit}")
            } else {
                format!("{plain}.{digit}")
            };
            prop_assert_eq!(scaled(&finer, decimals), Err(NumberError::TooPrecise));
        }

        /// Whatever JSON number text comes in, the result is exact: either
        /// the value written back at the scale equals the input's value, or
        /// there is a reason, and never a panic.
        #[test]
        fn any_json_number_is_exact_or_refused(
            negative in any::<bool>(),
            whole in "(0|[1-9][0-9]{0,22})",
            fraction in proptest::option::of("[0-9]{1,12}"),
            exponent in proptest::option::of(-30i32..30),
            decimals in 0u8..=9,
        ) {
            let mut text = String::new();
            if negative { text.push('-'); }
            text.push_str(&whole);
            if let Some(f) = &fraction { text.push('.'); text.push_str(f); }
            if let Some(e) = exponent { text.push_str(&format!("e{e}")); }
            let value = reference_value(&whole, fraction.as_deref().unwrap_or(""), exponent.unwrap_or(0), decimals);
            let got = scaled(&text, decimals);
            match value {
                Reference::Zero => prop_assert_eq!(got, Ok(0)),
                _ if negative => prop_assert_eq!(got, Err(NumberError::Negative)),
                Reference::Exact(v) => prop_assert_eq!(got, v.ok_or(NumberError::TooLarge)),
                Reference::Fractional => prop_assert_eq!(got, Err(NumberError::TooPrecise)),
            }
        }
    }

    enum Reference {
        Zero,
        /// The value in units, `None` if above `u64::MAX`.
        Exact(Option<u64>),
        Fractional,
    }

    /// Moves the decimal point by string manipulation: obviously right,
    /// and slow.
    fn reference_value(whole: &str, fraction: &str, exponent: i32, decimals: u8) -> Reference {
        let digits = format!("{whole}{fraction}");
        // The point sits after `point` digits of `digits`.
        let point = whole.len() as i64 + i64::from(exponent) + i64::from(decimals);
        if digits.bytes().all(|b| b == b'0') {
            return Reference::Zero;
        }
        let (int_part, frac_part) = if point <= 0 {
            (
                String::new(),
                format!("{}{digits}", "0".repeat((-point) as usize)),
            )
        } else if point as usize >= digits.len() {
            (
                format!("{digits}{}", "0".repeat(point as usize - digits.len())),
                String::new(),
            )
        } else {
            (
                digits[..point as usize].to_string(),
                digits[point as usize..].to_string(),
            )
        };
        if frac_part.bytes().any(|b| b != b'0') {
            return Reference::Fractional;
        }
        let int_part = int_part.trim_start_matches('0');
        Reference::Exact(if int_part.is_empty() {
            Some(0)
        } else {
            int_part.parse::<u64>().ok()
        })
    }
}
