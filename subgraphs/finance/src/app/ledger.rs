//! Posting into the ledger, the only write path into it (invariant F1): manual journal entries,
//! reversals, and [`Finance::post_lines`], which every document (invoice, credit note, bill,
//! payment, expense) posts through. Numbers are assigned inside the posting transaction (F6),
//! the hash chain advanced with them (F15), base amounts computed once and stored (F4).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use erp_kit::{ApiError, ApiResult};
use serde::Serialize;

use super::{new_id, today, unique_as, Actor, Finance, Outcome};
use crate::domain::fx::ExchangeRate;
use crate::domain::hash_chain::{canonical, link, ChainedEntry};
use crate::domain::ledger::{
    balance_deltas, balance_entry, check_accounts, entry_reference, reversal_lines, AccountFacts,
    AccountKind, AccountRole, BalancedEntry, Conversion, Dimensions, Party, PostedLine,
    ProposedLine, Side,
};
use crate::domain::money::{Currency, Money};
use crate::domain::period::{open_year_for, reversal_date, FiscalYear};
use crate::domain::{parse_optional_text, FinanceViolation};
use crate::events;
use crate::store::entities::{entry, entry_line, journal, settings};
use crate::store::ledger as ledger_store;

/// A party on a line, as requested.
#[derive(Debug, Clone, Serialize)]
pub struct PartyRequest {
    /// `customer`, `vendor` or `employee`.
    pub kind: String,
    pub id: String,
}

/// One line of a manual entry: amounts as decimal strings of the entry's currency.
#[derive(Debug, Clone, Serialize)]
pub struct EntryLineRequest {
    pub account_id: String,
    pub debit: Option<String>,
    pub credit: Option<String>,
    pub party: Option<PartyRequest>,
    pub project_id: Option<String>,
    pub department_id: Option<String>,
    pub client_id: Option<String>,
    pub label: Option<String>,
}

/// A manual journal entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryRequest {
    pub journal_id: String,
    pub date: NaiveDate,
    pub memo: Option<String>,
    pub currency: String,
    pub lines: Vec<EntryLineRequest>,
}

/// A reversal of a posted entry.
#[derive(Debug, Clone, Serialize)]
pub struct ReverseRequest {
    pub entry_id: String,
    /// Defaults to today: the reversal posts in the open period, whatever the original's date.
    pub date: Option<NaiveDate>,
    pub memo: Option<String>,
}

/// How a set of lines is posted.
#[derive(Debug, Clone)]
pub(crate) struct Posting {
    pub journal_id: String,
    pub date: NaiveDate,
    pub memo: Option<String>,
    /// `manual`, `reversal`, `invoice`, `credit_note`, `bill`, `payment`, `expense`, ...
    pub source_kind: &'static str,
    pub source_id: Option<String>,
    pub reverses_id: Option<String>,
    /// Whether the lines may move control accounts (only their subledger's documents may).
    pub allow_control: bool,
}

/// Payload of `journal.posted` (schema version 1).
#[derive(Debug, Serialize)]
pub struct JournalPosted<'a> {
    pub entry_id: &'a str,
    pub reference: &'a str,
    pub journal_id: &'a str,
    pub date: NaiveDate,
    pub currency: &'a str,
    /// Total debits in base-currency minor units.
    pub total_base: i64,
    pub base_currency: &'a str,
    pub line_count: i32,
    pub source_kind: &'a str,
    pub source_id: Option<&'a str>,
    pub reverses_id: Option<&'a str>,
}

impl Finance {
    /// Posts a manual journal entry (`finance:write`). Manual entries never move control
    /// accounts (CONTROL_ACCOUNT_RESERVED): receivables and payables move only through their
    /// documents, so the subledgers always equal them.
    pub async fn post_journal_entry(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: EntryRequest,
    ) -> ApiResult<Outcome> {
        let currency = Currency::parse(&request.currency)?;
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let lines = request
            .lines
            .iter()
            .map(|line| proposed_line(line, currency))
            .collect::<ApiResult<Vec<_>>>()?;
        let posting = Posting {
            journal_id: request.journal_id.clone(),
            date: request.date,
            memo,
            source_kind: "manual",
            source_id: None,
            reverses_id: None,
            allow_control: false,
        };
        self.idempotent(
            &actor.tenant,
            idempotency_key,
            "postJournalEntry",
            &request,
            async |txn| {
                let entry = self.post_lines(txn, actor, posting, lines).await?;
                Ok(entry.id)
            },
        )
        .await
    }

