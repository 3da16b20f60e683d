//! Money: integer minor units and an ISO 4217 currency with its exponent. No floating point
//! anywhere (invariant F4): amounts cross the API as decimal strings and are parsed here, and
//! every computation that divides (tax, discounts, exchange rates) works on `i128` with one
//! explicit rounding rule, [`round_div`].
//!
//! The API contract: an amount is a decimal string with at most as many decimals as its
//! currency allows (`"12.50"` EUR, `"1200"` JPY, `"1.250"` KWD), an optional leading `-`, no
//! exponent, no thousands separator, no `+`, no surrounding spaces. `"12.345"` EUR is refused
//! (AMOUNT_TOO_PRECISE) rather than rounded: a client that sends more precision than the
//! currency has computed something wrong, and silently rounding it hides that.

use std::fmt;

use super::FinanceViolation;

/// An ISO 4217 currency: its code and its exponent (the number of decimals of its minor unit),
/// from the kit's one table of active codes (an unknown code is refused: a ledger must not
/// guess how many decimals a currency has).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(erp_kit::money::Currency);

impl Currency {
    /// The currency of an ISO 4217 code (upper case, as ISO writes it); UNKNOWN_CURRENCY else.
    pub fn parse(code: &str) -> Result<Self, FinanceViolation> {
        erp_kit::money::Currency::parse(code)
            .map(Currency)
            .map_err(|_| FinanceViolation::UnknownCurrency(code.chars().take(16).collect()))
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Decimals of the minor unit: JPY 0, EUR 2, KWD 3.
    pub fn exponent(&self) -> u8 {
        self.0.exponent()
    }

    /// 10^exponent: minor units per major unit.
    pub fn minor_per_major(&self) -> i128 {
        self.0.minor_per_major()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The largest magnitude an amount may have, in minor units: 10^15 (a quadrillion cents, or a
/// trillion KWD). Sums of many amounts stay far inside `i64` and products inside `i128`.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// An amount of one currency in minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// Parses a decimal string of `currency` (see the module's contract). The error names why.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, FinanceViolation> {
        let minor =
            parse_decimal(text, u32::from(currency.exponent()), "amount").map_err(|problem| {
                match problem {
                    DecimalProblem::TooPrecise => FinanceViolation::AmountTooPrecise {
                        amount: text.chars().take(40).collect(),
                        currency: currency.code(),
                        exponent: currency.exponent(),
                    },
                    DecimalProblem::Format => {
                        FinanceViolation::AmountFormat(text.chars().take(40).collect())
                    }
                    DecimalProblem::Range => FinanceViolation::AmountOutOfRange,
                }
            })?;
        Self::from_minor(minor, currency)
    }

    /// An amount already in minor units (from storage or a computation); out of range refused.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, FinanceViolation> {
        if minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(FinanceViolation::AmountOutOfRange);
        }
        Ok(Self { minor, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Self { minor: 0, currency }
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    pub fn is_positive(&self) -> bool {
        self.minor > 0
    }

    /// The sum, refused across currencies or out of range.
    pub fn checked_add(self, other: Money) -> Result<Money, FinanceViolation> {
        self.same_currency(other)?;
        Money::from_minor(
            self.minor
                .checked_add(other.minor)
                .ok_or(FinanceViolation::AmountOutOfRange)?,
            self.currency,
        )
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, FinanceViolation> {
        self.same_currency(other)?;
        Money::from_minor(
            self.minor
                .checked_sub(other.minor)
                .ok_or(FinanceViolation::AmountOutOfRange)?,
            self.currency,
        )
    }

    pub fn negated(self) -> Money {
        Money {
            minor: -self.minor,
            currency: self.currency,
        }
    }

    fn same_currency(&self, other: Money) -> Result<(), FinanceViolation> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(FinanceViolation::CurrencyMismatch {
                expected: self.currency.code(),
                found: other.currency.code(),
            })
        }
    }

    /// The decimal string at the currency's exponent: `"1234.50"`, `"-3"`, `"0.125"`.
    pub fn to_decimal_string(&self) -> String {
        format_minor(self.minor, u32::from(self.currency.exponent()))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.code())
    }
}

/// `minor` as a decimal string with `scale` decimals.
pub fn format_minor(minor: i64, scale: u32) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    if scale == 0 {
        return format!("{sign}{magnitude}");
    }
    let unit = 10u64.pow(scale);
    format!(
        "{sign}{}.{:0width$}",
        magnitude / unit,
        magnitude % unit,
        width = scale as usize
    )
}

