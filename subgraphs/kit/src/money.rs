//! Money in the API: an ISO 4217 currency ([`Currency`], the `CurrencyCode` scalar), a decimal
//! amount ([`Decimal`]) and the `Money` object and `MoneyInput` every domain uses (employee's
//! salaries, PMO's budgets, finance's documents).
//!
//! The contract: an amount is held in integer minor units of its currency and crosses the API
//! as a decimal string with exactly as many decimals as the currency's minor unit (`"1234.50"`
//! EUR, `"1200"` JPY, `"1.250"` KWD), never as a JSON number, so no client turns it into a
//! float. An input amount may have fewer decimals than the currency (`"12.5"` EUR is 12.50)
//! but never more: `"12.345"` EUR is refused rather than rounded, because a client that sends
//! more precision than the currency has computed something wrong.

use std::fmt;

use async_graphql::{
    InputObject, InputValueError, InputValueResult, Object, Scalar, ScalarType, Value,
};

/// An ISO 4217 currency: its code and its exponent (the number of decimals of its minor unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    code: &'static str,
    exponent: u8,
}

/// Every active ISO 4217 code with its exponent (ISO 4217 amendment 179). Codes not listed are
/// refused: an amount must not guess how many decimals an unknown currency has.
const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

/// A code that is not an active ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCurrency(pub String);

impl Currency {
    /// The currency of an ISO 4217 code, upper case as ISO writes it.
    pub fn parse(code: &str) -> Result<Self, UnknownCurrency> {
        CURRENCIES
            .iter()
            .find(|(known, _)| *known == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| UnknownCurrency(code.chars().take(16).collect()))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Decimals of the minor unit: JPY 0, EUR 2, KWD 3.
    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    /// 10^exponent: minor units per major unit.
    pub fn minor_per_major(&self) -> i128 {
        10i128.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A currency: an active ISO 4217 alphabetic code in upper case, e.g. `EUR`, `INR`, `JPY`.
/// The code fixes how many decimals an amount of it has (EUR 2, JPY 0, KWD 3).
#[Scalar(
    name = "CurrencyCode",
    specified_by_url = "https://www.iso.org/iso-4217-currency-codes.html"
)]
impl ScalarType for Currency {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(code) => Currency::parse(code).map_err(|_| {
                InputValueError::custom("a currency is an ISO 4217 code in upper case, e.g. EUR")
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(code) if Currency::parse(code).is_ok())
    }

    fn to_value(&self) -> Value {
        Value::String(self.code.to_owned())
    }
}

/// The largest magnitude an amount may have, in minor units: 10^15 (a quadrillion cents, or a
/// trillion KWD). Sums of many amounts stay far inside `i64` and products inside `i128`.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

/// Why a decimal amount was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmountError {
    /// Not `-?digits(.digits)?`.
    Format,
    /// More decimals than the currency has.
    TooPrecise,
    /// Beyond [`MAX_MINOR`].
    OutOfRange,
}

impl AmountError {
    /// What a client reads.
    pub fn message(self, currency: Currency) -> String {
        match self {
            AmountError::Format => {
                "an amount is a decimal string such as 1234.50 (no exponent, sign `-` only)".into()
            }
            AmountError::TooPrecise => format!(
                "{} amounts have at most {} decimals",
                currency.code, currency.exponent
            ),
            AmountError::OutOfRange => "the amount is out of range".into(),
        }
    }
}

/// `minor` as a decimal string with `exponent` decimals: `"1234.50"`, `"-3"`, `"0.125"`.
pub fn format_minor(minor: i64, exponent: u8) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let magnitude = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{magnitude}");
    }
    let unit = 10u64.pow(u32::from(exponent));
    format!(
        "{sign}{}.{:0width$}",
        magnitude / unit,
        magnitude % unit,
        width = usize::from(exponent)
    )
}

/// Parses `-?\d+(\.\d+)?` with at most `exponent` decimals into minor units. Everything else
/// (exponents, `+`, spaces, separators, `.5`, `5.`) is [`AmountError::Format`].
pub fn parse_minor(text: &str, exponent: u8) -> Result<i64, AmountError> {
    if !Decimal::is_decimal(text) {
        return Err(AmountError::Format);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if fraction.len() > usize::from(exponent) {
        return Err(AmountError::TooPrecise);
    }
    let whole = whole.trim_start_matches('0');
    if whole.len() > 18 {
        return Err(AmountError::OutOfRange);
    }
    let whole: i128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| AmountError::Format)?
    };
    let padded = format!("{fraction:0<width$}", width = usize::from(exponent));
    let fraction: i128 = if padded.is_empty() {
        0
    } else {
        padded.parse().map_err(|_| AmountError::Format)?
    };
    let value = whole * 10i128.pow(u32::from(exponent)) + fraction;
    let value = if negative { -value } else { value };
    i64::try_from(value)
        .ok()
        .filter(|minor| minor.unsigned_abs() <= MAX_MINOR as u64)
        .ok_or(AmountError::OutOfRange)
}

