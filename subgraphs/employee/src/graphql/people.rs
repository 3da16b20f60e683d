//! People: the `Employee` record (the directory fields, the private ones by the row rules,
//! compensation for HR) and the types its fields return that point back at it (departments,
//! attendance corrections), the directory's queries, hires, departments and compensation.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Enum, InputObject, Object, Result, SimpleObject, ID};
use chrono::Utc;

use erp_kit::authz::authenticated;
use erp_kit::loaders::TenantKey;
use erp_kit::money::{Currency, Money, MoneyInput};
use erp_kit::pagination::{connection_from_rows, PageRequest};
use erp_kit::scalars::{Date, DateTime};
use erp_kit::{ApiError, RequestContext};

use super::context::{chain_models, permissions_on, private_field, require_attendance_view};
use super::loaders::{
    ChildPageKey, CorrectionsLoader, DayAttendanceLoader, DayKey, DepartmentLoader,
    DirectReportsLoader, EmployeeLoader, PageKey, UserEmployeeLoader,
};
use super::shift::{current_day, millis, shift_on, AttendanceDay, Shift};
use crate::app::people::CompensationChange;
use crate::app::Employee as UseCases;
use crate::domain::org::Permissions;
use crate::domain::{
    check_hire_dates, parse_bank_account, parse_tax_id, DisplayName, EmailAddress, EmployeeNumber,
    EmploymentStatus, NewHire, Salary,
};
use crate::store::entities::{attendance_correction as correction, department, employee};
use crate::store::people::EmployeeFilter;

/// Where an employee is in their employment.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "EmploymentStatus")]
pub enum EmployeeStatus {
    /// Working.
    Active,
    /// On a long leave (parental, sabbatical).
    OnLeave,
    /// No longer employed.
    Terminated,
}

/// A person employed by the tenant.
pub struct Employee(pub employee::Model);

/// The employee `id` of the caller's tenant, through the batching [`EmployeeLoader`].
pub async fn load_employee(ctx: &Context<'_>, id: &str) -> Result<Option<Employee>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<EmployeeLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Employee))
}

/// The department `id` of the caller's tenant, through the batching [`DepartmentLoader`].
pub async fn load_department(ctx: &Context<'_>, id: &str) -> Result<Option<Department>> {
    let tenant = ctx.tenant()?;
    Ok(ctx
        .data_unchecked::<DataLoader<DepartmentLoader>>()
        .load_one(TenantKey::new(&tenant, id))
        .await?
        .map(Department))
}

/// A user account of the identity subgraph, as a reference; this subgraph adds the employee
/// record linked to it.
pub struct User {
    pub id: String,
}

/// A person who can log in (the identity subgraph's entity). The employee subgraph adds the
/// employee record the user is linked to, so `me { employee { ... } }` reaches it.
#[Object]
impl User {
    /// Stable id (UUIDv7); the `sub` of their tokens.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }

    /// The employee record linked to this user in their tenant, if any (batched).
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<UserEmployeeLoader>>()
            .load_one(TenantKey::new(&tenant, &self.id))
            .await?
            .map(Employee))
    }
}

/// A person employed by the tenant: the directory fields for anyone with `employee:read`, the
/// private ones by the row rules (`viewerCan`), compensation for `hr:admin` only.
#[Object(requires_scopes = "employee:read")]
impl Employee {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The tenant's own employee number (unique in the tenant).
    async fn employee_number(&self) -> &str {
        &self.0.employee_number
    }

    /// The name shown in the product.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Work email address (unique in the tenant).
    async fn work_email(&self) -> &str {
        &self.0.work_email
    }

