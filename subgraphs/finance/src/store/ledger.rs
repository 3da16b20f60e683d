//! The ledger's tenant-scoped reads and writes: settings, accounts, journals, fiscal years,
//! exchange rates, taxes, numbering, posted entries and lines, balance snapshots.
//!
//! Lock order inside a posting transaction (so that concurrent postings never deadlock): the
//! document or payment row (when a document posts), the numbering sequence row, the journal row
//! (hash chain), then balance rows in (account, month) order.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use sea_orm::sea_query::{Alias, Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

use erp_kit::db::insert_chunked;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{
    account, entry, entry_line, exchange_rate, fiscal_year, journal, settings, tax,
};

pub async fn settings<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Option<settings::Model>, DbErr> {
    settings::Entity::find_by_id(tenant.as_str().to_owned())
        .one(conn)
        .await
}

pub async fn insert_settings<C: ConnectionTrait>(
    conn: &C,
    row: settings::Model,
) -> Result<(), DbErr> {
    settings::Entity::insert(settings::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Sets the lock date (the caller checked it only moves forward).
pub async fn set_lock_date<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    lock_date: NaiveDate,
) -> Result<(), DbErr> {
    settings::Entity::update_many()
        .col_expr(settings::Column::LockDate, Expr::value(lock_date))
        .filter(settings::Column::TenantId.eq(tenant.as_str()))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn insert_account<C: ConnectionTrait>(
    conn: &C,
    row: account::Model,
) -> Result<(), DbErr> {
    account::Entity::insert(account::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn account<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(id.to_owned())
        .filter(account::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

/// The tenant's accounts among `ids` (another tenant's are simply not found).
pub async fn accounts_by_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<Vec<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant.as_str()))
        .filter(account::Column::Id.is_in(ids))
        .all(conn)
        .await
}

/// Every account of the tenant, by code (charts have hundreds, not millions).
pub async fn all_accounts<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(account::Column::Code)
        .all(conn)
        .await
}

/// A page of accounts in creation order, optionally of one kind.
pub async fn account_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    kind: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<account::Model>, DbErr> {
    let mut query = account::Entity::find().filter(account::Column::TenantId.eq(tenant.as_str()));
    if let Some(kind) = kind {
        query = query.filter(account::Column::Kind.eq(kind));
    }
    keyset_page(query, account::Column::Id, page)
        .all(conn)
        .await
}

pub async fn insert_journal<C: ConnectionTrait>(
    conn: &C,
    row: journal::Model,
) -> Result<(), DbErr> {
    journal::Entity::insert(journal::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn journal<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<journal::Model>, DbErr> {
    journal::Entity::find_by_id(id.to_owned())
        .filter(journal::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn journals<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<journal::Model>, DbErr> {
    journal::Entity::find()
        .filter(journal::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(journal::Column::Code)
        .all(conn)
        .await
}

pub async fn insert_fiscal_year<C: ConnectionTrait>(
    conn: &C,
    row: fiscal_year::Model,
) -> Result<(), DbErr> {
    fiscal_year::Entity::insert(fiscal_year::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn fiscal_years<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<fiscal_year::Model>, DbErr> {
    fiscal_year::Entity::find()
        .filter(fiscal_year::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(fiscal_year::Column::StartsOn)
        .all(conn)
        .await
}

/// Records a rate (a second rate for the same day replaces the first).
pub async fn upsert_rate<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    currency: &str,
    effective_on: NaiveDate,
    rate_nano: i64,
) -> Result<(), DbErr> {
    exchange_rate::Entity::insert(exchange_rate::ActiveModel::from(exchange_rate::Model {
        tenant_id: tenant.as_str().to_owned(),
        currency: currency.to_owned(),
        effective_on,
        rate_nano,
    }))
    .on_conflict(
        OnConflict::columns([
            exchange_rate::Column::TenantId,
            exchange_rate::Column::Currency,
            exchange_rate::Column::EffectiveOn,
        ])
        .update_column(exchange_rate::Column::RateNano)
        .to_owned(),
    )
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// The rate in force on `date` (the latest on or before it).
pub async fn rate_on<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    currency: &str,
    date: NaiveDate,
) -> Result<Option<exchange_rate::Model>, DbErr> {
    exchange_rate::Entity::find()
        .filter(exchange_rate::Column::TenantId.eq(tenant.as_str()))
        .filter(exchange_rate::Column::Currency.eq(currency))
        .filter(exchange_rate::Column::EffectiveOn.lte(date))
        .order_by_desc(exchange_rate::Column::EffectiveOn)
        .one(conn)
        .await
}

pub async fn rates<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    currency: Option<&str>,
) -> Result<Vec<exchange_rate::Model>, DbErr> {
    let mut query =
        exchange_rate::Entity::find().filter(exchange_rate::Column::TenantId.eq(tenant.as_str()));
    if let Some(currency) = currency {
        query = query.filter(exchange_rate::Column::Currency.eq(currency));
    }
    query
        .order_by_asc(exchange_rate::Column::Currency)
        .order_by_desc(exchange_rate::Column::EffectiveOn)
        .limit(1000)
        .all(conn)
        .await
}

pub async fn insert_tax<C: ConnectionTrait>(conn: &C, row: tax::Model) -> Result<(), DbErr> {
    tax::Entity::insert(tax::ActiveModel::from(row))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn taxes<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<Vec<tax::Model>, DbErr> {
    tax::Entity::find()
        .filter(tax::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(tax::Column::Code)
        .all(conn)
        .await
}

/// The next number of `series` in `fiscal_year`, assigned inside the caller's transaction: the
/// sequence row stays locked until it commits (PostgreSQL row lock; SQLite's one writer), so
/// numbers are gapless (a rollback returns the number) and never duplicated (invariant F6).
pub async fn next_number<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    series: &str,
    fiscal_year_id: &str,
) -> Result<i64, DbErr> {
    next_numbers(conn, tenant, series, fiscal_year_id, 1).await
}

/// The next `count` numbers of `series` in `fiscal_year_id` in one upsert (a batch of
/// postings numbered together, see `app::posting_queue`): the last of them is returned, the
/// batch's are `last - count + 1 ..= last`, under the same lock as [`next_number`].
pub async fn next_numbers<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    series: &str,
    fiscal_year_id: &str,
    count: i64,
) -> Result<i64, DbErr> {
    // One round trip (an upsert): the first number of a series creates its row, every later
    // one advances it. The row stays locked until the posting commits, so the statements
    // after this one are what every posting of the series queues behind.
    let backend = conn.get_database_backend();
    let table = Alias::new("finance_sequences");
    let last_number = Alias::new("last_number");
    let advance = Query::insert()
        .into_table(table.clone())
        .columns([
            Alias::new("tenant_id"),
            Alias::new("series"),
            Alias::new("fiscal_year_id"),
            last_number.clone(),
        ])
        .values([
            tenant.as_str().into(),
            series.into(),
            fiscal_year_id.into(),
            count.into(),
        ])
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .on_conflict(
            OnConflict::columns([
                Alias::new("tenant_id"),
                Alias::new("series"),
                Alias::new("fiscal_year_id"),
            ])
            .value(
                last_number.clone(),
                Expr::col((table, last_number.clone())).add(count),
            )
            .to_owned(),
        )
        .returning_col(last_number)
        .to_owned();
    let row = conn
        .query_one(backend.build(&advance))
        .await?
        .ok_or_else(|| DbErr::Custom("the numbering sequence vanished".into()))?;
    row.try_get::<i64>("", "last_number")
}

/// Takes the next link of a journal's hash chain: its index and the previous hash (locking the
/// journal row until commit); [`set_chain_head`] records the new hash.
pub async fn advance_chain<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    journal_id: &str,
) -> Result<(i64, String), DbErr> {
    advance_chain_by(conn, tenant, journal_id, 1).await
}

/// Takes the next `count` links of a journal's hash chain at once: the index of the last of
/// them (the batch's are `last - count + 1 ..= last`) and the hash the first links to.
pub async fn advance_chain_by<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    journal_id: &str,
    count: i64,
) -> Result<(i64, String), DbErr> {
    let backend = conn.get_database_backend();
    let advance = Query::update()
        .table(Alias::new("finance_journals"))
        .value(
            Alias::new("chain_length"),
            Expr::col(Alias::new("chain_length")).add(count),
        )
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("id")).eq(journal_id))
        .returning(
            Query::returning().columns([Alias::new("chain_length"), Alias::new("last_hash")]),
        )
        .to_owned();
    let row = conn
        .query_one(backend.build(&advance))
        .await?
        .ok_or_else(|| DbErr::Custom("the journal vanished".into()))?;
    Ok((
        row.try_get::<i64>("", "chain_length")?,
        row.try_get::<Option<String>>("", "last_hash")?
            .unwrap_or_default(),
    ))
}

pub async fn set_chain_head<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    journal_id: &str,
    hash: &str,
) -> Result<(), DbErr> {
    journal::Entity::update_many()
        .col_expr(journal::Column::LastHash, Expr::value(hash))
        .filter(journal::Column::TenantId.eq(tenant.as_str()))
        .filter(journal::Column::Id.eq(journal_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Rows per multi-row INSERT: under both backends' bound-parameter limits.
const INSERT_CHUNK: usize = 1000;

/// Writes a posted entry: its lines first, then its header, whose insert the database checks
/// against the lines (see the migration), then the balance snapshots.
pub async fn insert_entry<C: ConnectionTrait>(
    conn: &C,
    header: entry::Model,
    lines: Vec<entry_line::Model>,
    deltas: &BTreeMap<(String, NaiveDate), (i64, i64)>,
    tenant: &TenantId,
) -> Result<(), DbErr> {
    insert_entries(conn, vec![header], lines, deltas, tenant).await
}

/// [`insert_entry`] for several entries at once (a batch of postings): every entry's lines,
/// then the headers in one multi-row insert (each still checked against its lines), then the
/// balance snapshots the entries move together.
pub async fn insert_entries<C: ConnectionTrait>(
    conn: &C,
    headers: Vec<entry::Model>,
    lines: Vec<entry_line::Model>,
    deltas: &BTreeMap<(String, NaiveDate), (i64, i64)>,
    tenant: &TenantId,
) -> Result<(), DbErr> {
    insert_chunked(conn, entry_line::Entity, lines, INSERT_CHUNK, None).await?;
    insert_chunked(conn, entry::Entity, headers, INSERT_CHUNK / 10, None).await?;
    add_balances(conn, tenant, deltas).await
}

/// Adds to the monthly balance snapshots, in key order (the lock order).
async fn add_balances<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    deltas: &BTreeMap<(String, NaiveDate), (i64, i64)>,
) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    let rows: Vec<_> = deltas.iter().collect();
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(Alias::new("finance_balances")).columns([
            Alias::new("tenant_id"),
            Alias::new("account_id"),
            Alias::new("month"),
            Alias::new("debit"),
            Alias::new("credit"),
        ]);
        for ((account_id, month), (debit, credit)) in chunk {
            insert
                .values([
                    tenant.as_str().into(),
                    account_id.as_str().into(),
                    (*month).into(),
                    (*debit).into(),
                    (*credit).into(),
                ])
                .map_err(|e| DbErr::Custom(e.to_string()))?;
        }
        insert.on_conflict(
            OnConflict::columns([
                Alias::new("tenant_id"),
                Alias::new("account_id"),
                Alias::new("month"),
            ])
            .value(
                Alias::new("debit"),
                Expr::cust("finance_balances.debit + excluded.debit"),
            )
            .value(
                Alias::new("credit"),
                Expr::cust("finance_balances.credit + excluded.credit"),
            )
            .to_owned(),
        );
        conn.execute(backend.build(&insert)).await?;
    }
    Ok(())
}

pub async fn entry<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<entry::Model>, DbErr> {
    entry::Entity::find_by_id(id.to_owned())
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .one(conn)
        .await
}

pub async fn entries_by_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    ids: Vec<String>,
) -> Result<Vec<entry::Model>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .filter(entry::Column::Id.is_in(ids))
        .all(conn)
        .await
}

