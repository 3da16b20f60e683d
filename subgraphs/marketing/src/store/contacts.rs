//! Contacts, consent records, double opt-in requests, topics and the suppression list.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
};

use erp_kit::db::insert_unless_present;
use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{behaviour, consent, contact, contact_topic, opt_in, suppression, topic};
use super::IN_LIST_CHUNK;

pub async fn insert(
    db: &impl ConnectionTrait,
    model: contact::Model,
) -> Result<contact::Model, DbErr> {
    contact::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(model)
}

pub async fn contact(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<contact::Model>, DbErr> {
    contact::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// A contact, locked for the rest of the transaction (PostgreSQL `FOR UPDATE`).
pub async fn lock(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<contact::Model>, DbErr> {
    use sea_orm::QuerySelect;
    contact::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .lock_exclusive()
        .one(db)
        .await
}

/// Every contact with this address hash (duplicates included).
pub async fn by_address_hash(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    hash: &str,
) -> Result<Vec<contact::Model>, DbErr> {
    contact::Entity::find()
        .filter(contact::Column::TenantId.eq(tenant.as_str()))
        .filter(contact::Column::AddressHash.eq(hash))
        .all(db)
        .await
}

pub async fn by_ids(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    ids: &[String],
) -> Result<HashMap<String, contact::Model>, DbErr> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        for model in contact::Entity::find()
            .filter(contact::Column::TenantId.eq(tenant.as_str()))
            .filter(contact::Column::Id.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.id.clone(), model);
        }
    }
    Ok(found)
}

/// One page of the tenant's contacts, in id order.
pub async fn page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<contact::Model>, DbErr> {
    let query = contact::Entity::find().filter(contact::Column::TenantId.eq(tenant.as_str()));
    keyset_page(query, contact::Column::Id, page).all(db).await
}

