//! Expense claims through GraphQL: categories, claims and their life cycle, and who may read
//! whose claims (finance readers all; a claimant their own; a manager their reports').

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};

use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::{ApiError, RequestContext, TenantId};

use super::ledger::{Account, JournalEntry};
use super::loaders::{AccountLoader, EmployeeExpensesLoader, EntryLoader};
use super::scalars::{currency_code, stored_money, Date, DateTime, Decimal, KitCurrency, Money};
use super::{actor, finance, load_one};
use crate::app::expenses::{CategoryRequest, ClaimLineRequest, ClaimRequest};
use crate::domain::expense::ExpenseState as DomainState;
use crate::store::entities::{expense, expense_category, expense_line};
use crate::store::expenses::ClaimFilter;

type Page<T> = Connection<String, T, EmptyFields, EmptyFields>;

/// Where a claim is.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ExpenseState {
    /// Being written by the claimant.
    Draft,
    /// Waiting for the claimant's manager.
    Submitted,
    /// Approved: owed to the employee, its expense posted.
    Approved,
    /// Refused, with a reason.
    Refused,
    /// Reimbursed (exactly once).
    Paid,
}

impl ExpenseState {
    fn stored(text: &str) -> Self {
        match DomainState::from_stored(text) {
            Some(DomainState::Submitted) => ExpenseState::Submitted,
            Some(DomainState::Approved) => ExpenseState::Approved,
            Some(DomainState::Refused) => ExpenseState::Refused,
            Some(DomainState::Paid) => ExpenseState::Paid,
            _ => ExpenseState::Draft,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ExpenseState::Draft => "draft",
            ExpenseState::Submitted => "submitted",
            ExpenseState::Approved => "approved",
            ExpenseState::Refused => "refused",
            ExpenseState::Paid => "paid",
        }
    }
}

/// An expense category and its policy.
pub struct ExpenseCategory(pub expense_category::Model);

/// An expense category and its policy.
#[Object]
impl ExpenseCategory {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Unique in the tenant (e.g. `MEALS`).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// The category's name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The expense account its lines post to.
    #[graphql(requires_scopes = "finance:read")]
    async fn account(&self, ctx: &Context<'_>) -> Result<Option<Account>> {
        Ok(load_one::<AccountLoader>(ctx, &self.0.account_id)
            .await?
            .map(Account))
    }

    /// The most one line may claim (None: no cap).
    async fn cap(&self) -> Option<Money> {
        Some(stored_money(
            self.0.cap_minor?,
            self.0.cap_currency.as_deref()?,
        ))
    }

    /// Each line needs a receipt reference.
    async fn receipt_required(&self) -> bool {
        self.0.receipt_required
    }
}

/// One line of a claim.
pub struct ExpenseLine(pub expense_line::Model, pub String);

/// One line of a claim.
#[Object]
impl ExpenseLine {
    /// The line's position in the claim, from 1.
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }

    /// The expense category of the line.
    async fn category_id(&self) -> ID {
        ID(self.0.category_id.clone())
    }

    /// The day the money was spent.
    async fn spent_on(&self) -> Date {
        Date(self.0.spent_on)
    }

    /// What was spent on.
    async fn description(&self) -> &str {
        &self.0.description
    }

    /// The amount spent, in the claim's currency.
    async fn amount(&self) -> Money {
        stored_money(self.0.amount, &self.1)
    }

    /// A foreign line's rate on its day (base units per unit of the claim's currency), fixed
    /// when the claim's approval posted it; null in the base currency and before approval.
    async fn exchange_rate(&self) -> Option<Decimal> {
        super::documents::exchange_rate(&self.1, self.0.rate_nano)
    }

    /// The line in the base currency (a foreign line's at its day's rate, fixed at approval;
    /// null before).
    async fn base_amount(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let Some(minor) = self.0.base_amount else {
            return Ok(None);
        };
        Ok(Some(stored_money(
            minor,
            &super::ledger::base_currency(ctx).await?,
        )))
    }

    /// The receipt's reference (e.g. a document-store key).
    async fn receipt_ref(&self) -> Option<&str> {
        self.0.receipt_ref.as_deref()
    }
}

/// An expense claim.
pub struct Expense(pub expense::Model);