/// Why a decimal string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecimalProblem {
    /// Not `-?digits(.digits)?`.
    Format,
    /// More decimals than the scale allows.
    TooPrecise,
    /// More than 18 integer digits.
    Range,
}

/// Parses `-?\d+(\.\d+)?` with at most `scale` decimals into an integer scaled by 10^scale.
/// Everything else (exponents, `+`, spaces, separators, `.5`, `5.`) is [`DecimalProblem::Format`].
pub fn parse_decimal(text: &str, scale: u32, _what: &str) -> Result<i64, DecimalProblem> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (digits, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalProblem::Format);
    }
    let fraction = fraction.unwrap_or("");
    if fraction.len() > scale as usize {
        return Err(DecimalProblem::TooPrecise);
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 18 {
        return Err(DecimalProblem::Range);
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| DecimalProblem::Format)?
    };
    let padded = format!("{fraction:0<width$}", width = scale as usize);
    let fraction: i128 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| DecimalProblem::Format)?
    };
    let value = whole * 10i128.pow(scale) + fraction;
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| DecimalProblem::Range)
}

/// `numerator / denominator` rounded half away from zero (commercial rounding), the one
/// rounding rule of finance. `denominator` must be positive.
pub fn round_div(numerator: i128, denominator: i128) -> i128 {
    debug_assert!(denominator > 0);
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    if remainder.abs() * 2 >= denominator {
        quotient + numerator.signum()
    } else {
        quotient
    }
}

/// A proportion with six decimals of a percent's hundredth: parts per million of the whole.
/// `"22"` % is 220 000 ppm, `"8.875"` % is 88 750 ppm. Used for tax rates and discounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Percent {
    ppm: i64,
}

/// Parts per million in one whole.
pub const PPM: i128 = 1_000_000;

impl Percent {
    /// A percentage as a decimal string with at most 4 decimals, between 0 and `max` percent.
    pub fn parse(
        field: &'static str,
        text: &str,
        max_percent: i64,
    ) -> Result<Self, FinanceViolation> {
        let ppm = parse_decimal(text, 4, field).map_err(|_| FinanceViolation::BadPercent {
            field,
            value: text.chars().take(40).collect(),
        })?;
        if ppm < 0 || ppm > max_percent * 10_000 {
            return Err(FinanceViolation::BadPercent {
                field,
                value: text.chars().take(40).collect(),
            });
        }
        Ok(Self { ppm })
    }

    pub fn from_ppm(ppm: i64) -> Self {
        Self { ppm }
    }

    pub fn zero() -> Self {
        Self { ppm: 0 }
    }

    pub fn ppm(&self) -> i64 {
        self.ppm
    }

    /// `"22"`, `"8.875"`: the percentage as the API shows it.
    pub fn to_decimal_string(&self) -> String {
        let text = format_minor(self.ppm, 4);
        let text = text.trim_end_matches('0');
        text.trim_end_matches('.').to_owned()
    }
}

/// A quantity with three decimals (hours, units): thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quantity {
    milli: i64,
}

/// Thousandths in one unit of [`Quantity`].
pub const MILLI: i128 = 1_000;

impl Quantity {
    /// A positive decimal with at most 3 decimals, at most a billion.
    pub fn parse(text: &str) -> Result<Self, FinanceViolation> {
        let milli = parse_decimal(text, 3, "quantity")
            .map_err(|_| FinanceViolation::BadQuantity(text.chars().take(40).collect()))?;
        if milli <= 0 || milli > 1_000_000_000_000 {
            return Err(FinanceViolation::BadQuantity(
                text.chars().take(40).collect(),
            ));
        }
        Ok(Self { milli })
    }

    pub fn from_milli(milli: i64) -> Self {
        Self { milli }
    }

    pub fn milli(&self) -> i64 {
        self.milli
    }