    /// Job title.
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }

    /// Employment status.
    async fn status(&self) -> EmployeeStatus {
        EmploymentStatus::from_db(&self.0.status)
            .unwrap_or(EmploymentStatus::Active)
            .into()
    }

    /// The work location whose geofence every punch of the employee is checked against.
    async fn assigned_location_id(&self) -> Option<ID> {
        self.0.location_id.clone().map(ID)
    }

    /// The first day of employment.
    async fn hired_on(&self) -> Date {
        self.0.hired_on.into()
    }

    /// The identity-service user this employee logs in as, when linked.
    async fn user_id(&self) -> Option<ID> {
        self.0.user_id.clone().map(ID)
    }

    /// The identity-service user this employee logs in as, when linked.
    async fn user(&self) -> Option<User> {
        self.0.user_id.clone().map(|id| User { id })
    }

    /// Private email address: for the employee, the managers above them and HR (`hr:read`,
    /// `hr:admin`) of the tenant, as `viewerCan.viewFullRecord` says; anyone else gets null
    /// with UNAUTHORIZED_FIELD_OR_TYPE. (The scope `employee:read:private` still opens it but
    /// is deprecated: no role needs it.)
    async fn personal_email(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        private_field(
            ctx,
            &self.0,
            "personalEmail",
            self.0.personal_email.as_deref(),
        )
        .await
    }

    /// Date of birth: for the employee, the managers above them and HR (`hr:read`,
    /// `hr:admin`) of the tenant, as `viewerCan.viewFullRecord` says; anyone else gets null
    /// with UNAUTHORIZED_FIELD_OR_TYPE. (The scope `employee:read:private` still opens it but
    /// is deprecated: no role needs it.)
    async fn date_of_birth(&self, ctx: &Context<'_>) -> Result<Option<Date>> {
        private_field(
            ctx,
            &self.0,
            "dateOfBirth",
            self.0.date_of_birth.map(Date::from),
        )
        .await
    }

    /// The department the employee belongs to.
    async fn department(&self, ctx: &Context<'_>) -> Result<Option<Department>> {
        match &self.0.department_id {
            Some(department_id) => load_department(ctx, department_id).await,
            None => Ok(None),
        }
    }

    /// The employee's manager.
    async fn manager(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        match &self.0.manager_id {
            Some(manager_id) => load_employee(ctx, manager_id).await,
            None => Ok(None),
        }
    }

    /// When the record was created.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }

    /// The people reporting to this employee directly, as a Relay connection.
    async fn direct_reports(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, Employee, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .data_unchecked::<DataLoader<DirectReportsLoader>>()
            .load_one(ChildPageKey {
                tenant: ctx.tenant()?,
                parent_id: self.0.id.clone(),
                page: PageKey::from(&page),
                filter: (),
            })
            .await?
            .unwrap_or_default();
        let rows = rows.into_iter().map(Employee).collect();
        Ok(connection_from_rows(&page, rows, |e| e.0.id.clone()))
    }

    /// The managers above this employee, nearest first, up to the top (cycle-safe).
    async fn chain_of_command(&self, ctx: &Context<'_>) -> Result<Vec<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(chain_models(ctx, &tenant, &self.0)
            .await?
            .into_iter()
            .map(Employee)
            .collect())
    }

    /// What the caller may do with this record (the row-level rules, for clients).
    async fn viewer_can(&self, ctx: &Context<'_>) -> Result<EmployeeViewerCan> {
        Ok(permissions_on(ctx, &self.0).await?.into())
    }

    /// The employee's attendance on `day` (the current attendance day when omitted): the
    /// employee, their managers and HR only (FORBIDDEN otherwise).
    async fn attendance(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The attendance day (the shift's day in its time zone; the UTC date without a shift); the current one when omitted."
        )]
        day: Option<Date>,
    ) -> Result<Option<AttendanceDay>> {
        require_attendance_view(ctx, &self.0).await?;
        let tenant = ctx.tenant()?;
        let day = match day {
            Some(day) => day.into(),
            None => current_day(ctx, &tenant, &self.0).await?,
        };
        let computed = ctx
            .data_unchecked::<DataLoader<DayAttendanceLoader>>()
            .load_one(DayKey {
                tenant,
                employee_id: self.0.id.clone(),
                day,
            })
            .await?
            .ok_or_else(|| ApiError::internal("the computed day went missing"))?;
        Ok(Some(computed.into()))
    }

    /// The employee's attendance corrections, oldest first: the employee, their managers and
    /// HR only (FORBIDDEN otherwise).
    async fn attendance_corrections(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only corrections in this status; all when omitted.")] status: Option<
            CorrectionStatus,
        >,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, AttendanceCorrection, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        require_attendance_view(ctx, &self.0).await?;
        let rows = ctx
            .data_unchecked::<DataLoader<CorrectionsLoader>>()
            .load_one(ChildPageKey {
                tenant: ctx.tenant()?,
                parent_id: self.0.id.clone(),
                page: PageKey::from(&page),
                filter: status.map(|s| s.as_str().to_owned()),
            })
            .await?
            .unwrap_or_default();
        let rows = rows.into_iter().map(AttendanceCorrection).collect();
        Ok(connection_from_rows(&page, rows, |c| c.0.id.clone()))
    }

    /// The shift that applies to the employee on `day` (today when omitted).
    async fn shift(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The day; today (UTC) when omitted.")] day: Option<Date>,
    ) -> Result<Option<Shift>> {
        let tenant = ctx.tenant()?;
        let day = day.map_or_else(|| Utc::now().date_naive(), Into::into);
        Ok(shift_on(ctx, &tenant, &self.0, day)
            .await?
            .map(|s| Shift(s.model)))
    }

    /// Salary, bank account and tax id, decrypted for HR only (`hr:admin`). Stored sealed with
    /// the tenant's data key; never in events or logs.
    #[graphql(requires_scopes = "hr:admin")]
    async fn compensation(&self, ctx: &Context<'_>) -> Result<Option<Compensation>> {
        let tenant = ctx.tenant()?;
        let opened = ctx
            .use_cases::<UseCases>()?
            .compensation(&tenant, &self.0)
            .await?;
        Ok(Some(Compensation(opened)))
    }
}