    /// Reverses a posted entry with a new entry that swaps every line and links the original,
    /// dated today (or the given open date): a correction never edits, and never lands in a
    /// locked period (the ERPNext #28678 failure mode).
    pub async fn reverse_journal_entry(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        request: ReverseRequest,
    ) -> ApiResult<Outcome> {
        let memo = parse_optional_text("memo", request.memo.as_deref())?;
        let tenant = actor.tenant.clone();
        self.idempotent(
            &tenant,
            idempotency_key,
            "reverseJournalEntry",
            &request,
            async |txn| {
                let reversal = self
                    .reverse_entry_in(txn, actor, &request.entry_id, request.date, memo.clone())
                    .await?;
                Ok(reversal.id)
            },
        )
        .await
    }

    /// Reverses a posted entry inside the caller's transaction (a manual reversal, or a
    /// cancelled payroll run's): ALREADY_REVERSED the second time, never a reversal of a
    /// reversal, dated today or the given open date.
    pub(crate) async fn reverse_entry_in<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        entry_id: &str,
        date: Option<NaiveDate>,
        memo: Option<String>,
    ) -> ApiResult<entry::Model> {
        let tenant = &actor.tenant;
        let settings = self.require_set_up(txn, tenant).await?;
        let original = ledger_store::entry(txn, tenant, entry_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("journal entry".into()))?;
        if original.reverses_id.is_some() {
            return Err(FinanceViolation::ReversalOfReversal.into());
        }
        if ledger_store::reversal_of(txn, tenant, &original.id)
            .await?
            .is_some()
        {
            return Err(FinanceViolation::AlreadyReversed.into());
        }
        let rows = ledger_store::lines_of(txn, tenant, vec![original.id.clone()]).await?;
        let currency = Currency::parse(&original.currency)?;
        let lines = rows
            .iter()
            .map(|row| posted_line(row, currency))
            .collect::<ApiResult<Vec<_>>>()?;
        let balanced = BalancedEntry {
            currency,
            rate: original
                .rate_nano
                .map(|nano| ExchangeRate::from_nano(currency, nano)),
            lines: reversal_lines(&lines),
        };
        let posting = Posting {
            journal_id: original.journal_id.clone(),
            date: reversal_date(date, today()),
            memo: memo.or_else(|| Some(format!("Reversal of {}", original.reference))),
            source_kind: "reversal",
            source_id: Some(original.id.clone()),
            reverses_id: Some(original.id.clone()),
            allow_control: false,
        };
        self.write_posting(txn, actor, &settings, posting, balanced)
            .await
    }

    /// Balances `lines` (computing base amounts at the rate of the posting date when they are
    /// in a foreign currency) and writes them as one posted entry.
    pub(crate) async fn post_lines<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        posting: Posting,
        lines: Vec<ProposedLine>,
    ) -> ApiResult<entry::Model> {
        let settings = self.require_set_up(txn, &actor.tenant).await?;
        let years = self.fiscal_years_in(txn, &actor.tenant).await?;
        self.post_lines_read(txn, actor, (&settings, &years), posting, lines)
            .await
    }

    /// [`Finance::post_lines`] with the settings and fiscal years the caller read already in
    /// its transaction (a document posting reads them before taking its number: the fewer
    /// statements run while a number is held, the more postings a second).
    pub(crate) async fn post_lines_read<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        (settings, years): (&settings::Model, &[FiscalYear]),
        posting: Posting,
        lines: Vec<ProposedLine>,
    ) -> ApiResult<entry::Model> {
        let base = Currency::parse(&settings.base_currency)?;
        let currency = lines
            .iter()
            .find_map(|line| line.debit.or(line.credit))
            .map(|amount| amount.currency())
            .unwrap_or(base);
        let conversion = if currency == base {
            None
        } else {
            let rate = ledger_store::rate_on(txn, &actor.tenant, currency.code(), posting.date)
                .await?
                .ok_or(FinanceViolation::NoExchangeRate {
                    currency: currency.code(),
                    date: posting.date,
                })?;
            Some(Conversion {
                rate: ExchangeRate::from_nano(currency, rate.rate_nano),
                base,
                rounding_account_id: settings.rounding_account_id.clone(),
            })
        };
        let balanced = balance_entry(lines, base, conversion.as_ref())?;
        self.write_posting_read(txn, actor, (settings, years), posting, balanced)
            .await
    }

    /// Writes a balanced entry: period and account checks, the number, the hash chain link,
    /// lines then header, balance snapshots, and the `journal.posted` event.
    pub(crate) async fn write_posting<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        settings: &settings::Model,
        posting: Posting,
        balanced: BalancedEntry,
    ) -> ApiResult<entry::Model> {
        let years = self.fiscal_years_in(txn, &actor.tenant).await?;
        self.write_posting_read(txn, actor, (settings, &years), posting, balanced)
            .await
    }

    /// [`Finance::write_posting`] with the fiscal years read already.
    async fn write_posting_read<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        actor: &Actor,
        (settings, years): (&settings::Model, &[FiscalYear]),
        posting: Posting,
        balanced: BalancedEntry,
    ) -> ApiResult<entry::Model> {
        let tenant = &actor.tenant;
        let year = open_year_for(years, settings.lock_date, posting.date)?;
        let journal = ledger_store::journal(txn, tenant, &posting.journal_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("journal".into()))?;
        let accounts = self
            .account_facts(
                txn,
                tenant,
                balanced
                    .lines
                    .iter()
                    .map(|l| l.account_id.clone())
                    .collect(),
            )
            .await?;
        check_accounts(&balanced.lines, &accounts, posting.allow_control)?;

        let number = ledger_store::next_number(txn, tenant, &journal.id, &year.id).await?;
        let reference = entry_reference(&journal.code, &year.name, number);
        let chain = if journal.hash_chain {
            let (index, previous) = ledger_store::advance_chain(txn, tenant, &journal.id).await?;
            let hash = chain_hash(&previous, &reference, &journal, posting.date, &balanced);
            Some((index, previous, hash))
        } else {
            None
        };
        let (header, line_rows) = entry_rows(
            actor,
            &journal,
            year,
            (number, reference),
            chain.clone(),
            posting,
            &balanced,
        );
        let deltas = balance_deltas(header.entry_date, &balanced.lines);
        let reversing = header.reverses_id.is_some();
        ledger_store::insert_entry(txn, header.clone(), line_rows, &deltas, tenant)
            .await
            .map_err(|err| {
                // Two reversals of one entry racing: the unique index lets one through.
                if reversing {
                    unique_as(err, FinanceViolation::AlreadyReversed)
                } else {
                    err.into()
                }
            })?;
        if let Some((_, _, hash)) = &chain {
            ledger_store::set_chain_head(txn, tenant, &journal.id, hash).await?;
        }
        self.enqueue(
            txn,
            actor,
            events::JOURNAL_POSTED,
            &header.id,
            journal_posted(&header, &settings.base_currency),
        )
        .await?;
        Ok(header)
    }

    /// The facts of the tenant's accounts among `ids` (unknown ids are absent).
    pub(crate) async fn account_facts<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &erp_kit::TenantId,
        mut ids: Vec<String>,
    ) -> ApiResult<BTreeMap<String, AccountFacts>> {
        ids.sort();
        ids.dedup();
        let rows = ledger_store::accounts_by_ids(conn, tenant, ids).await?;
        let mut facts = BTreeMap::new();
        for row in rows {
            let kind = AccountKind::from_stored(&row.kind)
                .ok_or_else(|| ApiError::internal(format!("account kind {}", row.kind)))?;
            let role = AccountRole::from_stored(&row.role)
                .ok_or_else(|| ApiError::internal(format!("account role {}", row.role)))?;
            facts.insert(
                row.id.clone(),
                AccountFacts {
                    id: row.id,
                    code: row.code,
                    kind,
                    role,
                },
            );
        }
        Ok(facts)
    }
}

