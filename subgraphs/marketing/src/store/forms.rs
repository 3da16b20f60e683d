//! Web forms and their submissions.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{form, form_origin, form_submission};

pub async fn insert(db: &impl ConnectionTrait, model: form::Model) -> Result<form::Model, DbErr> {
    form::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn form(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<form::Model>, DbErr> {
    form::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// The form a public key names, of whichever tenant: the key is what tells a submission's
/// tenant (the website posts without a session). Keys are unique across tenants.
pub async fn by_public_key(
    db: &impl ConnectionTrait,
    public_key: &str,
) -> Result<Option<form::Model>, DbErr> {
    form::Entity::find()
        .filter(form::Column::PublicKey.eq(public_key))
        .one(db)
        .await
}

pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<form::Model>, DbErr> {
    let query = form::Entity::find().filter(form::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, form::Column::Id, page).all(db).await
}

pub async fn set_status(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    status: &str,
    now: i64,
) -> Result<u64, DbErr> {
    Ok(form::Entity::update_many()
        .col_expr(form::Column::Status, Expr::value(status))
        .col_expr(form::Column::UpdatedAt, Expr::value(now))
        .filter(form::Column::TenantId.eq(tenant.as_str()))
        .filter(form::Column::Id.eq(id))
        .exec(db)
        .await?
        .rows_affected)
}

pub async fn insert_submission(
    db: &impl ConnectionTrait,
    model: form_submission::Model,
) -> Result<(), DbErr> {
    form_submission::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A form's submissions, newest first (at most `limit`).
pub async fn submissions(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    form_id: &str,
    limit: u64,
) -> Result<Vec<form_submission::Model>, DbErr> {
    use sea_orm::QuerySelect;
    form_submission::Entity::find()
        .filter(form_submission::Column::TenantId.eq(tenant.as_str()))
        .filter(form_submission::Column::FormId.eq(form_id))
        .order_by_desc(form_submission::Column::SubmittedAt)
        .order_by_desc(form_submission::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Empties the values of a contact's submissions (GDPR erasure keeps that they happened).
pub async fn erase_submissions_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<(), DbErr> {
    form_submission::Entity::update_many()
        .col_expr(form_submission::Column::Fields, Expr::value(None::<String>))
        .filter(form_submission::Column::TenantId.eq(tenant.as_str()))
        .filter(form_submission::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The origins allowed to post the tenant's forms from a script, sorted.
pub async fn origins(db: &impl ConnectionTrait, tenant: &TenantId) -> Result<Vec<String>, DbErr> {
    Ok(form_origin::Entity::find()
        .filter(form_origin::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(form_origin::Column::Origin)
        .all(db)
        .await?
        .into_iter()
        .map(|o| o.origin)
        .collect())
}

/// Replaces the tenant's allowed origins.
pub async fn replace_origins(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    rows: Vec<form_origin::Model>,
) -> Result<(), DbErr> {
    form_origin::Entity::delete_many()
        .filter(form_origin::Column::TenantId.eq(tenant.as_str()))
        .exec(db)
        .await?;
    if !rows.is_empty() {
        form_origin::Entity::insert_many(rows.into_iter().map(IntoActiveModel::into_active_model))
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}
