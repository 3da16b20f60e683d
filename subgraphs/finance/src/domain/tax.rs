//! Taxes on a document's lines (invariant F5): rates included in or excluded from the price,
//! rounded per line or globally as the company's policy says, and any residual between the
//! document's untaxed total and the sum of its rounded line subtotals sent to the rounding
//! account, within an allowance of one minor unit per line.
//!
//! Exact intermediate values are integers scaled by 10^9 (a quantity's thousandths times a
//! discount's parts per million), so nothing is rounded before the policy says so.

use super::money::{round_div, Currency, Money, Percent, Quantity, MILLI, PPM};
use super::FinanceViolation;

/// When taxes are rounded: the company's policy (Odoo's `tax_calculation_rounding_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaxRounding {
    /// Each line's tax is rounded, then summed.
    PerLine,
    /// Each tax's exact amount over the whole document is rounded once.
    Global,
}

impl TaxRounding {
    pub fn as_str(self) -> &'static str {
        match self {
            TaxRounding::PerLine => "per_line",
            TaxRounding::Global => "global",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "per_line" => Some(TaxRounding::PerLine),
            "global" => Some(TaxRounding::Global),
            _ => None,
        }
    }
}

/// A tax as a line applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxRate {
    pub id: String,
    pub rate: Percent,
    /// The price already contains the tax.
    pub included: bool,
}

/// A document line before tax.
#[derive(Debug, Clone)]
pub struct PricedLine {
    pub unit_price: Money,
    pub quantity: Quantity,
    pub discount: Percent,
    pub tax: Option<TaxRate>,
}

/// One tax's total on a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxTotal {
    pub tax_id: String,
    /// The untaxed base it applies to.
    pub base: i64,
    pub amount: i64,
}

/// A document's amounts, minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totals {
    /// Each line's untaxed subtotal, rounded (what its revenue or expense line posts).
    pub line_subtotals: Vec<i64>,
    /// Each line's tax, rounded per line (informative under global rounding).
    pub line_taxes: Vec<i64>,
    pub taxes: Vec<TaxTotal>,
    /// The document's untaxed total: `total - Σ taxes`.
    pub untaxed: i64,
    pub tax: i64,
    pub total: i64,
    /// `untaxed - Σ line_subtotals`: what the rounding account takes (0 under per-line
    /// rounding and for excluded taxes).
    pub rounding_residual: i64,
}

/// price × quantity × (1 − discount), exact, scaled by 10^9.
fn exact_subtotal(line: &PricedLine) -> i128 {
    i128::from(line.unit_price.minor())
        * i128::from(line.quantity.milli())
        * (PPM - i128::from(line.discount.ppm()))
}

const EXACT: i128 = MILLI * PPM;