/// An expense claim: `draft -> submitted -> approved | refused -> paid` (once).
#[Object]
impl Expense {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// What the claim is for.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// The claimant (federated: the employee subgraph resolves the rest).
    async fn employee(&self) -> Employee {
        Employee {
            id: ID(self.0.employee_id.clone()),
        }
    }

    /// Where the claim is in its life cycle.
    async fn state(&self) -> ExpenseState {
        ExpenseState::stored(&self.0.state)
    }

    /// The currency of every line: the base currency, or a currency with exchange rates.
    async fn currency(&self) -> KitCurrency {
        currency_code(&self.0.currency)
    }

    /// The sum of the lines.
    async fn total(&self) -> Money {
        stored_money(self.0.total, &self.0.currency)
    }

    /// The claim in the base currency: its total for a base-currency claim; for a foreign one
    /// the sum of its lines at their days' rates, fixed when its approval posted it (null
    /// before).
    async fn base_total(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let Some(minor) = self.0.base_total else {
            return Ok(None);
        };
        Ok(Some(stored_money(
            minor,
            &super::ledger::base_currency(ctx).await?,
        )))
    }

    /// What the reimbursement paid, in the base currency (a foreign claim's total at the
    /// payment day's rate; the difference to `baseTotal` is a realised exchange gain or loss
    /// in `paymentEntry`). Null before it is paid by the bank.
    async fn reimbursed_amount(&self, ctx: &Context<'_>) -> Result<Option<Money>> {
        let Some(minor) = self.0.paid_base else {
            return Ok(None);
        };
        Ok(Some(stored_money(
            minor,
            &super::ledger::base_currency(ctx).await?,
        )))
    }

    /// The claim's lines, in order.
    async fn lines(&self, ctx: &Context<'_>) -> Result<Vec<ExpenseLine>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?
            .claim_lines_of(&tenant, vec![self.0.id.clone()])
            .await?;
        Ok(rows
            .into_iter()
            .map(|line| ExpenseLine(line, self.0.currency.clone()))
            .collect())
    }

    /// When the claimant submitted it; none while a draft.
    async fn submitted_at(&self) -> Option<DateTime> {
        self.0.submitted_at.map(DateTime::from)
    }

    /// The user who approved or refused it.
    async fn decided_by(&self) -> Option<ID> {
        self.0.decided_by.clone().map(ID)
    }

    /// When it was approved or refused; none before.
    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(DateTime::from)
    }

    /// Why it was refused.
    async fn refusal_reason(&self) -> Option<&str> {
        self.0.refusal_reason.as_deref()
    }

    /// The entry its approval posted (expense against the employee's reimbursement).
    #[graphql(requires_scopes = "finance:read")]
    async fn approval_entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        match &self.0.approved_entry_id {
            Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
            None => Ok(None),
        }
    }

    /// The entry its reimbursement posted.
    #[graphql(requires_scopes = "finance:read")]
    async fn payment_entry(&self, ctx: &Context<'_>) -> Result<Option<JournalEntry>> {
        match &self.0.paid_entry_id {
            Some(id) => Ok(load_one::<EntryLoader>(ctx, id).await?.map(JournalEntry)),
            None => Ok(None),
        }
    }

    /// When it was paid; none before (a claim is paid once).
    async fn paid_at(&self) -> Option<DateTime> {
        self.0.paid_at.map(DateTime::from)
    }

    /// When the claim was drafted.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
}

/// Whether the caller may read `employee_id`'s claims: a finance reader, the employee, or their
/// manager holding `expense:approve`.
pub(crate) async fn can_read_claims_of(
    ctx: &Context<'_>,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<bool> {
    let identity = ctx.identity();
    if identity.has_scope("finance:read") {
        return Ok(true);
    }
    let user = &ctx.claims()?.sub;
    let finance = finance(ctx)?;
    let Some(me) = finance.person_by_user(tenant, user).await? else {
        return Ok(false);
    };
    if me.employee_id == employee_id {
        return Ok(true);
    }
    if !identity.has_scope("expense:approve") {
        return Ok(false);
    }
    let claimant = finance.person_of(tenant, employee_id).await?;
    Ok(claimant.and_then(|p| p.manager_employee_id).as_deref() == Some(me.employee_id.as_str()))
}

