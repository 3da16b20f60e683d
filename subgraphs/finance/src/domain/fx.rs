//! Exchange rates: a fixed-scale decimal (9 decimals, never a float) of base-currency major
//! units per one major unit of the foreign currency, dated; the base amount of a foreign amount
//! is computed once, at posting, and stored (invariant F4).

use chrono::NaiveDate;

use super::money::{parse_decimal, round_div, Currency, Money};
use super::FinanceViolation;

/// The scale of a rate: nano-units.
pub const RATE_SCALE: u32 = 9;
const RATE_UNIT: i128 = 1_000_000_000;

/// How many base units one unit of `currency` is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExchangeRate {
    currency: Currency,
    nano: i64,
}

impl ExchangeRate {
    /// A positive decimal with at most 9 decimals, below a billion.
    pub fn parse(currency: Currency, text: &str) -> Result<Self, FinanceViolation> {
        let bad = || FinanceViolation::BadExchangeRate(text.chars().take(40).collect());
        let nano = parse_decimal(text, RATE_SCALE, "rate").map_err(|_| bad())?;
        if nano <= 0 || nano >= 1_000_000_000 * RATE_UNIT as i64 {
            return Err(bad());
        }
        Ok(Self { currency, nano })
    }

    pub fn from_nano(currency: Currency, nano: i64) -> Self {
        Self { currency, nano }
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn nano(&self) -> i64 {
        self.nano
    }

    pub fn to_decimal_string(&self) -> String {
        let text = super::money::format_minor(self.nano, RATE_SCALE);
        let text = text.trim_end_matches('0');
        text.trim_end_matches('.').to_owned()
    }

    /// `amount` in `base`, rounded half away from zero to the base's minor unit.
    pub fn convert(&self, amount: Money, base: Currency) -> Result<Money, FinanceViolation> {
        if amount.currency() != self.currency {
            return Err(FinanceViolation::CurrencyMismatch {
                expected: self.currency.code(),
                found: amount.currency().code(),
            });
        }
        let numerator = i128::from(amount.minor()) * i128::from(self.nano) * base.minor_per_major();
        let denominator = amount.currency().minor_per_major() * RATE_UNIT;
        let minor = round_div(numerator, denominator);
        Money::from_minor(
            i64::try_from(minor).map_err(|_| FinanceViolation::AmountOutOfRange)?,
            base,
        )
    }
}

/// The rate in force on `date`: the latest dated on or before it.
pub fn rate_on(
    rates: &[(NaiveDate, ExchangeRate)],
    currency: Currency,
    date: NaiveDate,
) -> Result<ExchangeRate, FinanceViolation> {
    rates
        .iter()
        .filter(|(on, rate)| *on <= date && rate.currency() == currency)
        .max_by_key(|(on, _)| *on)
        .map(|(_, rate)| *rate)
        .ok_or(FinanceViolation::NoExchangeRate {
            currency: currency.code(),
            date,
        })
}

/// The base amount of `part` of a whole (`whole` in the document's currency, booked at
/// `whole_base`) of which `done` (booked `done_base`) was already cleared: the proportional
/// share of the booked base amount, except that the part clearing the whole takes the exact
/// residual, so a fully settled document or payment leaves no base-currency dust on its
/// control account.
pub fn base_share(part: i64, whole: i64, whole_base: i64, done: i64, done_base: i64) -> i64 {
    if whole == 0 {
        return 0;
    }
    if done + part == whole {
        return whole_base - done_base;
    }
    round_div(i128::from(part) * i128::from(whole_base), i128::from(whole)) as i64
}

/// Spreads `base` over `parts` (amounts in another currency) in proportion, the last part
/// taking the remainder so the shares add up to `base` exactly.
pub fn spread<T: Clone>(parts: &[(T, i64)], base: i64) -> Vec<(T, i64)> {
    let whole: i64 = parts.iter().map(|(_, amount)| amount).sum();
    let mut left = base;
    parts
        .iter()
        .enumerate()
        .map(|(index, (key, amount))| {
            let share = if index + 1 == parts.len() || whole == 0 {
                left
            } else {
                round_div(i128::from(*amount) * i128::from(base), i128::from(whole)) as i64
            };
            left -= share;
            (key.clone(), share)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn converts_between_exponents_with_commercial_rounding() {
        let eur = currency("EUR");
        // 1 USD = 0.923456789 EUR: 100.00 USD -> 92.35 EUR (92.3456789 rounds up).
        let rate = ExchangeRate::parse(currency("USD"), "0.923456789").unwrap();
        let usd = Money::parse("100.00", currency("USD")).unwrap();
        assert_eq!(rate.convert(usd, eur).unwrap().minor(), 9235);
        // JPY has no decimals: 1 JPY = 0.0061 EUR; 12345 JPY -> 75.3045 -> 75.30 EUR.
        let jpy = ExchangeRate::parse(currency("JPY"), "0.0061").unwrap();
        let yen = Money::parse("12345", currency("JPY")).unwrap();
        assert_eq!(jpy.convert(yen, eur).unwrap().to_decimal_string(), "75.30");
        // KWD has three: 1 KWD = 2.98 EUR; 1.005 KWD -> 2.9949 -> 2.99 EUR.
        let kwd = ExchangeRate::parse(currency("KWD"), "2.98").unwrap();
        let dinar = Money::parse("1.005", currency("KWD")).unwrap();
        assert_eq!(kwd.convert(dinar, eur).unwrap().to_decimal_string(), "2.99");
        // Into JPY: 1 EUR = 163.9 JPY; 10.01 EUR -> 1640.639 -> 1641 JPY.
        let eur_jpy = ExchangeRate::parse(eur, "163.9").unwrap();
        let euros = Money::parse("10.01", eur).unwrap();
        assert_eq!(
            eur_jpy.convert(euros, currency("JPY")).unwrap().minor(),
            1641
        );
    }

    /// ERPNext #55600: a round-off on the unit conversion must not creep in. The same amount
    /// converted twice gives the same base amount, and the stored base amount is what a reversal
    /// reuses (it is never converted again).
    #[test]
    fn conversion_is_deterministic_and_rates_are_not_floats() {
        let rate = ExchangeRate::parse(currency("USD"), "1.1").unwrap();
        let amount = Money::parse("0.10", currency("USD")).unwrap();
        let once = rate.convert(amount, currency("EUR")).unwrap();
        assert_eq!(once, rate.convert(amount, currency("EUR")).unwrap());
        assert_eq!(once.minor(), 11);
        assert_eq!(rate.to_decimal_string(), "1.1");
        for bad in ["0", "-1", "1e2", "0.0000000001", "abc"] {
            assert!(ExchangeRate::parse(currency("USD"), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rate_on_a_date_is_the_latest_before_it() {
        let usd = currency("USD");
        let day = |d| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
        let rates = vec![
            (day(1), ExchangeRate::parse(usd, "0.9").unwrap()),
            (day(10), ExchangeRate::parse(usd, "0.95").unwrap()),
        ];
        assert_eq!(
            rate_on(&rates, usd, day(9)).unwrap().to_decimal_string(),
            "0.9"
        );
        assert_eq!(
            rate_on(&rates, usd, day(10)).unwrap().to_decimal_string(),
            "0.95"
        );
        assert!(matches!(
            rate_on(&rates, usd, NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()),
            Err(FinanceViolation::NoExchangeRate { .. })
        ));
    }

    #[test]
    fn partial_settlements_clear_the_booked_base_in_proportion_and_the_last_clears_the_rest() {
        // 1000.00 EUR booked at 1.1 = 1100.00 USD, paid 333.33 + 333.33 + 333.34.
        let (whole, base) = (100_000, 110_000);
        let first = base_share(33_333, whole, base, 0, 0);
        assert_eq!(first, 36_666);
        let second = base_share(33_333, whole, base, 33_333, first);
        assert_eq!(second, 36_666);
        let last = base_share(33_334, whole, base, 66_666, first + second);
        assert_eq!(last, 36_668);
        assert_eq!(first + second + last, base);
        // In the base currency a share is the amount itself.
        assert_eq!(base_share(123, 1000, 1000, 0, 0), 123);
        assert_eq!(base_share(0, 0, 0, 0, 0), 0);
    }

    #[test]
    fn a_spread_adds_up_to_its_base() {
        let spread = spread(&[("a", 1), ("b", 1), ("c", 1)], 100);
        assert_eq!(spread, vec![("a", 33), ("b", 33), ("c", 34)]);
        assert_eq!(super::spread::<&str>(&[], 0), vec![]);
    }
}