/// Computes a document's totals under `rounding`. All lines must be in `currency`.
pub fn compute(
    currency: Currency,
    lines: &[PricedLine],
    rounding: TaxRounding,
) -> Result<Totals, FinanceViolation> {
    let mut line_subtotals = Vec::with_capacity(lines.len());
    let mut line_taxes = Vec::with_capacity(lines.len());
    // Per tax: (id, base of rounded subtotals, exact tax numerator, sum of per-line taxes).
    let mut per_tax: Vec<(String, i64, i128, i64)> = Vec::new();
    let mut gross_total: i128 = 0;
    for line in lines {
        if line.unit_price.currency() != currency {
            return Err(FinanceViolation::CurrencyMismatch {
                expected: currency.code(),
                found: line.unit_price.currency().code(),
            });
        }
        let exact = exact_subtotal(line);
        let rounded = round_div(exact, EXACT);
        let (subtotal, tax, exact_tax) = match &line.tax {
            None => (rounded, 0, 0),
            Some(tax) if !tax.included => {
                let rate = i128::from(tax.rate.ppm());
                (rounded, round_div(rounded * rate, PPM), exact * rate)
            }
            Some(tax) => {
                // `rounded` is the gross (tax-included) line amount.
                let rate = i128::from(tax.rate.ppm());
                let divisor = PPM + rate;
                let per_line_tax = round_div(rounded * rate, divisor);
                let subtotal = match rounding {
                    TaxRounding::PerLine => rounded - per_line_tax,
                    TaxRounding::Global => round_div(exact * PPM, EXACT * divisor),
                };
                (subtotal, per_line_tax, exact * rate)
            }
        };
        gross_total += match &line.tax {
            Some(tax) if tax.included => rounded,
            _ => subtotal,
        };
        line_subtotals.push(to_i64(subtotal)?);
        line_taxes.push(to_i64(tax)?);
        if let Some(rate) = &line.tax {
            // Exact taxes are summed per tax: one rate, so one denominator.
            match per_tax.iter_mut().find(|(id, ..)| *id == rate.id) {
                Some(entry) => {
                    entry.1 += to_i64(subtotal)?;
                    entry.2 += exact_tax;
                    entry.3 += to_i64(tax)?;
                }
                None => per_tax.push((rate.id.clone(), to_i64(subtotal)?, exact_tax, to_i64(tax)?)),
            }
        }
    }
    let mut taxes = Vec::with_capacity(per_tax.len());
    for (tax_id, base, exact, rounded_sum) in per_tax {
        let amount = match rounding {
            TaxRounding::PerLine => rounded_sum,
            TaxRounding::Global => {
                let rate = lines
                    .iter()
                    .filter_map(|line| line.tax.as_ref())
                    .find(|tax| tax.id == tax_id);
                let denominator = match rate {
                    Some(tax) if tax.included => EXACT * (PPM + i128::from(tax.rate.ppm())),
                    _ => EXACT * PPM,
                };
                to_i64(round_div(exact, denominator))?
            }
        };
        taxes.push(TaxTotal {
            tax_id,
            base,
            amount,
        });
    }
    let tax: i64 = taxes.iter().map(|t| t.amount).sum();
    let subtotal_sum: i64 = line_subtotals.iter().sum();
    // Excluded taxes add to the subtotals; included ones are inside the gross amounts.
    let included_gross: i128 = gross_total;
    let any_included = lines
        .iter()
        .any(|l| l.tax.as_ref().is_some_and(|t| t.included));
    let total = if any_included {
        // Gross of included lines plus subtotals of the others, plus the excluded taxes.
        let excluded_tax: i64 = taxes
            .iter()
            .filter(|t| {
                lines
                    .iter()
                    .filter_map(|l| l.tax.as_ref())
                    .any(|rate| rate.id == t.tax_id && !rate.included)
            })
            .map(|t| t.amount)
            .sum();
        to_i64(included_gross)? + excluded_tax
    } else {
        subtotal_sum + tax
    };
    let untaxed = total - tax;
    let rounding_residual = untaxed - subtotal_sum;
    let allowance = lines.len() as i64;
    if rounding_residual.abs() > allowance {
        return Err(FinanceViolation::RoundingResidualTooLarge {
            residual: rounding_residual,
            allowance,
        });
    }
    Ok(Totals {
        line_subtotals,
        line_taxes,
        taxes,
        untaxed,
        tax,
        total,
        rounding_residual,
    })
}