/// An employee's pay and identifiers (sensitive: HR only).
pub struct Compensation(pub crate::app::people::Compensation);

/// An employee's pay and identifiers, decrypted for HR only.
#[Object]
impl Compensation {
    /// Annual salary as a decimal string, e.g. `85000.00`.
    #[graphql(deprecation = "use `salary` (a Money: the amount with its currency)")]
    async fn annual_salary(&self) -> Option<&str> {
        self.0.salary.as_ref().map(|s| s.amount.as_str())
    }

    /// ISO 4217 currency of the salary.
    #[graphql(deprecation = "use `salary.currency`")]
    async fn currency(&self) -> Option<&str> {
        self.0.salary.as_ref().map(|s| s.currency.as_str())
    }

    /// Annual salary, e.g. `{ amount: "85000.00", currency: EUR }`; null when none is set,
    /// or for a salary stored before the currency was checked against ISO 4217 (an unknown
    /// code, more decimals than the currency has), which the deprecated `annualSalary` and
    /// `currency` still show as stored.
    async fn salary(&self) -> Option<Money> {
        let salary = self.0.salary.as_ref()?;
        let currency = Currency::parse(&salary.currency).ok()?;
        Money::parse(&salary.amount, currency).ok()
    }

    /// Bank account number.
    async fn bank_account(&self) -> Option<&str> {
        self.0.bank_account.as_deref()
    }

    /// Tax id (PAN, SSN, ...).
    async fn tax_id(&self) -> Option<&str> {
        self.0.tax_id.as_deref()
    }
}

/// A unit of the organisation; departments form a tree.
pub struct Department(pub department::Model);

/// A unit of the organisation; departments form a tree.
#[Object(requires_scopes = "employee:read")]
impl Department {
    /// Stable id (UUIDv7).
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Name, unique in the tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The parent department, if this one is not a root.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Department>> {
        match &self.0.parent_id {
            Some(parent_id) => load_department(ctx, parent_id).await,
            None => Ok(None),
        }
    }