/// The reversal of an entry, if any (at most one: unique index).
pub async fn reversal_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<entry::Model>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .filter(entry::Column::ReversesId.eq(id))
        .one(conn)
        .await
}

/// The lines of entries, in entry and line order.
pub async fn lines_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    entry_ids: Vec<String>,
) -> Result<Vec<entry_line::Model>, DbErr> {
    entry_line::Entity::find()
        .filter(entry_line::Column::TenantId.eq(tenant.as_str()))
        .filter(entry_line::Column::EntryId.is_in(entry_ids))
        .order_by_asc(entry_line::Column::EntryId)
        .order_by_asc(entry_line::Column::LineNo)
        .all(conn)
        .await
}

/// Filters of the entry and line lists.
#[derive(Debug, Clone, Default)]
pub struct LedgerFilter {
    pub journal_id: Option<String>,
    pub account_id: Option<String>,
    pub party_id: Option<String>,
    pub project_id: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// A page of entries in posting order.
pub async fn entry_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    filter: &LedgerFilter,
    page: &PageRequest,
) -> Result<Vec<entry::Model>, DbErr> {
    let mut query = entry::Entity::find().filter(entry::Column::TenantId.eq(tenant.as_str()));
    if let Some(journal) = &filter.journal_id {
        query = query.filter(entry::Column::JournalId.eq(journal.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(entry::Column::EntryDate.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(entry::Column::EntryDate.lte(to));
    }
    keyset_page(query, entry::Column::Id, page).all(conn).await
}

/// A page of ledger lines in posting order (the general ledger).
pub async fn line_page<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    filter: &LedgerFilter,
    page: &PageRequest,
) -> Result<Vec<entry_line::Model>, DbErr> {
    let mut query =
        entry_line::Entity::find().filter(entry_line::Column::TenantId.eq(tenant.as_str()));
    if let Some(account) = &filter.account_id {
        query = query.filter(entry_line::Column::AccountId.eq(account.as_str()));
    }
    if let Some(journal) = &filter.journal_id {
        query = query.filter(entry_line::Column::JournalId.eq(journal.as_str()));
    }
    if let Some(party) = &filter.party_id {
        query = query.filter(entry_line::Column::PartyId.eq(party.as_str()));
    }
    if let Some(project) = &filter.project_id {
        query = query.filter(entry_line::Column::ProjectId.eq(project.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(entry_line::Column::EntryDate.gte(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(entry_line::Column::EntryDate.lte(to));
    }
    keyset_page(query, entry_line::Column::Id, page)
        .all(conn)
        .await
}

/// Debit and credit totals of an account (base minor units).
#[derive(Debug, Clone, Default, PartialEq, Eq, FromQueryResult)]
pub struct AccountTotal {
    pub account_id: String,
    pub debit: i64,
    pub credit: i64,
}

/// Per-account totals of the lines dated in `[from, to]` (`from` None: since the beginning),
/// read from the monthly snapshots for whole months and from the lines only for the partial
/// months at either end.
pub async fn account_totals<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    from: Option<NaiveDate>,
    to: NaiveDate,
) -> Result<BTreeMap<String, (i64, i64)>, DbErr> {
    use crate::domain::ledger::month_start;
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut add = |rows: Vec<AccountTotal>| {
        for row in rows {
            let total = totals.entry(row.account_id).or_default();
            total.0 += row.debit;
            total.1 += row.credit;
        }
    };
    let to_month = month_start(to);
    let to_is_month_end = to.succ_opt().is_some_and(|next| month_start(next) == next);
    // Whole months: from the first month starting on or after `from` to the last month ending
    // on or before `to` (both as first days of months).
    let whole_from = from.map(|from| {
        if from == month_start(from) {
            from
        } else {
            next_month(from)
        }
    });
    let whole_to = if to_is_month_end {
        to_month
    } else {
        previous_month(to_month)
    };
    let mut partial: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    if whole_from.is_none_or(|first| first <= whole_to) {
        add(snapshot_totals(conn, tenant, whole_from, whole_to).await?);
        if let (Some(from), Some(first)) = (from, whole_from) {
            if from < first {
                partial.push((from, first.pred_opt().unwrap_or(first)));
            }
        }
        if !to_is_month_end {
            partial.push((next_month(whole_to), to));
        }
    } else {
        partial.push((from.unwrap_or(FAR_PAST), to));
    }
    for (from, to) in partial {
        add(line_totals(conn, tenant, from, to).await?);
    }
    Ok(totals)
}

/// Bounds a database accepts (PostgreSQL refuses chrono's MIN and MAX dates).
const FAR_PAST: NaiveDate = match NaiveDate::from_ymd_opt(1, 1, 1) {
    Some(date) => date,
    None => NaiveDate::MIN,
};
const FAR_FUTURE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(date) => date,
    None => NaiveDate::MAX,
};

fn next_month(date: NaiveDate) -> NaiveDate {
    crate::domain::ledger::month_start(date)
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(FAR_FUTURE)
}

fn previous_month(month: NaiveDate) -> NaiveDate {
    month
        .checked_sub_months(chrono::Months::new(1))
        .unwrap_or(FAR_PAST)
}

async fn snapshot_totals<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    from_month: Option<NaiveDate>,
    to_month: NaiveDate,
) -> Result<Vec<AccountTotal>, DbErr> {
    let backend = conn.get_database_backend();
    let mut select = Query::select();
    select
        .column(Alias::new("account_id"))
        .expr_as(
            Expr::cust("CAST(SUM(debit) AS BIGINT)"),
            Alias::new("debit"),
        )
        .expr_as(
            Expr::cust("CAST(SUM(credit) AS BIGINT)"),
            Alias::new("credit"),
        )
        .from(Alias::new("finance_balances"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("month")).lte(to_month))
        .group_by_col(Alias::new("account_id"));
    if let Some(from) = from_month {
        select.and_where(Expr::col(Alias::new("month")).gte(from));
    }
    AccountTotal::find_by_statement(backend.build(&select))
        .all(conn)
        .await
}

async fn line_totals<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<AccountTotal>, DbErr> {
    let backend = conn.get_database_backend();
    let select = Query::select()
        .column(Alias::new("account_id"))
        .expr_as(
            Expr::cust("CAST(SUM(debit) AS BIGINT)"),
            Alias::new("debit"),
        )
        .expr_as(
            Expr::cust("CAST(SUM(credit) AS BIGINT)"),
            Alias::new("credit"),
        )
        .from(Alias::new("finance_entry_lines"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("entry_date")).gte(from))
        .and_where(Expr::col(Alias::new("entry_date")).lte(to))
        .group_by_col(Alias::new("account_id"))
        .to_owned();
    AccountTotal::find_by_statement(backend.build(&select))
        .all(conn)
        .await
}

/// Per-account totals straight from the lines (the check that snapshots = Σ lines, F10).
pub async fn account_totals_from_lines<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
) -> Result<BTreeMap<String, (i64, i64)>, DbErr> {
    let rows = line_totals(conn, tenant, FAR_PAST, FAR_FUTURE).await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.account_id, (row.debit, row.credit)))
        .collect())
}

