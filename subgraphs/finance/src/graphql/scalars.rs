//! Finance's scalars and the money type. A calendar day is a `Date`; an instant a `DateTime`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, SimpleObject, Value};
use chrono::NaiveDate;

use crate::domain::money::format_minor;
use crate::domain::money::Currency;

/// A calendar day, `YYYY-MM-DD` (RFC 3339 `full-date`), with no time zone: the day as the
/// company's books record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(
    name = "Date",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339#section-5.6"
)]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Date)
                .map_err(|_| InputValueError::custom(format!("`{text}` is not a YYYY-MM-DD date"))),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// An amount of money. `amount` is a decimal string with exactly as many decimals as the
/// currency's minor unit (`"1234.50"` EUR, `"1200"` JPY, `"1.250"` KWD), negative with a leading
/// `-`; never a JSON number, so no client parses it into a float. Amounts in inputs are decimal
/// strings of the document's currency with at most that many decimals (more is refused with
/// `AMOUNT_TOO_PRECISE`, never rounded).
#[derive(Debug, Clone, SimpleObject)]
pub struct Money {
    /// The decimal amount, e.g. `"1234.50"`.
    pub amount: String,
    /// The ISO 4217 currency code, e.g. `"EUR"`.
    pub currency: String,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self {
            amount: format_minor(minor, u32::from(currency.exponent())),
            currency: currency.code().to_owned(),
        }
    }

    /// From a stored currency code (unknown codes cannot be stored; shown at exponent 2 if so).
    pub fn stored(minor: i64, code: &str) -> Self {
        match Currency::parse(code) {
            Ok(currency) => Self::new(minor, currency),
            Err(_) => Self {
                amount: format_minor(minor, 2),
                currency: code.to_owned(),
            },
        }
    }
}