    /// The department's employees, in hiring-record order.
    async fn employees(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Connection<String, Employee, EmptyFields, EmptyFields>> {
        let filter = EmployeeFilter {
            department_id: Some(self.0.id.clone()),
            ..Default::default()
        };
        list_employees(ctx, filter, after, before, first, last).await
    }
}

pub(crate) async fn list_employees(
    ctx: &Context<'_>,
    filter: EmployeeFilter,
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> Result<Connection<String, Employee, EmptyFields, EmptyFields>> {
    let tenant = ctx.tenant()?;
    let page = PageRequest::parse(after, before, first, last)?;
    let rows = ctx
        .use_cases::<UseCases>()?
        .list_employees(&tenant, &filter, &page)
        .await?;
    let rows = rows.into_iter().map(Employee).collect();
    Ok(connection_from_rows(&page, rows, |e| e.0.id.clone()))
}

/// Filters of the employee list.
#[derive(InputObject, Default)]
pub struct EmployeeFilterInput {
    /// Only this department's employees.
    pub department_id: Option<ID>,
    /// Only this manager's direct reports.
    pub manager_id: Option<ID>,
    /// Only employees in this status.
    pub status: Option<EmployeeStatus>,
}

#[derive(Default)]
pub struct PeopleQuery;

#[Object]
impl PeopleQuery {
    /// One employee of the caller's tenant.
    #[graphql(directive = authenticated::apply())]
    async fn employee(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee's id.")] id: ID,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .employee(&tenant, &id)
            .await?
            .map(Employee))
    }

    /// The caller's tenant's employees, filtered, as a Relay connection (`first` at most 100).
    #[graphql(directive = authenticated::apply())]
    async fn employees(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only the employees matching every filter given.")] filter: Option<
            EmployeeFilterInput,
        >,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Employee, EmptyFields, EmptyFields>>> {
        let filter = filter.unwrap_or_default();
        let filter = EmployeeFilter {
            department_id: filter.department_id.map(|id| id.0),
            manager_id: filter.manager_id.map(|id| id.0),
            status: filter.status.map(Into::into),
        };
        list_employees(ctx, filter, after, before, first, last)
            .await
            .map(Some)
    }

    /// The caller's tenant's departments, as a Relay connection.
    #[graphql(directive = authenticated::apply())]
    async fn departments(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Returns the items after this cursor: the `endCursor` (or an edge's `cursor`) of the page read before."
        )]
        after: Option<String>,
        #[graphql(
            desc = "Returns the items before this cursor: the `startCursor` (or an edge's `cursor`) of the page read before."
        )]
        before: Option<String>,
        #[graphql(
            desc = "How many items to return from the start (or after `after`): 0 to 100; 20 when neither `first` nor `last` is given. Not with `last`."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "How many items to return from the end (or before `before`): 0 to 100. Not with `first`."
        )]
        last: Option<i32>,
    ) -> Result<Option<Connection<String, Department, EmptyFields, EmptyFields>>> {
        let tenant = ctx.tenant()?;
        let page = PageRequest::parse(after, before, first, last)?;
        let rows = ctx
            .use_cases::<UseCases>()?
            .list_departments(&tenant, &page)
            .await?;
        let rows = rows.into_iter().map(Department).collect();
        Ok(Some(connection_from_rows(&page, rows, |d| d.0.id.clone())))
    }

    /// Finds an employee by tax id (HR only), through a blind index: the tax id is never stored
    /// or searched in clear.
    #[graphql(requires_scopes = "hr:admin")]
    async fn employee_by_tax_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The tax id as typed (spaces and dashes ignored, any case).")]
        tax_id: String,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let tax_id = parse_tax_id(&tax_id)?;
        Ok(ctx
            .use_cases::<UseCases>()?
            .employee_by_tax_id(&tenant, &tax_id)
            .await?
            .map(Employee))
    }

    /// Federation: resolves an `Employee` reference from another subgraph.
    #[graphql(entity)]
    async fn find_employee_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<EmployeeLoader>>()
            .load_one(TenantKey::new(&tenant, &id))
            .await?
            .map(Employee))
    }

    /// Federation: resolves a `User` reference (its employee record, from the user id).
    #[graphql(entity)]
    async fn find_user_by_id(&self, id: ID) -> User {
        User { id: id.0 }
    }

    /// Federation: resolves a `Department` reference from another subgraph.
    #[graphql(entity)]
    async fn find_department_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Department>> {
        let tenant = ctx.tenant()?;
        Ok(ctx
            .data_unchecked::<DataLoader<DepartmentLoader>>()
            .load_one(TenantKey::new(&tenant, &id))
            .await?
            .map(Department))
    }
}

