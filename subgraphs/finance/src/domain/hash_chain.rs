//! The optional per-journal hash chain (invariant F15, the inalterability proof French and
//! German law ask for): `hash_n = SHA-256(hash_{n-1} ‖ canonical(entry_n))`, so changing,
//! removing or re-ordering any posted entry breaks every later link.

use chrono::NaiveDate;

use super::ledger::{PostedLine, Side};

/// What is hashed of an entry: what an auditor must be able to trust.
#[derive(Debug, Clone)]
pub struct ChainedEntry<'a> {
    pub reference: &'a str,
    pub date: NaiveDate,
    pub journal_code: &'a str,
    pub currency: &'a str,
    pub lines: &'a [PostedLine],
}

/// The canonical text of an entry: one field per line, fixed order, no locale.
pub fn canonical(entry: &ChainedEntry<'_>) -> String {
    let mut text = format!(
        "{}\n{}\n{}\n{}\n",
        entry.journal_code, entry.reference, entry.date, entry.currency
    );
    for line in entry.lines {
        let side = match line.side {
            Side::Debit => "D",
            Side::Credit => "C",
        };
        let party = line
            .party
            .as_ref()
            .map(|party| format!("{}:{}", party.kind(), party.id()))
            .unwrap_or_default();
        text.push_str(&format!(
            "{}|{side}|{}|{}|{party}\n",
            line.account_id,
            line.amount.minor(),
            line.base_minor
        ));
    }
    text
}

/// The link after `previous` (empty for the first entry of a journal), lower-case hex.
pub fn link(previous: &str, canonical: &str) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    context.update(previous.as_bytes());
    context.update(b"\n");
    context.update(canonical.as_bytes());
    hex::encode(context.finish())
}

/// The first link that does not verify, by position (0-based), or None when the chain holds.
/// `links` are (stored previous hash, stored hash, recomputed canonical text), in chain order,
/// continuing a chain whose last verified hash is `previous` (empty at the genesis).
pub fn first_broken_link(previous: &str, links: &[(String, String, String)]) -> Option<usize> {
    let mut expected_previous = previous.to_owned();
    for (index, (previous, hash, canonical)) in links.iter().enumerate() {
        if *previous != expected_previous || link(previous, canonical) != *hash {
            return Some(index);
        }
        expected_previous = hash.clone();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ledger::Dimensions;
    use crate::domain::money::{Currency, Money};

    fn line(account: &str, side: Side, minor: i64) -> PostedLine {
        PostedLine {
            account_id: account.into(),
            side,
            amount: Money::from_minor(minor, Currency::parse("EUR").unwrap()).unwrap(),
            base_minor: minor,
            party: None,
            dimensions: Dimensions::default(),
            label: None,
        }
    }

    fn chain(amounts: &[i64]) -> Vec<(String, String, String)> {
        let mut previous = String::new();
        amounts
            .iter()
            .enumerate()
            .map(|(n, amount)| {
                let lines = [
                    line("a", Side::Debit, *amount),
                    line("b", Side::Credit, *amount),
                ];
                let reference = format!("GEN/2026/{n:05}");
                let text = canonical(&ChainedEntry {
                    reference: &reference,
                    date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                    journal_code: "GEN",
                    currency: "EUR",
                    lines: &lines,
                });
                let hash = link(&previous, &text);
                let row = (previous.clone(), hash.clone(), text);
                previous = hash;
                row
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies_and_any_tampering_is_found() {
        let links = chain(&[100, 200, 300]);
        assert_eq!(first_broken_link("", &links), None);
        assert_eq!(links[0].1.len(), 64);

        let mut tampered = links.clone();
        tampered[1].2 = tampered[1].2.replace("|200|", "|201|");
        assert_eq!(first_broken_link("", &tampered), Some(1));

        let mut removed = links.clone();
        removed.remove(1);
        assert_eq!(first_broken_link("", &removed), Some(1));
        // A later batch continues from the last verified hash.
        assert_eq!(first_broken_link(&links[0].1, &links[1..]), None);
        assert_eq!(first_broken_link("", &links[1..]), Some(0));
    }
}