fn to_i64(value: i128) -> Result<i64, FinanceViolation> {
    let value = i64::try_from(value).map_err(|_| FinanceViolation::AmountOutOfRange)?;
    if value.unsigned_abs() > super::money::MAX_MINOR as u64 {
        return Err(FinanceViolation::AmountOutOfRange);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    fn line(
        price: &str,
        code: &str,
        qty: &str,
        discount: &str,
        tax: Option<(&str, &str, bool)>,
    ) -> PricedLine {
        PricedLine {
            unit_price: Money::parse(price, currency(code)).unwrap(),
            quantity: Quantity::parse(qty).unwrap(),
            discount: Percent::parse("discount", discount, 100).unwrap(),
            tax: tax.map(|(id, rate, included)| TaxRate {
                id: id.into(),
                rate: Percent::parse("rate", rate, 100).unwrap(),
                included,
            }),
        }
    }

    /// Odoo #37896: 348.35 x 16 with a 4 % discount and 22 % tax is 6527.80 rounding globally
    /// and 6527.81 rounding per line.
    #[test]
    fn golden_odoo_37896_global_vs_per_line() {
        let lines = [line(
            "348.35",
            "EUR",
            "16",
            "4",
            Some(("vat22", "22", false)),
        )];
        let global = compute(currency("EUR"), &lines, TaxRounding::Global).unwrap();
        assert_eq!(global.line_subtotals, vec![535_066]);
        assert_eq!(global.tax, 117_714);
        assert_eq!(global.total, 652_780);
        assert_eq!(global.rounding_residual, 0);
        let per_line = compute(currency("EUR"), &lines, TaxRounding::PerLine).unwrap();
        assert_eq!(per_line.tax, 117_715);
        assert_eq!(per_line.total, 652_781);
    }

    /// Odoo #155833-style: many small lines, global rounding taxes the exact sum once.
    #[test]
    fn many_small_lines_round_once_globally() {
        let lines: Vec<_> = (0..3)
            .map(|_| line("0.05", "EUR", "1", "0", Some(("vat", "10", false))))
            .collect();
        // Per line: 0.005 -> 0.01 each, 0.03; globally 0.015 -> 0.02.
        assert_eq!(
            compute(currency("EUR"), &lines, TaxRounding::PerLine)
                .unwrap()
                .tax,
            3
        );
        assert_eq!(
            compute(currency("EUR"), &lines, TaxRounding::Global)
                .unwrap()
                .tax,
            2
        );
    }

    /// Odoo #265433 (JPY, no decimals, tax included): the untaxed total differs from the sum of
    /// the rounded line subtotals; the residual goes to the rounding account and the document
    /// still balances.
    #[test]
    fn golden_jpy_included_tax_residual_goes_to_rounding() {
        let lines = [
            line("5", "JPY", "1", "0", Some(("ct10", "10", true))),
            line("5", "JPY", "1", "0", Some(("ct10", "10", true))),
        ];
        let global = compute(currency("JPY"), &lines, TaxRounding::Global).unwrap();
        assert_eq!(global.total, 10);
        assert_eq!(global.tax, 1);
        assert_eq!(global.untaxed, 9);
        assert_eq!(global.line_subtotals, vec![5, 5]);
        assert_eq!(global.rounding_residual, -1);
        // Receivable = subtotals + residual + tax: the entry balances.
        assert_eq!(
            global.total,
            global.line_subtotals.iter().sum::<i64>() + global.rounding_residual + global.tax
        );
        let per_line = compute(currency("JPY"), &lines, TaxRounding::PerLine).unwrap();
        assert_eq!(
            (per_line.total, per_line.tax, per_line.rounding_residual),
            (10, 0, 0)
        );
    }

    #[test]
    fn included_tax_per_line_splits_the_gross() {
        let lines = [line("121.00", "EUR", "1", "0", Some(("vat21", "21", true)))];
        let totals = compute(currency("EUR"), &lines, TaxRounding::PerLine).unwrap();
        assert_eq!(
            (totals.untaxed, totals.tax, totals.total),
            (10_000, 2_100, 12_100)
        );
    }

    #[test]
    fn kwd_three_decimals_and_untaxed_lines() {
        let lines = [
            line("1.005", "KWD", "3", "0", Some(("vat5", "5", false))),
            line("0.250", "KWD", "2", "10", None),
        ];
        let totals = compute(currency("KWD"), &lines, TaxRounding::PerLine).unwrap();
        // 3.015 + 0.151 tax (0.15075); 0.450 untaxed.
        assert_eq!(totals.line_subtotals, vec![3015, 450]);
        assert_eq!(totals.tax, 151);
        assert_eq!(totals.total, 3616);
    }

    #[test]
    fn a_line_in_another_currency_is_refused() {
        let lines = [line("1.00", "USD", "1", "0", None)];
        assert!(matches!(
            compute(currency("EUR"), &lines, TaxRounding::Global),
            Err(FinanceViolation::CurrencyMismatch { .. })
        ));
    }
}