/// Every contact of the tenant (the full rebuild reads them all).
pub async fn all(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<contact::Model>, DbErr> {
    contact::Entity::find()
        .filter(contact::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await
}

pub async fn update(
    db: &impl ConnectionTrait,
    model: contact::Model,
) -> Result<contact::Model, DbErr> {
    use sea_orm::ActiveModelTrait;
    model.into_active_model().reset_all().update(db).await
}

pub async fn insert_consent(db: &impl ConnectionTrait, model: consent::Model) -> Result<(), DbErr> {
    consent::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// A contact's consent records, oldest first.
pub async fn consents_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<Vec<consent::Model>, DbErr> {
    consent::Entity::find()
        .filter(consent::Column::TenantId.eq(tenant.as_str()))
        .filter(consent::Column::ContactId.eq(contact_id))
        .order_by_asc(consent::Column::RecordedAt)
        .order_by_asc(consent::Column::Id)
        .all(db)
        .await
}

/// The consent records of these contacts, per contact, oldest first.
pub async fn consents_of_many(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_ids: &[String],
) -> Result<HashMap<String, Vec<consent::Model>>, DbErr> {
    let mut found: HashMap<String, Vec<consent::Model>> = HashMap::new();
    for chunk in contact_ids.chunks(IN_LIST_CHUNK) {
        for model in consent::Entity::find()
            .filter(consent::Column::TenantId.eq(tenant.as_str()))
            .filter(consent::Column::ContactId.is_in(chunk.iter().cloned()))
            .order_by_asc(consent::Column::RecordedAt)
            .order_by_asc(consent::Column::Id)
            .all(db)
            .await?
        {
            found
                .entry(model.contact_id.clone())
                .or_default()
                .push(model);
        }
    }
    Ok(found)
}

pub async fn insert_opt_in(db: &impl ConnectionTrait, model: opt_in::Model) -> Result<(), DbErr> {
    opt_in::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn opt_in(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<opt_in::Model>, DbErr> {
    opt_in::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

pub async fn confirm_opt_in(db: &impl ConnectionTrait, model: opt_in::Model) -> Result<(), DbErr> {
    use sea_orm::ActiveModelTrait;
    model.into_active_model().reset_all().update(db).await?;
    Ok(())
}

/// Puts a pending double opt-in consent record in force: confirmed now, by what and from
/// where (answers whether it was still pending).
pub async fn confirm_consent(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at: i64,
    source: &str,
    address: Option<&str>,
) -> Result<bool, DbErr> {
    Ok(consent::Entity::update_many()
        .col_expr(consent::Column::Confirmation, CONFIRMED.into())
        .col_expr(consent::Column::ConfirmedAt, at.into())
        .col_expr(consent::Column::ConfirmedSource, source.into())
        .col_expr(consent::Column::ConfirmedAddress, address.into())
        .filter(consent::Column::TenantId.eq(tenant.as_str()))
        .filter(consent::Column::Id.eq(id))
        .filter(consent::Column::Confirmation.eq(PENDING))
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// A consent record's confirmation states.
pub const PENDING: &str = "pending";
pub const CONFIRMED: &str = "confirmed";

/// Opt-in requests (any tenant) whose confirmation mail is still to send, requested at or
/// before `requested_before`, oldest first: the sender's retries.
pub async fn unmailed_opt_ins(
    db: &impl ConnectionTrait,
    requested_before: i64,
    max_attempts: i32,
    limit: u64,
) -> Result<Vec<opt_in::Model>, DbErr> {
    use sea_orm::QuerySelect;
    opt_in::Entity::find()
        .filter(opt_in::Column::MailedAt.is_null())
        .filter(opt_in::Column::ConfirmedAt.is_null())
        .filter(opt_in::Column::RequestedAt.lte(requested_before))
        .filter(opt_in::Column::MailAttempts.lt(max_attempts))
        .order_by_asc(opt_in::Column::RequestedAt)
        .limit(limit)
        .all(db)
        .await
}

/// Claims the sending of an opt-in's confirmation mail (answers whether this caller got it:
/// the mail is handed off at most once per claim).
pub async fn claim_opt_in_mail(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
    at: i64,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    Ok(opt_in::Entity::update_many()
        .col_expr(opt_in::Column::MailedAt, at.into())
        .col_expr(
            opt_in::Column::MailAttempts,
            Expr::col(opt_in::Column::MailAttempts).add(1),
        )
        .filter(opt_in::Column::TenantId.eq(tenant.as_str()))
        .filter(opt_in::Column::Id.eq(id))
        .filter(opt_in::Column::MailedAt.is_null())
        .exec(db)
        .await?
        .rows_affected
        == 1)
}

/// Gives a claimed confirmation mail back after the relay refused it (the sender retries).
pub async fn release_opt_in_mail(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<(), DbErr> {
    opt_in::Entity::update_many()
        .col_expr(opt_in::Column::MailedAt, Option::<i64>::None.into())
        .filter(opt_in::Column::TenantId.eq(tenant.as_str()))
        .filter(opt_in::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert_topic(db: &impl ConnectionTrait, model: topic::Model) -> Result<(), DbErr> {
    topic::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn topics(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<topic::Model>, DbErr> {
    topic::Entity::find()
        .filter(topic::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(topic::Column::Key)
        .all(db)
        .await
}

/// Sets a contact's choice for a topic.
pub async fn set_topic(
    db: &impl ConnectionTrait,
    model: contact_topic::Model,
) -> Result<(), DbErr> {
    contact_topic::Entity::insert(model.into_active_model())
        .on_conflict(
            OnConflict::columns([
                contact_topic::Column::TenantId,
                contact_topic::Column::ContactId,
                contact_topic::Column::Topic,
            ])
            .update_columns([
                contact_topic::Column::Subscribed,
                contact_topic::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The topics these contacts are subscribed to, per contact.
pub async fn subscribed_topics(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_ids: &[String],
) -> Result<HashMap<String, BTreeSet<String>>, DbErr> {
    let mut found: HashMap<String, BTreeSet<String>> = HashMap::new();
    for chunk in contact_ids.chunks(IN_LIST_CHUNK) {
        for model in contact_topic::Entity::find()
            .filter(contact_topic::Column::TenantId.eq(tenant.as_str()))
            .filter(contact_topic::Column::ContactId.is_in(chunk.iter().cloned()))
            .filter(contact_topic::Column::Subscribed.eq(true))
            .all(db)
            .await?
        {
            found
                .entry(model.contact_id)
                .or_default()
                .insert(model.topic);
        }
    }
    Ok(found)
}

/// Suppresses a hash (a hash already suppressed keeps its first reason).
pub async fn suppress(db: &impl ConnectionTrait, model: suppression::Model) -> Result<(), DbErr> {
    insert_unless_present(
        db,
        suppression::Entity,
        model,
        [
            suppression::Column::TenantId,
            suppression::Column::AddressHash,
        ],
    )
    .await?;
    Ok(())
}

pub async fn suppression(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    hash: &str,
) -> Result<Option<suppression::Model>, DbErr> {
    suppression::Entity::find_by_id((tenant.as_str().to_owned(), hash.to_owned()))
        .one(db)
        .await
}

pub async fn lift_suppression(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    hash: &str,
) -> Result<(), DbErr> {
    suppression::Entity::delete_many()
        .filter(suppression::Column::TenantId.eq(tenant.as_str()))
        .filter(suppression::Column::AddressHash.eq(hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Which of these address hashes are on the tenant's suppression list.
pub async fn suppressed_among(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    hashes: &[String],
) -> Result<BTreeSet<String>, DbErr> {
    let mut found = BTreeSet::new();
    for chunk in hashes.chunks(IN_LIST_CHUNK) {
        for model in suppression::Entity::find()
            .filter(suppression::Column::TenantId.eq(tenant.as_str()))
            .filter(suppression::Column::AddressHash.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found.insert(model.address_hash);
        }
    }
    Ok(found)
}

/// The tenant's suppression list, newest first.
pub async fn suppressions(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<suppression::Model>, DbErr> {
    suppression::Entity::find()
        .filter(suppression::Column::TenantId.eq(tenant.as_str()))
        .order_by_desc(suppression::Column::CreatedAt)
        .order_by_asc(suppression::Column::AddressHash)
        .all(db)
        .await
}

pub async fn insert_behaviour(
    db: &impl ConnectionTrait,
    model: behaviour::Model,
) -> Result<(), DbErr> {
    behaviour::Entity::insert(model.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The behaviour of these contacts, per contact.
pub async fn behaviour_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_ids: &[String],
) -> Result<HashMap<String, Vec<behaviour::Model>>, DbErr> {
    let mut found: HashMap<String, Vec<behaviour::Model>> = HashMap::new();
    for chunk in contact_ids.chunks(IN_LIST_CHUNK) {
        for model in behaviour::Entity::find()
            .filter(behaviour::Column::TenantId.eq(tenant.as_str()))
            .filter(behaviour::Column::ContactId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            found
                .entry(model.contact_id.clone())
                .or_default()
                .push(model);
        }
    }
    Ok(found)
}

/// Erases a contact's consent-free personal data: nothing but ids remain of their behaviour.
pub async fn erase_behaviour(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<(), DbErr> {
    behaviour::Entity::delete_many()
        .filter(behaviour::Column::TenantId.eq(tenant.as_str()))
        .filter(behaviour::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    contact_topic::Entity::delete_many()
        .filter(contact_topic::Column::TenantId.eq(tenant.as_str()))
        .filter(contact_topic::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many contacts withdrew consent from this source (`one_click:<campaign>`: the campaign's
/// unsubscribes; the consent log keeps them even after a re-opt-in).
pub async fn withdrawals_from(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    source: &str,
) -> Result<u64, DbErr> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    consent::Entity::find()
        .select_only()
        .column(consent::Column::ContactId)
        .distinct()
        .filter(consent::Column::TenantId.eq(tenant.as_str()))
        .filter(consent::Column::Source.eq(source))
        .filter(consent::Column::Granted.eq(false))
        .count(db)
        .await
}