/// A new hire.
#[derive(InputObject)]
pub struct HireEmployeeInput {
    /// The tenant's employee number (1 to 32 letters, digits, `-`, `_`; unique).
    pub employee_number: String,
    /// The name shown in the product.
    pub display_name: String,
    /// Work email (unique in the tenant).
    pub work_email: String,
    /// Private email (readable by the employee, their managers and HR).
    pub personal_email: Option<String>,
    /// Date of birth (readable by the employee, their managers and HR).
    pub date_of_birth: Option<Date>,
    /// Job title.
    pub title: Option<String>,
    /// The department, in the same tenant.
    pub department_id: Option<ID>,
    /// The manager, an active employee of the same tenant (needs `hr:admin`: naming a
    /// manager gives them the record, its attendance and its corrections).
    pub manager_id: Option<ID>,
    /// The identity-service user this employee logs in as.
    pub user_id: Option<ID>,
    /// The first day of employment.
    pub hired_on: Date,
}

/// An employee's pay and identifiers (the deprecated `setEmployeeCompensation`'s).
#[derive(InputObject)]
pub struct CompensationInput {
    /// Annual salary, a decimal with at most two decimals (e.g. `85000.00`).
    pub annual_salary: String,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Bank account (IBAN or local format).
    pub bank_account: Option<String>,
    /// Tax id (PAN, SSN, ...).
    pub tax_id: Option<String>,
}

/// An employee's new pay and identifiers.
#[derive(InputObject)]
pub struct UpdateEmployeeCompensationInput {
    /// The employee.
    pub employee_id: ID,
    /// Annual salary: an amount of an ISO 4217 currency, with at most the currency's
    /// decimals (e.g. `{ amount: "85000.00", currency: EUR }`).
    pub salary: MoneyInput,
    /// Bank account (IBAN or local format: 5 to 34 letters and digits, spaces ignored).
    pub bank_account: Option<String>,
    /// Tax id (PAN, SSN, ...: 4 to 20 letters and digits, spaces and dashes ignored).
    pub tax_id: Option<String>,
}

/// A new department.
#[derive(InputObject)]
pub struct CreateDepartmentInput {
    /// Name, unique in the tenant (1 to 200 characters).
    pub name: String,
    /// The parent department, if any.
    pub parent_id: Option<ID>,
}

#[derive(Default)]
pub struct PeopleMutation;