#[derive(Default)]
pub struct ExpenseQuery;

#[Object]
impl ExpenseQuery {
    /// The expense categories, by code.
    #[graphql(requires_scopes = "finance:read", requires_scopes = "expense:submit")]
    async fn expense_categories(&self, ctx: &Context<'_>) -> Result<Option<Vec<ExpenseCategory>>> {
        let tenant = ctx.tenant()?;
        let rows = finance(ctx)?.expense_categories_of(&tenant).await?;
        Ok(Some(rows.into_iter().map(ExpenseCategory).collect()))
    }

    /// Claims the caller may read, in creation order: finance readers all (or one employee's),
    /// managers their own and their reports', everybody else their own; a Relay connection.
    #[graphql(
        requires_scopes = "finance:read",
        requires_scopes = "expense:submit",
        requires_scopes = "expense:approve"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn expense_claims(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only claims in this state.")] state: Option<ExpenseState>,
        #[graphql(desc = "Only this employee's claims.")] employee_id: Option<ID>,
        #[graphql(desc = "Relay cursor.")] after: Option<String>,
        #[graphql(desc = "Relay cursor.")] before: Option<String>,
        #[graphql(desc = "At most 100.")] first: Option<i32>,
        #[graphql(desc = "At most 100.")] last: Option<i32>,
    ) -> Result<Option<Page<Expense>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let finance = finance(ctx)?;
        let employees = if ctx.identity().has_scope("finance:read") {
            employee_id.map(|id| vec![id.0])
        } else {
            let user = &ctx.claims()?.sub;
            let me = finance.person_by_user(&tenant, user).await?;
            let mut visible = Vec::new();
            if let Some(me) = me {
                if ctx.identity().has_scope("expense:approve") {
                    visible.extend(
                        finance
                            .reports_of(&tenant, &me.employee_id)
                            .await?
                            .into_iter()
                            .map(|p| p.employee_id),
                    );
                }
                visible.push(me.employee_id);
            }
            if let Some(id) = employee_id {
                visible.retain(|e| *e == id.0);
            }
            Some(visible)
        };
        let filter = ClaimFilter {
            state: state.map(ExpenseState::as_str),
            employee_ids: employees,
        };
        let rows = finance.claim_page(&tenant, &filter, &page).await?;
        Ok(Some(connection_from_rows(
            &page,
            rows.into_iter().map(Expense).collect(),
            |e| e.0.id.clone(),
        )))
    }

    /// One claim, if the caller may read it.
    #[graphql(
        requires_scopes = "finance:read",
        requires_scopes = "expense:submit",
        requires_scopes = "expense:approve"
    )]
    async fn expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The claim's id.")] id: ID,
    ) -> Result<Option<Expense>> {
        let tenant = ctx.tenant()?;
        let claim = finance(ctx)?.claim_of(&tenant, &id).await?;
        match claim {
            Some(claim) if can_read_claims_of(ctx, &tenant, &claim.employee_id).await? => {
                Ok(Some(Expense(claim)))
            }
            _ => Ok(None),
        }
    }
}

/// A new expense category.
#[derive(InputObject)]
pub struct CreateExpenseCategoryInput {
    /// Unique in the tenant.
    pub code: String,
    /// The category's name (1 to 500 characters), e.g. `Travel`.
    pub name: String,
    /// An expense account (never a control account).
    pub account_id: ID,
    /// The most one line may claim: a decimal string of `capCurrency`.
    pub cap: Option<Decimal>,
    /// ISO 4217; required with `cap`.
    pub cap_currency: Option<KitCurrency>,
    /// Each line needs a receipt reference (`RECEIPT_REQUIRED`).
    pub receipt_required: bool,
}

/// The category created.
#[derive(SimpleObject)]
pub struct CreateExpenseCategoryPayload {
    /// The category created.
    pub category: ExpenseCategory,
}

/// One line of a new claim.
#[derive(InputObject)]
pub struct ExpenseLineInput {
    /// The expense category (its cap and receipt rule apply).
    pub category_id: ID,
    /// The day the money was spent.
    pub spent_on: Date,
    /// What was spent on (1 to 500 characters).
    pub description: String,
    /// A positive decimal string of the claim's currency, within the category's cap
    /// (`POLICY_CAP_EXCEEDED`; a cap in the base currency holds a foreign line's value at
    /// its day's rate).
    pub amount: Decimal,
    /// The receipt's reference (required by some categories).
    pub receipt_ref: Option<String>,
}

