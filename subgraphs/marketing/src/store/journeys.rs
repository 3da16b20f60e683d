//! Journeys, their enrolments (leased by the sender like messages: `FOR UPDATE SKIP LOCKED`
//! on PostgreSQL, SQLite has one writer) and each step's outcome.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement,
};

use erp_kit::db::insert_unless_present;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{enrollment, journey, journey_step, journey_version};
use super::lease::{lease_by_keys, LeaseByKeys};

pub async fn insert(db: &impl ConnectionTrait, model: journey::Model) -> Result<(), DbErr> {
    journey::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn journey(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<journey::Model>, DbErr> {
    journey::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// A journey, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`).
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<journey::Model>, DbErr> {
    journey::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .lock_exclusive()
        .one(db)
        .await
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: journey::Model,
) -> Result<journey::Model, DbErr> {
    model.into_active_model().reset_all().update(db).await
}

pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<journey::Model>, DbErr> {
    let query = journey::Entity::find().filter(journey::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, journey::Column::Id, page).all(db).await
}

/// The tenant's active journeys a trigger of `kind` naming one of `references` starts
/// (`any_reference`: also those naming nothing, e.g. a form trigger for any form).
pub async fn triggered(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    kind: &str,
    references: &[String],
    any_reference: bool,
) -> Result<Vec<journey::Model>, DbErr> {
    let mut which = Condition::any().add(journey::Column::TriggerRef.is_in(references.to_vec()));
    if any_reference {
        which = which.add(journey::Column::TriggerRef.is_null());
    }
    journey::Entity::find()
        .filter(journey::Column::TenantId.eq(tenant.as_str()))
        .filter(journey::Column::TriggerKind.eq(kind))
        .filter(journey::Column::Status.eq("active"))
        .filter(which)
        .all(db)
        .await
}

/// Enrols a contact (a second enrolment in the same journey does nothing); answers whether it
/// was new.
pub async fn enroll(db: &impl ConnectionTrait, model: enrollment::Model) -> Result<bool, DbErr> {
    insert_unless_present(
        db,
        enrollment::Entity,
        model,
        [
            enrollment::Column::TenantId,
            enrollment::Column::JourneyId,
            enrollment::Column::ContactId,
        ],
    )
    .await
}

/// Leases up to `limit` active enrolments of active journeys due at `now_ms` (not leased, or
/// whose lease expired) to `worker` until `lease_until`; answers them, the most overdue first.
/// One statement (store/lease.rs).
pub async fn lease_due(
    db: &impl ConnectionTrait,
    worker: &str,
    now_ms: i64,
    lease_until: i64,
    limit: u64,
) -> Result<Vec<enrollment::Model>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n| super::queue::param(backend, n);
    let keys_sql = format!(
        "SELECT e.tenant_id, e.id FROM mkt_journey_enrollments e JOIN mkt_journeys j \
         ON j.tenant_id = e.tenant_id AND j.id = e.journey_id \
         WHERE j.status = 'active' AND e.status = 'active' AND e.due_at <= {} \
         AND (e.lease_until IS NULL OR e.lease_until < {}) \
         ORDER BY e.due_at, e.id LIMIT {}{{lock}}",
        p(1),
        p(2),
        p(3)
    );
    let mut leased = lease_by_keys::<enrollment::Entity>(
        db,
        LeaseByKeys {
            table: "mkt_journey_enrollments",
            alias: "e",
            keys_sql,
            keys_values: vec![now_ms.into(), now_ms.into(), (limit as i64).into()],
            set: vec![
                ("lease_until", lease_until.into()),
                ("leased_by", worker.into()),
            ],
        },
    )
    .await?;
    leased.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
    Ok(leased)
}

/// An enrolment still leased by `worker`, locked for the rest of the transaction.
pub async fn lock_leased(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    worker: &str,
) -> Result<Option<enrollment::Model>, DbErr> {
    enrollment::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .filter(enrollment::Column::LeasedBy.eq(worker))
        .lock_exclusive()
        .one(db)
        .await
}

/// Writes an enrolment back (its lease given up).
pub async fn save_enrollment(
    db: &impl ConnectionTrait,
    mut model: enrollment::Model,
) -> Result<enrollment::Model, DbErr> {
    model.lease_until = None;
    model.leased_by = None;
    model.into_active_model().reset_all().update(db).await
}

/// Records what a step did (a repeat of the same step changes nothing).
pub async fn record_step(
    db: &impl ConnectionTrait,
    model: journey_step::Model,
) -> Result<(), DbErr> {
    insert_unless_present(
        db,
        journey_step::Entity,
        model,
        [
            journey_step::Column::TenantId,
            journey_step::Column::EnrollmentId,
            journey_step::Column::Position,
        ],
    )
    .await?;
    Ok(())
}

/// A journey's enrolments, oldest first.
pub async fn enrollments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
    limit: u64,
) -> Result<Vec<enrollment::Model>, DbErr> {
    enrollment::Entity::find()
        .filter(enrollment::Column::TenantId.eq(tenant.as_str()))
        .filter(enrollment::Column::JourneyId.eq(journey_id))
        .order_by_asc(enrollment::Column::EnrolledAt)
        .order_by_asc(enrollment::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The steps an enrolment went through, in order.
pub async fn steps_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    enrollment_id: &str,
) -> Result<Vec<journey_step::Model>, DbErr> {
    journey_step::Entity::find()
        .filter(journey_step::Column::TenantId.eq(tenant.as_str()))
        .filter(journey_step::Column::EnrollmentId.eq(enrollment_id))
        .order_by_asc(journey_step::Column::Position)
        .all(db)
        .await
}

/// Stores a version of a journey's steps.
pub async fn insert_version(
    db: &impl ConnectionTrait,
    model: journey_version::Model,
) -> Result<(), DbErr> {
    journey_version::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// One version of a journey's steps.
pub async fn version(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
    version: i32,
) -> Result<Option<journey_version::Model>, DbErr> {
    journey_version::Entity::find_by_id((
        tenant.as_str().to_owned(),
        journey_id.to_owned(),
        version,
    ))
    .one(db)
    .await
}

/// Every version of a journey's steps, oldest first.
pub async fn versions(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
) -> Result<Vec<journey_version::Model>, DbErr> {
    journey_version::Entity::find()
        .filter(journey_version::Column::TenantId.eq(tenant.as_str()))
        .filter(journey_version::Column::JourneyId.eq(journey_id))
        .order_by_asc(journey_version::Column::Version)
        .all(db)
        .await
}

/// Moves a journey's active enrolments to `version` (at the step they are at); answers how
/// many moved.
pub async fn move_active_enrollments(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
    version: i32,
) -> Result<u64, DbErr> {
    Ok(enrollment::Entity::update_many()
        .col_expr(enrollment::Column::JourneyVersion, version.into())
        .filter(enrollment::Column::TenantId.eq(tenant.as_str()))
        .filter(enrollment::Column::JourneyId.eq(journey_id))
        .filter(enrollment::Column::Status.eq("active"))
        .exec(db)
        .await?
        .rows_affected)
}

/// A page of a journey's enrolments in id order (ids are time-ordered: oldest first),
/// optionally only those of one status.
pub async fn enrollments_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<enrollment::Model>, DbErr> {
    let mut query = enrollment::Entity::find()
        .filter(enrollment::Column::TenantId.eq(tenant.as_str()))
        .filter(enrollment::Column::JourneyId.eq(journey_id));
    if let Some(status) = status {
        query = query.filter(enrollment::Column::Status.eq(status));
    }
    keyset_page(query, enrollment::Column::Id, page)
        .all(db)
        .await
}

/// How many of a journey's enrolments are in each status.
pub async fn enrollment_counts(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    journey_id: &str,
) -> Result<Vec<(String, i64)>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        status: String,
        enrollments: i64,
    }
    let backend = db.get_database_backend();
    let p = |n| super::queue::param(backend, n);
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        format!(
            "SELECT status, COUNT(*) AS enrollments FROM mkt_journey_enrollments \
             WHERE tenant_id = {} AND journey_id = {} GROUP BY status",
            p(1),
            p(2)
        ),
        [tenant.as_str().into(), journey_id.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.status, r.enrollments))
        .collect())
}
