//! Finance's values in the API are the kit's (one name and format in every subgraph): `Date`
//! for a day of the books, `DateTime` for an instant, and the shareable `Money` object (integer
//! minor units of an ISO 4217 currency, its amount a decimal string at the currency's exponent).

pub use erp_kit::money::Money;
pub use erp_kit::scalars::{Date, DateTime};

pub use erp_kit::money::{Currency as KitCurrency, Decimal};

use crate::domain::money::Currency;

/// `minor` units of `currency` as the API shows them. Finance's amounts are bounded by the
/// same 10^15 minor units as the kit's; a sum beyond it (never stored) saturates rather than
/// failing a read.
pub fn money(minor: i64, currency: Currency) -> Money {
    stored_money(minor, currency.code())
}

/// A stored currency code as the API's `CurrencyCode` (only ISO 4217 codes are stored, each
/// checked on the way in; an unknown one would read as EUR rather than failing the read).
pub fn currency_code(code: &str) -> KitCurrency {
    KitCurrency::parse(code)
        .or_else(|_| KitCurrency::parse("EUR"))
        .expect("EUR is an ISO 4217 currency")
}

/// A decimal string finance formatted itself (a quantity, a percentage, a rate) as the API's
/// `Decimal`; the formatters write only `-?digits(.digits)?`, so the fallback never shows.
pub fn decimal(text: String) -> Decimal {
    Decimal::parse(&text).unwrap_or_else(|| Decimal::parse("0").expect("0 is a decimal"))
}

/// From a stored currency code (see [`currency_code`]).
pub fn stored_money(minor: i64, code: &str) -> Money {
    let currency = currency_code(code);
    let bounded = minor.clamp(-erp_kit::money::MAX_MINOR, erp_kit::money::MAX_MINOR);
    Money::from_minor(bounded, currency).expect("bounded to MAX_MINOR")
}