/// Parses a requested line: amounts in the entry's currency, the party, the dimensions.
fn proposed_line(line: &EntryLineRequest, currency: Currency) -> ApiResult<ProposedLine> {
    let amount = |text: &Option<String>| -> ApiResult<Option<Money>> {
        text.as_deref()
            .map(|text| Money::parse(text, currency))
            .transpose()
            .map_err(ApiError::from)
    };
    let party = match &line.party {
        None => None,
        Some(party) => Some(
            Party::from_stored(Some(party.kind.as_str()), Some(party.id.as_str())).ok_or_else(
                || ApiError::bad_input("party.kind", "a party is a customer, vendor or employee"),
            )?,
        ),
    };
    Ok(ProposedLine {
        account_id: line.account_id.clone(),
        debit: amount(&line.debit)?,
        credit: amount(&line.credit)?,
        party,
        dimensions: Dimensions {
            project_id: line.project_id.clone(),
            department_id: line.department_id.clone(),
            client_id: line.client_id.clone(),
        },
        label: parse_optional_text("label", line.label.as_deref())?,
    })
}

/// A stored line as the domain sees it.
pub(crate) fn posted_line(row: &entry_line::Model, currency: Currency) -> ApiResult<PostedLine> {
    let (side, base_minor) = if row.debit > 0 {
        (Side::Debit, row.debit)
    } else {
        (Side::Credit, row.credit)
    };
    Ok(PostedLine {
        account_id: row.account_id.clone(),
        side,
        amount: Money::from_minor(row.amount, currency)?,
        base_minor,
        party: Party::from_stored(row.party_kind.as_deref(), row.party_id.as_deref()),
        dimensions: Dimensions {
            project_id: row.project_id.clone(),
            department_id: row.department_id.clone(),
            client_id: row.client_id.clone(),
        },
        label: row.label.clone(),
    })
}