/// Per-party balances of the lines on `account_id` (the subledger side of F9), debit positive.
pub async fn party_balances<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    account_id: &str,
) -> Result<BTreeMap<String, i64>, DbErr> {
    #[derive(FromQueryResult)]
    struct PartyTotal {
        party_id: Option<String>,
        balance: i64,
    }
    let backend = conn.get_database_backend();
    let select = Query::select()
        .column(Alias::new("party_id"))
        .expr_as(
            Expr::cust("CAST(SUM(debit) - SUM(credit) AS BIGINT)"),
            Alias::new("balance"),
        )
        .from(Alias::new("finance_entry_lines"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_str()))
        .and_where(Expr::col(Alias::new("account_id")).eq(account_id))
        .group_by_col(Alias::new("party_id"))
        .to_owned();
    Ok(PartyTotal::find_by_statement(backend.build(&select))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (row.party_id.unwrap_or_default(), row.balance))
        .collect())
}

/// The entries of a journal's hash chain in chain order, from `after_index` on, at most `limit`.
pub async fn chain_entries<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    journal_id: &str,
    after_index: i64,
    limit: u64,
) -> Result<Vec<entry::Model>, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .filter(entry::Column::JournalId.eq(journal_id))
        .filter(entry::Column::ChainIndex.gt(after_index))
        .order_by_asc(entry::Column::ChainIndex)
        .limit(limit)
        .all(conn)
        .await
}

