//! The ledger: settings, accounts, journals, fiscal years, numbering sequences, posted entries
//! and their lines, monthly balance snapshots, exchange rates, taxes and idempotency keys.
//!
//! Posted entries are immutable in the database itself (invariant F2): triggers refuse any
//! UPDATE or DELETE of `finance_entries` and `finance_entry_lines`. And no unbalanced entry can
//! be inserted even by hand (F1): an entry's lines are written first, its header last; the
//! header's insert checks that its lines balance and match its total, and a line for an entry
//! whose header exists is refused (a posted entry gains no line).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use super::{create, drop, index, table, Ty, NOT_NULL, NULL};

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &[&str] = &[
    "finance_settings",
    "finance_accounts",
    "finance_journals",
    "finance_fiscal_years",
    "finance_sequences",
    "finance_entries",
    "finance_entry_lines",
    "finance_balances",
    "finance_exchange_rates",
    "finance_taxes",
    "finance_idempotency",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Ty::*;
        let tables = vec![
            table(
                "finance_settings",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("base_currency", Text, NOT_NULL),
                    ("tax_rounding", Text, NOT_NULL),
                    ("lock_date", Date, NULL),
                    ("receivable_account_id", Text, NOT_NULL),
                    ("payable_account_id", Text, NOT_NULL),
                    ("employee_payable_account_id", Text, NOT_NULL),
                    ("rounding_account_id", Text, NOT_NULL),
                    ("default_bank_account_id", Text, NOT_NULL),
                    ("default_income_account_id", Text, NOT_NULL),
                    ("default_expense_account_id", Text, NOT_NULL),
                    ("sales_journal_id", Text, NOT_NULL),
                    ("purchase_journal_id", Text, NOT_NULL),
                    ("bank_journal_id", Text, NOT_NULL),
                    ("general_journal_id", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id"],
            ),
            table(
                "finance_accounts",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("kind", Text, NOT_NULL),
                    ("role", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_journals",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("kind", Text, NOT_NULL),
                    ("hash_chain", Bool, NOT_NULL),
                    ("chain_length", BigInt, NOT_NULL),
                    ("last_hash", Text, NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_fiscal_years",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("starts_on", Date, NOT_NULL),
                    ("ends_on", Date, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_sequences",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("series", Text, NOT_NULL),
                    ("fiscal_year_id", Text, NOT_NULL),
                    ("last_number", BigInt, NOT_NULL),
                ],
                &["tenant_id", "series", "fiscal_year_id"],
            ),
            table(
                "finance_entries",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("journal_id", Text, NOT_NULL),
                    ("fiscal_year_id", Text, NOT_NULL),
                    ("number", BigInt, NOT_NULL),
                    ("reference", Text, NOT_NULL),
                    ("entry_date", Date, NOT_NULL),
                    ("memo", Text, NULL),
                    ("currency", Text, NOT_NULL),
                    ("rate_nano", BigInt, NULL),
                    ("total_base", BigInt, NOT_NULL),
                    ("line_count", Int, NOT_NULL),
                    ("reverses_id", Text, NULL),
                    ("source_kind", Text, NOT_NULL),
                    ("source_id", Text, NULL),
                    ("chain_index", BigInt, NULL),
                    ("prev_hash", Text, NULL),
                    ("hash", Text, NULL),
                    ("posted_by", Text, NOT_NULL),
                    ("posted_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_entry_lines",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("entry_id", Text, NOT_NULL),
                    ("line_no", Int, NOT_NULL),
                    ("journal_id", Text, NOT_NULL),
                    ("entry_date", Date, NOT_NULL),
                    ("account_id", Text, NOT_NULL),
                    ("debit", BigInt, NOT_NULL),
                    ("credit", BigInt, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("amount", BigInt, NOT_NULL),
                    ("party_kind", Text, NULL),
                    ("party_id", Text, NULL),
                    ("project_id", Text, NULL),
                    ("department_id", Text, NULL),
                    ("client_id", Text, NULL),
                    ("label", Text, NULL),
                ],
                &["id"],
            ),
            table(
                "finance_balances",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("account_id", Text, NOT_NULL),
                    ("month", Date, NOT_NULL),
                    ("debit", BigInt, NOT_NULL),
                    ("credit", BigInt, NOT_NULL),
                ],
                &["tenant_id", "account_id", "month"],
            ),
            table(
                "finance_exchange_rates",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("currency", Text, NOT_NULL),
                    ("effective_on", Date, NOT_NULL),
                    ("rate_nano", BigInt, NOT_NULL),
                ],
                &["tenant_id", "currency", "effective_on"],
            ),
            table(
                "finance_taxes",
                &[
                    ("id", Text, NOT_NULL),
                    ("tenant_id", Text, NOT_NULL),
                    ("code", Text, NOT_NULL),
                    ("name", Text, NOT_NULL),
                    ("rate_ppm", BigInt, NOT_NULL),
                    ("included", Bool, NOT_NULL),
                    ("account_id", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["id"],
            ),
            table(
                "finance_idempotency",
                &[
                    ("tenant_id", Text, NOT_NULL),
                    ("key", Text, NOT_NULL),
                    ("operation", Text, NOT_NULL),
                    ("fingerprint", Text, NOT_NULL),
                    ("result", Text, NOT_NULL),
                    ("created_at", Timestamp, NOT_NULL),
                ],
                &["tenant_id", "key"],
            ),
        ];
        let indexes = vec![
            index(
                "ux_finance_accounts_code",
                "finance_accounts",
                &["tenant_id", "code"],
                true,
            ),
            index(
                "ux_finance_journals_code",
                "finance_journals",
                &["tenant_id", "code"],
                true,
            ),
            index(
                "ux_finance_fiscal_years_name",
                "finance_fiscal_years",
                &["tenant_id", "name"],
                true,
            ),
            index(
                "ux_finance_entries_number",
                "finance_entries",
                &["tenant_id", "journal_id", "fiscal_year_id", "number"],
                true,
            ),
            // A posted entry is reversed at most once.
            index(
                "ux_finance_entries_reverses",
                "finance_entries",
                &["reverses_id"],
                true,
            ),
            index(
                "ix_finance_entries_date",
                "finance_entries",
                &["tenant_id", "entry_date"],
                false,
            ),
            index(
                "ix_finance_entries_chain",
                "finance_entries",
                &["tenant_id", "journal_id", "chain_index"],
                false,
            ),
            index(
                "ix_finance_lines_entry",
                "finance_entry_lines",
                &["entry_id", "line_no"],
                false,
            ),
            index(
                "ix_finance_lines_account",
                "finance_entry_lines",
                &["tenant_id", "account_id", "id"],
                false,
            ),
            index(
                "ix_finance_lines_party",
                "finance_entry_lines",
                &["tenant_id", "party_id"],
                false,
            ),
        ];
        create(manager, tables, indexes).await?;
        let db = manager.get_connection();
        let statements: &[&str] = match db.get_database_backend() {
            DatabaseBackend::Postgres => POSTGRES_GUARDS,
            _ => SQLITE_GUARDS,
        };
        for statement in statements {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop(manager, TABLES).await
    }
}

const POSTGRES_GUARDS: &[&str] = &[
    r#"CREATE OR REPLACE FUNCTION finance_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'posted journal entries are immutable (% on %)', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'restrict_violation';
END $$"#,
    "CREATE TRIGGER finance_entries_immutable BEFORE UPDATE OR DELETE ON finance_entries \
     FOR EACH ROW EXECUTE FUNCTION finance_refuse_change()",
    "CREATE TRIGGER finance_entry_lines_immutable BEFORE UPDATE OR DELETE ON finance_entry_lines \
     FOR EACH ROW EXECUTE FUNCTION finance_refuse_change()",
    r#"CREATE OR REPLACE FUNCTION finance_check_entry() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  debits bigint; credits bigint; lines bigint;
BEGIN
  SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0), count(*)
    INTO debits, credits, lines
    FROM finance_entry_lines WHERE entry_id = NEW.id;
  IF lines < 2 OR lines <> NEW.line_count OR debits <> credits OR debits <> NEW.total_base THEN
    RAISE EXCEPTION 'journal entry % is unbalanced or incomplete', NEW.id
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$"#,
    "CREATE TRIGGER finance_entries_balanced AFTER INSERT ON finance_entries \
     FOR EACH ROW EXECUTE FUNCTION finance_check_entry()",
    r#"CREATE OR REPLACE FUNCTION finance_refuse_late_line() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM finance_entries WHERE id = NEW.entry_id) THEN
    RAISE EXCEPTION 'journal entry % is posted: it gains no line', NEW.entry_id
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.debit < 0 OR NEW.credit < 0 OR (NEW.debit > 0) = (NEW.credit > 0) THEN
    RAISE EXCEPTION 'a journal line is a debit or a credit' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$"#,
    "CREATE TRIGGER finance_entry_lines_before_header BEFORE INSERT ON finance_entry_lines \
     FOR EACH ROW EXECUTE FUNCTION finance_refuse_late_line()",
];

const SQLITE_GUARDS: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS finance_entries_no_update BEFORE UPDATE ON finance_entries \
     BEGIN SELECT RAISE(ABORT, 'posted journal entries are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS finance_entries_no_delete BEFORE DELETE ON finance_entries \
     BEGIN SELECT RAISE(ABORT, 'posted journal entries are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS finance_entry_lines_no_update BEFORE UPDATE ON finance_entry_lines \
     BEGIN SELECT RAISE(ABORT, 'posted journal entries are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS finance_entry_lines_no_delete BEFORE DELETE ON finance_entry_lines \
     BEGIN SELECT RAISE(ABORT, 'posted journal entries are immutable'); END",
    "CREATE TRIGGER IF NOT EXISTS finance_entries_balanced AFTER INSERT ON finance_entries \
     WHEN (SELECT count(*) FROM finance_entry_lines WHERE entry_id = NEW.id) < 2 \
       OR (SELECT count(*) FROM finance_entry_lines WHERE entry_id = NEW.id) <> NEW.line_count \
       OR (SELECT coalesce(sum(debit), 0) FROM finance_entry_lines WHERE entry_id = NEW.id) \
          <> (SELECT coalesce(sum(credit), 0) FROM finance_entry_lines WHERE entry_id = NEW.id) \
       OR (SELECT coalesce(sum(debit), 0) FROM finance_entry_lines WHERE entry_id = NEW.id) \
          <> NEW.total_base \
     BEGIN SELECT RAISE(ABORT, 'journal entry is unbalanced or incomplete'); END",
    "CREATE TRIGGER IF NOT EXISTS finance_entry_lines_before_header BEFORE INSERT ON finance_entry_lines \
     WHEN EXISTS (SELECT 1 FROM finance_entries WHERE id = NEW.entry_id) \
       OR NEW.debit < 0 OR NEW.credit < 0 OR (NEW.debit > 0) = (NEW.credit > 0) \
     BEGIN SELECT RAISE(ABORT, 'a journal line is a debit or a credit of an entry not yet posted'); END",
];