/// The link of an entry in its journal's hash chain: SHA-256 over the previous link and the
/// entry's canonical text (F15).
pub(crate) fn chain_hash(
    previous: &str,
    reference: &str,
    journal: &journal::Model,
    date: NaiveDate,
    balanced: &BalancedEntry,
) -> String {
    let text = canonical(&ChainedEntry {
        reference,
        date,
        journal_code: &journal.code,
        currency: balanced.currency.code(),
        lines: &balanced.lines,
    });
    link(previous, &text)
}

/// The rows of a posted entry: its header (numbered `number` as `reference` in `year`, its
/// chain link `(index, previous, hash)` if the journal is chained) and its lines.
pub(crate) fn entry_rows(
    actor: &Actor,
    journal: &journal::Model,
    year: &FiscalYear,
    (number, reference): (i64, String),
    chain: Option<(i64, String, String)>,
    posting: Posting,
    balanced: &BalancedEntry,
) -> (entry::Model, Vec<entry_line::Model>) {
    let tenant = &actor.tenant;
    let id = new_id();
    let line_rows: Vec<entry_line::Model> = balanced
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| entry_line::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            entry_id: id.clone(),
            line_no: index as i32 + 1,
            journal_id: journal.id.clone(),
            entry_date: posting.date,
            account_id: line.account_id.clone(),
            debit: line.base_debit(),
            credit: line.base_credit(),
            currency: balanced.currency.code().to_owned(),
            amount: line.amount.minor(),
            party_kind: line.party.as_ref().map(|p| p.kind().to_owned()),
            party_id: line.party.as_ref().map(|p| p.id().to_owned()),
            project_id: line.dimensions.project_id.clone(),
            department_id: line.dimensions.department_id.clone(),
            client_id: line.dimensions.client_id.clone(),
            label: line.label.clone(),
        })
        .collect();
    let (chain_index, prev_hash, hash) = match chain {
        Some((index, previous, hash)) => (Some(index), Some(previous), Some(hash)),
        None => (None, None, None),
    };
    let header = entry::Model {
        id,
        tenant_id: tenant.as_str().to_owned(),
        journal_id: journal.id.clone(),
        fiscal_year_id: year.id.clone(),
        number,
        reference,
        entry_date: posting.date,
        memo: posting.memo,
        currency: balanced.currency.code().to_owned(),
        rate_nano: balanced.rate.map(|rate| rate.nano()),
        total_base: balanced.total_base_debit(),
        line_count: line_rows.len() as i32,
        reverses_id: posting.reverses_id,
        source_kind: posting.source_kind.to_owned(),
        source_id: posting.source_id,
        chain_index,
        prev_hash,
        hash,
        posted_by: actor.user_id.clone(),
        posted_at: chrono::Utc::now(),
    };
    (header, line_rows)
}

/// The `journal.posted` payload of a posted entry.
pub(crate) fn journal_posted<'a>(
    header: &'a entry::Model,
    base_currency: &'a str,
) -> JournalPosted<'a> {
    JournalPosted {
        entry_id: &header.id,
        reference: &header.reference,
        journal_id: &header.journal_id,
        date: header.entry_date,
        currency: &header.currency,
        total_base: header.total_base,
        base_currency,
        line_count: header.line_count,
        source_kind: &header.source_kind,
        source_id: header.source_id.as_deref(),
        reverses_id: header.reverses_id.as_deref(),
    }
}
