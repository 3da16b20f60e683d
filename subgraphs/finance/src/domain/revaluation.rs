//! Unrealised exchange differences: at a date, each posted foreign-currency document still
//! open then (invoices and credit notes on the receivables control account, bills on the
//! payables one) is worth its open amount at that date's rate, not the base amount it was
//! booked at. The difference is posted as a revaluation entry and reversed on the first day of
//! the next period (the way Odoo and ERPNext book unrealised gains and losses), so the booked
//! base amounts never change and a later settlement still realises its difference against
//! them.

use chrono::NaiveDate;

use super::fx::ExchangeRate;
use super::invoice::DocumentKind;
use super::ledger::Side;
use super::money::{Currency, Money};
use super::payment::{realised_difference, ControlLedger, RealisedDifference};
use super::period::FiscalYear;
use super::FinanceViolation;

/// A settlement of a document (an allocation of a payment or a credit note): its date, the
/// amount it cleared in the document's currency and the booked base amount that cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub date: NaiveDate,
    pub amount: i64,
    pub base_amount: i64,
}

/// What a document still carried at the end of a day: its open amount (document currency) and
/// the booked base amount of that open part, counting only settlements dated on or before it.
pub fn open_on(
    total: i64,
    base_total: i64,
    settlements: &[Settlement],
    date: NaiveDate,
) -> (i64, i64) {
    settlements
        .iter()
        .filter(|settlement| settlement.date <= date)
        .fold((total, base_total), |(open, base), settlement| {
            (open - settlement.amount, base - settlement.base_amount)
        })
}

/// The unrealised difference of a document's open part: `open` (document currency) is worth
/// `revalued` base minor units at `rate`, against `carrying` booked. A receivable (an invoice,
/// a debit balance) worth more is a gain; a credit note or a bill (a credit balance) worth
/// more is a loss. None when there is no difference.
pub fn unrealised_difference(
    kind: DocumentKind,
    open: Money,
    carrying: i64,
    rate: ExchangeRate,
    base: Currency,
) -> Result<(i64, Option<RealisedDifference>), FinanceViolation> {
    let revalued = rate.convert(open, base)?.minor();
    // The side of the document's balance decides the sign, whichever control account it is on.
    let balance = match kind {
        DocumentKind::Invoice => ControlLedger::Receivables,
        DocumentKind::CreditNote | DocumentKind::Bill => ControlLedger::Payables,
    };
    Ok((revalued, realised_difference(balance, revalued, carrying)))
}

/// The unrealised difference of a foreign-currency balance as the ledger holds it, signed:
/// positive a debit balance (money in a bank account, a prepayment made to a vendor), negative
/// a credit one (an overdraft, a customer's payment on account). `carrying` is its booked base
/// amount, signed the same way. Worth more on the debit side is a gain, booked by a debit on
/// the balance's account; worth more on the credit side a loss, booked by a credit. Returns
/// the revalued base amount (signed) and the difference, None when there is none.
pub fn balance_difference(
    balance: Money,
    carrying: i64,
    rate: ExchangeRate,
    base: Currency,
) -> Result<(i64, Option<RealisedDifference>), FinanceViolation> {
    let revalued = rate.convert(balance, base)?.minor();
    let difference = revalued
        .checked_sub(carrying)
        .ok_or(FinanceViolation::AmountOutOfRange)?;
    let booked = (difference != 0).then(|| RealisedDifference {
        control_side: if difference > 0 {
            Side::Debit
        } else {
            Side::Credit
        },
        gain: difference > 0,
        amount: difference.abs(),
    });
    Ok((revalued, booked))
}