/// A new claim by the caller.
#[derive(InputObject)]
pub struct CreateExpenseClaimInput {
    /// What the claim is for (1 to 500 characters), e.g. `Client visit, Lyon`.
    pub title: String,
    /// The base currency, or a currency the tenant keeps exchange rates for (each line then
    /// needs a rate in force on its day: NO_EXCHANGE_RATE; DOCUMENT_CURRENCY for a currency
    /// without rates).
    pub currency: KitCurrency,
    /// At least one.
    pub lines: Vec<ExpenseLineInput>,
}

/// The claim.
#[derive(SimpleObject)]
pub struct ExpenseClaimPayload {
    /// The claim as it is now.
    pub claim: Expense,
}

/// A claim to submit.
#[derive(InputObject)]
pub struct SubmitExpenseClaimInput {
    /// The caller's draft claim.
    pub claim_id: ID,
}

/// A claim to approve.
#[derive(InputObject)]
pub struct ApproveExpenseClaimInput {
    /// 1 to 200 characters: the same key replays the answer.
    pub idempotency_key: String,
    /// The submitted claim.
    pub claim_id: ID,
}

/// The claim decided.
#[derive(SimpleObject)]
pub struct DecidedExpenseClaimPayload {
    /// The claim as it is now.
    pub claim: Expense,
    /// True when this answer replays an earlier request with the same key.
    pub replayed: bool,
}

/// A claim to refuse.
#[derive(InputObject)]
pub struct RefuseExpenseClaimInput {
    /// The submitted claim.
    pub claim_id: ID,
    /// Why (1 to 500 characters): the claimant reads it.
    pub reason: String,
}

/// A claim to reimburse.
#[derive(InputObject)]
pub struct PayExpenseClaimInput {
    /// 1 to 200 characters: the same key replays the answer.
    pub idempotency_key: String,
    /// The approved claim.
    pub claim_id: ID,
    /// Default: the settings' bank account.
    pub bank_account_id: Option<ID>,
    /// Default: today.
    pub date: Option<Date>,
}

async fn claim_by_id(ctx: &Context<'_>, id: &str) -> Result<Expense> {
    let tenant = ctx.tenant()?;
    finance(ctx)?
        .claim_of(&tenant, id)
        .await?
        .map(Expense)
        .ok_or_else(|| ApiError::NotFound("expense claim".into()).into())
}

#[derive(Default)]
pub struct ExpenseMutation;