#[Object]
impl PeopleMutation {
    /// Hires an employee; publishes `employee.hired`. Naming a manager needs `hr:admin`
    /// (FORBIDDEN otherwise); a user already linked to an employee is refused (CONFLICT,
    /// USER_ALREADY_LINKED).
    #[graphql(requires_scopes = "employee:write")]
    async fn hire_employee(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new hire's record.")] input: HireEmployeeInput,
    ) -> Result<Option<Employee>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        if input.manager_id.is_some() {
            ctx.require_scope("hr:admin")?;
        }
        let title = match input.title.as_deref().map(str::trim) {
            Some("") | None => None,
            Some(title) if title.chars().count() > 200 => {
                return Err(
                    ApiError::bad_input("title", "the title is longer than 200 characters").into(),
                )
            }
            Some(title) => Some(title.to_owned()),
        };
        let hired_on = input.hired_on.into();
        let date_of_birth = input.date_of_birth.map(Into::into);
        check_hire_dates(hired_on, date_of_birth, Utc::now().date_naive())?;
        let hire = NewHire {
            employee_number: EmployeeNumber::parse("employeeNumber", &input.employee_number)?,
            display_name: DisplayName::parse("displayName", &input.display_name)?,
            work_email: EmailAddress::parse("workEmail", &input.work_email)?,
            personal_email: input
                .personal_email
                .as_deref()
                .map(|e| EmailAddress::parse("personalEmail", e))
                .transpose()?,
            date_of_birth,
            title,
            department_id: input.department_id.map(|id| id.0),
            manager_id: input.manager_id.map(|id| id.0),
            user_id: input.user_id.map(|id| id.0),
            hired_on,
        };
        Ok(Some(Employee(
            ctx.use_cases::<UseCases>()?
                .hire(&tenant, &actor, hire)
                .await?,
        )))
    }

    /// Sets an employee's compensation (sealed before it reaches the database); publishes
    /// `employee.compensation_changed` without amounts.
    #[graphql(
        requires_scopes = "hr:admin",
        deprecation = "use `updateEmployeeCompensation` (one input, the salary as Money)"
    )]
    async fn set_employee_compensation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee.")] employee_id: ID,
        #[graphql(desc = "The salary, bank account and tax id.")] input: CompensationInput,
    ) -> Result<Option<Employee>> {
        let salary = Salary::parse(&input.annual_salary, &input.currency)?;
        set_compensation(ctx, employee_id, salary, input.bank_account, input.tax_id).await
    }

    /// Sets an employee's compensation (sealed before it reaches the database); publishes
    /// `employee.compensation_changed` without amounts. BAD_USER_INPUT (field `amount`) for
    /// more decimals than the currency has.
    #[graphql(requires_scopes = "hr:admin")]
    async fn update_employee_compensation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The employee and their salary, bank account and tax id.")]
        input: UpdateEmployeeCompensationInput,
    ) -> Result<Option<Employee>> {
        let money = input
            .salary
            .to_money()
            .map_err(|err| ApiError::bad_input("amount", err.message(input.salary.currency)))?;
        if money.minor() <= 0 {
            return Err(ApiError::bad_input("amount", "a salary is more than zero").into());
        }
        let salary = Salary {
            amount: money.to_decimal_string(),
            currency: money.currency().code().to_owned(),
        };
        set_compensation(
            ctx,
            input.employee_id,
            salary,
            input.bank_account,
            input.tax_id,
        )
        .await
    }

    /// Creates a department; publishes `department.created`.
    #[graphql(requires_scopes = "department:write")]
    async fn create_department(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The department's name and parent.")] input: CreateDepartmentInput,
    ) -> Result<Option<Department>> {
        let tenant = ctx.tenant()?;
        let actor = ctx.claims()?.sub.clone();
        let name = DisplayName::parse("name", &input.name)?;
        Ok(Some(Department(
            ctx.use_cases::<UseCases>()?
                .create_department(
                    &tenant,
                    &actor,
                    name.as_str(),
                    input.parent_id.map(|id| id.0),
                )
                .await?,
        )))
    }
}

/// `setEmployeeCompensation` and `updateEmployeeCompensation`.
async fn set_compensation(
    ctx: &Context<'_>,
    employee_id: ID,
    salary: Salary,
    bank_account: Option<String>,
    tax_id: Option<String>,
) -> Result<Option<Employee>> {
    let tenant = ctx.tenant()?;
    let actor = ctx.claims()?.sub.clone();
    let change = CompensationChange {
        salary,
        bank_account: bank_account
            .as_deref()
            .map(parse_bank_account)
            .transpose()?,
        tax_id: tax_id.as_deref().map(parse_tax_id).transpose()?,
    };
    Ok(Some(Employee(
        ctx.use_cases::<UseCases>()?
            .set_compensation(&tenant, &actor, &employee_id, change)
            .await?,
    )))
}

/// What the viewer may do with an employee record (so clients show only what works).
#[derive(SimpleObject)]
pub struct EmployeeViewerCan {
    /// Sees the full record (own record, a report's, or HR).
    pub view_full_record: bool,
    /// Sees the employee's attendance and corrections.
    pub view_attendance: bool,
    /// May edit the profile (self, HR, `employee:write`).
    pub edit_profile: bool,
    /// May change the employee's manager (`hr:admin`).
    pub set_manager: bool,
    /// May approve or reject the employee's attendance corrections (a manager above them or
    /// HR; never the employee themself).
    pub approve_attendance_correction: bool,
    /// May request a correction of the employee's attendance (the employee themself).
    pub request_attendance_correction: bool,
    /// May read salary, bank account and tax id (`hr:admin`).
    pub view_compensation: bool,
}