/// The day a revaluation at `date` is reversed: the first day of the period after the one
/// holding `date` (periods are the fiscal year's months). NO_FISCAL_YEAR when no year holds
/// `date`.
pub fn reversal_day(years: &[FiscalYear], date: NaiveDate) -> Result<NaiveDate, FinanceViolation> {
    let year = years
        .iter()
        .find(|year| year.contains(date))
        .ok_or(FinanceViolation::NoFiscalYear(date))?;
    year.periods()
        .into_iter()
        .find(|(start, end)| *start <= date && date <= *end)
        .and_then(|(_, end)| end.succ_opt())
        .ok_or(FinanceViolation::NoFiscalYear(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn the_open_part_on_a_day_counts_only_settlements_dated_by_then() {
        // 1000.00 USD booked at 1.1 = 1100.00 EUR; 400.00 paid on the 20th (440.00 cleared),
        // 100.00 on the 5th of the next month.
        let settlements = [
            Settlement {
                date: day(2026, 3, 20),
                amount: 40_000,
                base_amount: 44_000,
            },
            Settlement {
                date: day(2026, 4, 5),
                amount: 10_000,
                base_amount: 11_000,
            },
        ];
        assert_eq!(
            open_on(100_000, 110_000, &settlements, day(2026, 3, 19)),
            (100_000, 110_000)
        );
        assert_eq!(
            open_on(100_000, 110_000, &settlements, day(2026, 3, 31)),
            (60_000, 66_000)
        );
        assert_eq!(
            open_on(100_000, 110_000, &settlements, day(2026, 4, 30)),
            (50_000, 55_000)
        );
    }

    #[test]
    fn a_receivable_worth_more_is_a_gain_a_payable_worth_more_a_loss() {
        let (usd, eur) = (currency("USD"), currency("EUR"));
        // 600.00 USD open, booked 660.00 EUR; at 1.2345 it is worth 740.70 EUR.
        let rate = ExchangeRate::parse(usd, "1.2345").unwrap();
        let open = Money::from_minor(60_000, usd).unwrap();
        let (revalued, invoice) =
            unrealised_difference(DocumentKind::Invoice, open, 66_000, rate, eur).unwrap();
        assert_eq!(revalued, 74_070);
        assert_eq!(
            invoice,
            Some(RealisedDifference {
                control_side: Side::Debit,
                gain: true,
                amount: 8_070
            })
        );
        let (_, bill) = unrealised_difference(DocumentKind::Bill, open, 66_000, rate, eur).unwrap();
        assert_eq!(
            bill,
            Some(RealisedDifference {
                control_side: Side::Credit,
                gain: false,
                amount: 8_070
            })
        );
        // The rate fell: 0.9 -> 540.00; an open credit note (owed to the customer) gains.
        let lower = ExchangeRate::parse(usd, "0.9").unwrap();
        let (_, credit) =
            unrealised_difference(DocumentKind::CreditNote, open, 66_000, lower, eur).unwrap();
        assert_eq!(
            credit,
            Some(RealisedDifference {
                control_side: Side::Debit,
                gain: true,
                amount: 12_000
            })
        );
        // JPY into EUR with commercial rounding: 12345 JPY at 0.0061 = 75.3045 -> 75.30.
        let yen = Money::from_minor(12_345, currency("JPY")).unwrap();
        let jpy = ExchangeRate::parse(currency("JPY"), "0.0061").unwrap();
        let (revalued, none) =
            unrealised_difference(DocumentKind::Invoice, yen, 7_530, jpy, eur).unwrap();
        assert_eq!((revalued, none), (7_530, None));
    }

    #[test]
    fn a_balance_worth_more_on_its_debit_side_is_a_gain_on_its_credit_side_a_loss() {
        let (usd, eur) = (currency("USD"), currency("EUR"));
        let at = |text| ExchangeRate::parse(usd, text).unwrap();
        let usd_money = |minor| Money::from_minor(minor, usd).unwrap();
        // 1000.00 USD in a bank account carried at 900.00 EUR; at 0.95 worth 950.00: a gain.
        assert_eq!(
            balance_difference(usd_money(100_000), 90_000, at("0.95"), eur).unwrap(),
            (
                95_000,
                Some(RealisedDifference {
                    control_side: Side::Debit,
                    gain: true,
                    amount: 5_000
                })
            )
        );
        // A customer's 300.00 USD on account (a credit balance) carried at 270.00 EUR; at
        // 0.95 owed back 285.00: a loss, credited to the control account.
        assert_eq!(
            balance_difference(usd_money(-30_000), -27_000, at("0.95"), eur).unwrap(),
            (
                -28_500,
                Some(RealisedDifference {
                    control_side: Side::Credit,
                    gain: false,
                    amount: 1_500
                })
            )
        );
        // The same documents agree with `unrealised_difference`: a bill is a credit balance.
        let open = usd_money(60_000);
        let rate = at("1.2345");
        let (_, bill) = unrealised_difference(DocumentKind::Bill, open, 66_000, rate, eur).unwrap();
        let (_, balance) = balance_difference(usd_money(-60_000), -66_000, rate, eur).unwrap();
        assert_eq!(bill, balance);
        // KWD (three decimals) rounded half away from zero: 1.235 KWD at 3.25 = 4.01375 USD
        // -> 4.01; an overdraft of 1.234 KWD = -4.0105 -> -4.01, carried at -4.00, loses 0.01.
        let kwd = ExchangeRate::parse(currency("KWD"), "3.25").unwrap();
        let dinars = |minor| Money::from_minor(minor, currency("KWD")).unwrap();
        assert_eq!(
            balance_difference(dinars(1_235), 401, kwd, usd).unwrap().0,
            401
        );
        assert_eq!(
            balance_difference(dinars(-1_234), -400, kwd, usd).unwrap(),
            (
                -401,
                Some(RealisedDifference {
                    control_side: Side::Credit,
                    gain: false,
                    amount: 1
                })
            )
        );
        // No difference, no line.
        assert_eq!(
            balance_difference(usd_money(100_000), 95_000, at("0.95"), eur).unwrap(),
            (95_000, None)
        );
    }

    #[test]
    fn the_reversal_falls_on_the_first_day_of_the_next_period() {
        let years = vec![
            FiscalYear {
                id: "a".into(),
                name: "2026-27".into(),
                starts_on: day(2026, 4, 1),
                ends_on: day(2027, 3, 31),
            },
            FiscalYear {
                id: "b".into(),
                name: "2027-28".into(),
                starts_on: day(2027, 4, 1),
                ends_on: day(2028, 3, 31),
            },
        ];
        assert_eq!(reversal_day(&years, day(2026, 4, 30)), Ok(day(2026, 5, 1)));
        assert_eq!(reversal_day(&years, day(2026, 6, 15)), Ok(day(2026, 7, 1)));
        assert_eq!(reversal_day(&years, day(2027, 2, 28)), Ok(day(2027, 3, 1)));
        assert_eq!(reversal_day(&years, day(2027, 3, 31)), Ok(day(2027, 4, 1)));
        assert_eq!(
            reversal_day(&years, day(2026, 3, 31)),
            Err(FinanceViolation::NoFiscalYear(day(2026, 3, 31)))
        );
    }
}