/// How many entries a tenant has posted (tests and the benchmark's sanity checks).
pub async fn entry_count<C: ConnectionTrait>(conn: &C, tenant: &TenantId) -> Result<u64, DbErr> {
    entry::Entity::find()
        .filter(entry::Column::TenantId.eq(tenant.as_str()))
        .count(conn)
        .await
}

/// Runs a raw statement (the immutability tests' UPDATE of a posted row goes through here so
/// that they exercise the database's own guard, not the application's).
pub async fn execute_raw<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<(), DbErr> {
    conn.execute(Statement::from_string(
        conn.get_database_backend(),
        sql.to_owned(),
    ))
    .await?;
    Ok(())
}

/// Bank movements over `[from, to]` grouped by what posted them: (source kind, debits,
/// credits), base minor units.
pub async fn bank_movements<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    bank_accounts: Vec<String>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, i64, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Movement {
        source_kind: String,
        debit: i64,
        credit: i64,
    }
    let backend = conn.get_database_backend();
    let lines = Alias::new("l");
    let entries = Alias::new("e");
    let select = Query::select()
        .expr_as(
            Expr::col((entries.clone(), Alias::new("source_kind"))),
            Alias::new("source_kind"),
        )
        .expr_as(
            Expr::cust("CAST(SUM(l.debit) AS BIGINT)"),
            Alias::new("debit"),
        )
        .expr_as(
            Expr::cust("CAST(SUM(l.credit) AS BIGINT)"),
            Alias::new("credit"),
        )
        .from_as(Alias::new("finance_entry_lines"), lines.clone())
        .join_as(
            sea_orm::sea_query::JoinType::InnerJoin,
            Alias::new("finance_entries"),
            entries.clone(),
            Expr::col((entries.clone(), Alias::new("id")))
                .equals((lines.clone(), Alias::new("entry_id"))),
        )
        .and_where(Expr::col((lines.clone(), Alias::new("tenant_id"))).eq(tenant.as_str()))
        .and_where(Expr::col((lines.clone(), Alias::new("account_id"))).is_in(bank_accounts))
        .and_where(Expr::col((lines.clone(), Alias::new("entry_date"))).gte(from))
        .and_where(Expr::col((lines, Alias::new("entry_date"))).lte(to))
        .group_by_col((entries, Alias::new("source_kind")))
        .to_owned();
    Ok(Movement::find_by_statement(backend.build(&select))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| (m.source_kind, m.debit, m.credit))
        .collect())
}