/// A decimal number written out in a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// `-?\d+(\.\d+)?`, at most 40 characters.
    pub fn parse(text: &str) -> Option<Self> {
        Self::is_decimal(text).then(|| Self(text.to_owned()))
    }

    fn is_decimal(text: &str) -> bool {
        let digits = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = match digits.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (digits, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        text.len() <= 40 && all_digits(whole) && fraction.is_none_or(all_digits)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A decimal number as a string, so that no client reads it into a binary float: an optional
/// `-`, digits, and optionally `.` and more digits (`1234.50`, `-3`, `0.125`); no exponent, no
/// `+`, no thousands separator, no spaces; at most 40 characters. The lexical space of XML
/// Schema's `decimal`, without the `+` sign and the forms `.5` and `5.`.
#[Scalar(
    name = "Decimal",
    specified_by_url = "https://www.w3.org/TR/xmlschema11-2/#decimal"
)]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => Decimal::parse(text).ok_or_else(|| {
                InputValueError::custom("a decimal is a string such as 1234.50 (sign `-` only)")
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(text) if Decimal::is_decimal(text))
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An amount of one currency, in its minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// An amount in minor units (from storage or a computation); out of range refused.
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, AmountError> {
        if minor.unsigned_abs() > MAX_MINOR as u64 {
            return Err(AmountError::OutOfRange);
        }
        Ok(Self { minor, currency })
    }

    /// Parses a decimal string of `currency` (at most its decimals).
    pub fn parse(amount: &str, currency: Currency) -> Result<Self, AmountError> {
        Self::from_minor(parse_minor(amount, currency.exponent)?, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The decimal string at the currency's exponent: `"1234.50"`, `"-3"`, `"0.125"`.
    pub fn to_decimal_string(&self) -> String {
        format_minor(self.minor, self.currency.exponent)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency.code)
    }
}

/// An amount of money in one currency. `amount` has exactly as many decimals as the
/// currency's minor unit (`"1234.50"` EUR, `"1200"` JPY, `"1.250"` KWD), with a leading `-`
/// when negative; it is held in integer minor units, so it is exact.
// Shareable: a value type every subgraph with amounts resolves the same way.
#[Object(name = "Money", shareable)]
impl Money {
    /// The amount as a decimal string at the currency's exponent, e.g. `"85000.00"`.
    async fn amount(&self) -> Decimal {
        Decimal(self.to_decimal_string())
    }

    /// The ISO 4217 currency, e.g. `EUR`.
    #[graphql(name = "currency")]
    async fn currency_code(&self) -> Currency {
        self.currency
    }
}

/// An amount of money as a client gives it: a decimal string of the currency with at most as
/// many decimals as its minor unit (`"85000"` or `"85000.5"` EUR are 85000.00 and 85000.50;
/// `"12.345"` EUR is refused, never rounded).
#[derive(InputObject, Debug, Clone)]
pub struct MoneyInput {
    /// The amount, e.g. `"85000.00"`: at most as many decimals as the currency has, and at
    /// most 10^15 minor units.
    pub amount: Decimal,
    /// The ISO 4217 currency, e.g. `EUR`.
    pub currency: Currency,
}

impl MoneyInput {
    /// The amount in minor units of its currency.
    pub fn to_money(&self) -> Result<Money, AmountError> {
        Money::parse(self.amount.as_str(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn currencies_know_their_decimals() {
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XYZ").is_err());
    }

    #[test]
    fn amounts_are_exact_minor_units() {
        assert_eq!(
            Money::parse("85000", eur()).unwrap().to_decimal_string(),
            "85000.00"
        );
        assert_eq!(Money::parse("12.5", eur()).unwrap().minor(), 1250);
        assert_eq!(
            Money::parse("-0.01", eur()).unwrap().to_decimal_string(),
            "-0.01"
        );
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(
            Money::parse("1200", jpy).unwrap().to_decimal_string(),
            "1200"
        );
        assert_eq!(Money::parse("12.345", eur()), Err(AmountError::TooPrecise));
        assert_eq!(Money::parse("1.5", jpy), Err(AmountError::TooPrecise));
        for bad in ["1e3", "+1", " 1", "1,000", ".5", "5.", "", "-"] {
            assert_eq!(Money::parse(bad, eur()), Err(AmountError::Format), "{bad}");
        }
        assert_eq!(
            Money::parse("10000000000000.01", eur()),
            Err(AmountError::OutOfRange)
        );
    }
}