impl From<Permissions> for EmployeeViewerCan {
    fn from(p: Permissions) -> Self {
        Self {
            view_full_record: p.view_full_record,
            view_attendance: p.view_attendance,
            edit_profile: p.edit_profile,
            set_manager: p.set_manager,
            approve_attendance_correction: p.approve_attendance_correction,
            request_attendance_correction: p.request_attendance_correction,
            view_compensation: p.view_compensation,
        }
    }
}

/// What a correction fixes.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CorrectionKind {
    /// A check-in or check-out was not recorded.
    MissedPunch,
    /// A punch was recorded at the wrong time.
    WrongTime,
    /// Anything else (explained in the reason).
    Other,
}

impl CorrectionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionKind::MissedPunch => "missed_punch",
            CorrectionKind::WrongTime => "wrong_time",
            CorrectionKind::Other => "other",
        }
    }

    fn from_db(value: &str) -> Self {
        match value {
            "missed_punch" => CorrectionKind::MissedPunch,
            "wrong_time" => CorrectionKind::WrongTime,
            _ => CorrectionKind::Other,
        }
    }
}

/// Where a correction stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Hash, Debug)]
pub enum CorrectionStatus {
    /// Waiting for a manager or HR.
    Pending,
    /// Approved and applied.
    Approved,
    /// Rejected.
    Rejected,
}

impl CorrectionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionStatus::Pending => "pending",
            CorrectionStatus::Approved => "approved",
            CorrectionStatus::Rejected => "rejected",
        }
    }

    fn from_db(value: &str) -> Self {
        match value {
            "approved" => CorrectionStatus::Approved,
            "rejected" => CorrectionStatus::Rejected,
            _ => CorrectionStatus::Pending,
        }
    }
}

/// A correction of one day's attendance, and its decision.
pub struct AttendanceCorrection(pub correction::Model);

/// A correction of one day's attendance (a missed punch, a wrong time) an employee asked
/// for, and its decision by a manager above them or HR.
#[Object]
impl AttendanceCorrection {
    /// Stable id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The employee whose day it corrects.
    async fn employee(&self, ctx: &Context<'_>) -> Result<Option<Employee>> {
        load_employee(ctx, &self.0.employee_id).await
    }
    /// The attendance day corrected.
    async fn day(&self) -> Result<Date> {
        Date::parse(&self.0.day).ok_or_else(|| {
            ApiError::internal(format!("a correction of the day `{}`", self.0.day)).into()
        })
    }
    /// What it fixes.
    async fn kind(&self) -> CorrectionKind {
        CorrectionKind::from_db(&self.0.kind)
    }
    /// The corrected check-in.
    async fn check_in(&self) -> DateTime {
        millis(self.0.check_in_at)
    }
    /// The corrected check-out.
    async fn check_out(&self) -> DateTime {
        millis(self.0.check_out_at)
    }
    /// Why it was asked for.
    async fn reason(&self) -> &str {
        &self.0.reason
    }
    /// Where it stands.
    async fn status(&self) -> CorrectionStatus {
        CorrectionStatus::from_db(&self.0.status)
    }
    /// When it was asked for.
    async fn requested_at(&self) -> DateTime {
        millis(self.0.created_at)
    }
    /// The user who decided it.
    async fn decided_by(&self) -> Option<ID> {
        self.0.decided_by.clone().map(ID)
    }
    /// The user who decided it.
    async fn decider(&self) -> Option<User> {
        self.0.decided_by.clone().map(|id| User { id })
    }
    /// The decision's note.
    async fn decision_note(&self) -> Option<&str> {
        self.0.decision_note.as_deref()
    }
    /// When it was decided.
    async fn decided_at(&self) -> Option<DateTime> {
        self.0.decided_at.map(millis)
    }
}