#[Object]
impl ExpenseMutation {
    /// Adds an expense category with its policy.
    #[graphql(requires_scopes = "finance:admin")]
    async fn create_expense_category(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The category's code, name, cap and receipt rule.")]
        input: CreateExpenseCategoryInput,
    ) -> Result<Option<CreateExpenseCategoryPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_expense_category(
                &actor,
                CategoryRequest {
                    code: input.code,
                    name: input.name,
                    account_id: input.account_id.0,
                    cap: input.cap.map(|d| d.to_string()),
                    cap_currency: input.cap_currency.map(|c| c.code().to_owned()),
                    receipt_required: input.receipt_required,
                },
            )
            .await?;
        let category = finance(ctx)?
            .expense_categories_of(&actor.tenant)
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::internal("the new category vanished"))?;
        Ok(Some(CreateExpenseCategoryPayload {
            category: ExpenseCategory(category),
        }))
    }

    /// Drafts a claim for the caller (`UNKNOWN_EMPLOYEE` when finance does not know them).
    #[graphql(requires_scopes = "expense:submit")]
    async fn create_expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The claim's title and lines.")] input: CreateExpenseClaimInput,
    ) -> Result<Option<ExpenseClaimPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .create_expense_claim(
                &actor,
                ClaimRequest {
                    title: input.title,
                    currency: input.currency.code().to_owned(),
                    lines: input
                        .lines
                        .into_iter()
                        .map(|line| ClaimLineRequest {
                            category_id: line.category_id.0,
                            spent_on: line.spent_on.0,
                            description: line.description,
                            amount: line.amount.to_string(),
                            receipt_ref: line.receipt_ref,
                        })
                        .collect(),
                },
            )
            .await?;
        Ok(Some(ExpenseClaimPayload {
            claim: claim_by_id(ctx, &id).await?,
        }))
    }

    /// The claimant submits their draft to their manager.
    #[graphql(requires_scopes = "expense:submit")]
    async fn submit_expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The draft claim.")] input: SubmitExpenseClaimInput,
    ) -> Result<Option<ExpenseClaimPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .submit_expense_claim(&actor, &input.claim_id)
            .await?;
        Ok(Some(ExpenseClaimPayload {
            claim: claim_by_id(ctx, &id).await?,
        }))
    }

    /// Approves a submitted claim: the claimant's manager, or a finance administrator; never
    /// the claimant (`SELF_APPROVAL`). Posts the expense; publishes `expense.approved`.
    #[graphql(requires_scopes = "expense:approve")]
    async fn approve_expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The submitted claim.")] input: ApproveExpenseClaimInput,
    ) -> Result<Option<DecidedExpenseClaimPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .approve_expense_claim(&actor, &input.idempotency_key, &input.claim_id)
            .await?;
        Ok(Some(DecidedExpenseClaimPayload {
            claim: claim_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }

    /// Refuses a submitted claim with a reason (same deciders as approval).
    #[graphql(requires_scopes = "expense:approve")]
    async fn refuse_expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The submitted claim and why it is refused.")]
        input: RefuseExpenseClaimInput,
    ) -> Result<Option<ExpenseClaimPayload>> {
        let actor = actor(ctx)?;
        let id = finance(ctx)?
            .refuse_expense_claim(&actor, &input.claim_id, &input.reason)
            .await?;
        Ok(Some(ExpenseClaimPayload {
            claim: claim_by_id(ctx, &id).await?,
        }))
    }

    /// Reimburses an approved claim from a bank account, exactly once
    /// (`EXPENSE_ALREADY_PAID`), in the base currency: a foreign claim's total at the payment
    /// day's rate (`NO_EXCHANGE_RATE` without one), the difference to its booked base total
    /// posted as a realised exchange gain (4950) or loss (6950) in the same entry.
    #[graphql(requires_scopes = "finance:write")]
    async fn pay_expense_claim(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The approved claim, how it is paid and an idempotency key.")]
        input: PayExpenseClaimInput,
    ) -> Result<Option<DecidedExpenseClaimPayload>> {
        let actor = actor(ctx)?;
        let outcome = finance(ctx)?
            .pay_expense_claim(
                &actor,
                &input.idempotency_key,
                &input.claim_id,
                input.bank_account_id.map(|id| id.0),
                input.date.map(|d| d.0),
            )
            .await?;
        Ok(Some(DecidedExpenseClaimPayload {
            claim: claim_by_id(ctx, &outcome.id).await?,
            replayed: outcome.replayed,
        }))
    }
}

/// An employee (owned by the employee subgraph).
pub struct Employee {
    pub id: ID,
}

// Described as the employee subgraph, its owner, describes it (the supergraph keeps one
// description); finance adds their expense claims.
/// A person employed by the tenant: the directory fields for anyone with `employee:read`, the
/// private ones by the row rules (`viewerCan`), compensation for `hr:admin` only.
#[Object]
impl Employee {
    /// Stable id (UUIDv7).
    async fn id(&self) -> &ID {
        &self.id
    }

    /// The employee's expense claims, newest first (at most 100): for finance readers, the
    /// employee themselves and their manager.
    #[graphql(
        requires_scopes = "finance:read",
        requires_scopes = "expense:submit",
        requires_scopes = "expense:approve"
    )]
    async fn expenses(&self, ctx: &Context<'_>) -> Result<Option<Vec<Expense>>> {
        let tenant = ctx.tenant()?;
        if !can_read_claims_of(ctx, &tenant, &self.id).await? {
            return Ok(None);
        }
        Ok(Some(
            load_one::<EmployeeExpensesLoader>(ctx, &self.id)
                .await?
                .unwrap_or_default()
                .into_iter()
                .map(Expense)
                .collect(),
        ))
    }
}