    pub fn to_decimal_string(&self) -> String {
        let text = format_minor(self.milli, 3);
        let text = text.trim_end_matches('0');
        text.trim_end_matches('.').to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn currencies_know_their_exponent_and_unknown_ones_are_refused() {
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("EUR").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("CLF").unwrap().exponent(), 4);
        for bad in ["XYZ", "eur", "EURO", "", "US$"] {
            assert!(
                matches!(
                    Currency::parse(bad),
                    Err(FinanceViolation::UnknownCurrency(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn amounts_parse_to_minor_units_at_the_currency_exponent() {
        assert_eq!(Money::parse("12.5", eur()).unwrap().minor(), 1250);
        assert_eq!(Money::parse("12.50", eur()).unwrap().minor(), 1250);
        assert_eq!(Money::parse("-0.01", eur()).unwrap().minor(), -1);
        assert_eq!(Money::parse("007", eur()).unwrap().minor(), 700);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("1200", jpy).unwrap().minor(), 1200);
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse("1.250", kwd).unwrap().minor(), 1250);
        assert_eq!(
            Money::parse("1.25", kwd).unwrap().to_decimal_string(),
            "1.250"
        );
    }

    #[test]
    fn more_decimals_than_the_currency_allows_are_refused_not_rounded() {
        let too_precise = |text: &str, code: &str| {
            matches!(
                Money::parse(text, Currency::parse(code).unwrap()),
                Err(FinanceViolation::AmountTooPrecise { .. })
            )
        };
        assert!(too_precise("12.345", "EUR"));
        assert!(too_precise("12.340", "EUR"));
        assert!(too_precise("0.1", "JPY"));
        assert!(too_precise("1.0", "JPY"));
        assert!(too_precise("1.2345", "KWD"));
        assert!(too_precise("0.30000000000000004", "EUR"));
    }

    #[test]
    fn float_looking_and_malformed_amounts_are_refused() {
        for bad in [
            "1e3", "1E-2", "+5", " 5", "5 ", "1,000.00", ".5", "5.", "", "-", "NaN", "inf", "0x10",
            "1_000", "--1", "1.2.3",
        ] {
            assert!(
                matches!(
                    Money::parse(bad, eur()),
                    Err(FinanceViolation::AmountFormat(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Money::parse("99999999999999999999", eur()),
            Err(FinanceViolation::AmountOutOfRange)
        ));
        assert!(matches!(
            Money::parse("10000000000000.01", eur()),
            Err(FinanceViolation::AmountOutOfRange)
        ));
    }

    #[test]
    fn formatting_round_trips() {
        for (text, code) in [
            ("0.00", "EUR"),
            ("-12.05", "EUR"),
            ("7", "JPY"),
            ("0.001", "KWD"),
        ] {
            let money = Money::parse(text, Currency::parse(code).unwrap()).unwrap();
            assert_eq!(money.to_decimal_string(), text);
        }
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies() {
        let a = Money::parse("1.00", eur()).unwrap();
        let b = Money::parse("1.00", Currency::parse("USD").unwrap()).unwrap();
        assert!(matches!(
            a.checked_add(b),
            Err(FinanceViolation::CurrencyMismatch { .. })
        ));
        assert_eq!(a.checked_add(a).unwrap().minor(), 200);
        assert_eq!(a.checked_sub(a).unwrap().minor(), 0);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(round_div(5, 10), 1);
        assert_eq!(round_div(4, 10), 0);
        assert_eq!(round_div(-5, 10), -1);
        assert_eq!(round_div(-4, 10), 0);
        assert_eq!(round_div(15, 10), 2);
        assert_eq!(round_div(25, 10), 3);
    }

    #[test]
    fn percents_and_quantities_parse() {
        assert_eq!(Percent::parse("rate", "22", 100).unwrap().ppm(), 220_000);
        assert_eq!(Percent::parse("rate", "8.875", 100).unwrap().ppm(), 88_750);
        assert_eq!(
            Percent::parse("rate", "8.875", 100)
                .unwrap()
                .to_decimal_string(),
            "8.875"
        );
        assert_eq!(
            Percent::parse("rate", "20", 100)
                .unwrap()
                .to_decimal_string(),
            "20"
        );
        assert!(Percent::parse("rate", "101", 100).is_err());
        assert!(Percent::parse("rate", "-1", 100).is_err());
        assert!(Percent::parse("rate", "1.00001", 100).is_err());
        assert_eq!(Quantity::parse("16").unwrap().milli(), 16_000);
        assert_eq!(Quantity::parse("1.5").unwrap().to_decimal_string(), "1.5");
        assert!(Quantity::parse("0").is_err());
        assert!(Quantity::parse("1.0001").is_err());
    }
}
