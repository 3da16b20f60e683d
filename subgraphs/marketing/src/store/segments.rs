//! Segments, their references, static list members and the stored membership.

use std::collections::{BTreeSet, HashMap};

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder,
};

use erp_kit::pagination::{keyset_page, PageRequest};
use erp_kit::TenantId;

use super::entities::{list_member, segment, segment_member, segment_ref};

pub async fn insert(
    db: &impl ConnectionTrait,
    model: segment::Model,
    refs: &BTreeSet<String>,
) -> Result<(), DbErr> {
    segment::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(db)
        .await?;
    for reference in refs {
        segment_ref::Entity::insert(
            segment_ref::Model {
                tenant_id: model.tenant_id.clone(),
                segment_id: model.id.clone(),
                ref_segment_id: reference.clone(),
            }
            .into_active_model(),
        )
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

pub async fn segment(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<segment::Model>, DbErr> {
    segment::Entity::find_by_id((tenant.as_str().to_owned(), id.to_owned()))
        .one(db)
        .await
}

/// Every segment of the tenant, in id order.
pub async fn all(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<Vec<segment::Model>, DbErr> {
    segment::Entity::find()
        .filter(segment::Column::TenantId.eq(tenant.as_str()))
        .order_by_asc(segment::Column::Id)
        .all(db)
        .await
}

/// Every static list's members, per list.
pub async fn list_members(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
) -> Result<HashMap<String, BTreeSet<String>>, DbErr> {
    let mut found: HashMap<String, BTreeSet<String>> = HashMap::new();
    for model in list_member::Entity::find()
        .filter(list_member::Column::TenantId.eq(tenant.as_str()))
        .all(db)
        .await?
    {
        found
            .entry(model.segment_id)
            .or_default()
            .insert(model.contact_id);
    }
    Ok(found)
}

pub async fn add_list_member(
    db: &impl ConnectionTrait,
    model: list_member::Model,
) -> Result<(), DbErr> {
    list_member::Entity::insert(model.into_active_model())
        .on_conflict(
            OnConflict::columns([
                list_member::Column::TenantId,
                list_member::Column::SegmentId,
                list_member::Column::ContactId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn remove_list_member(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
    contact_id: &str,
) -> Result<(), DbErr> {
    list_member::Entity::delete_many()
        .filter(list_member::Column::TenantId.eq(tenant.as_str()))
        .filter(list_member::Column::SegmentId.eq(segment_id))
        .filter(list_member::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    Ok(())
}

/// The segments a contact is stored as a member of.
pub async fn memberships_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<BTreeSet<String>, DbErr> {
    Ok(segment_member::Entity::find()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::ContactId.eq(contact_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.segment_id)
        .collect())
}

/// Every stored member of a segment.
pub async fn members(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
) -> Result<BTreeSet<String>, DbErr> {
    Ok(segment_member::Entity::find()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.contact_id)
        .collect())
}

/// One page of a segment's stored members (contact ids, in order).
pub async fn members_page(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
    page: &PageRequest,
) -> Result<Vec<String>, DbErr> {
    let query = segment_member::Entity::find()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::SegmentId.eq(segment_id));
    Ok(keyset_page(query, segment_member::Column::ContactId, page)
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.contact_id)
        .collect())
}

pub async fn member_count(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
) -> Result<u64, DbErr> {
    segment_member::Entity::find()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .count(db)
        .await
}

pub async fn add_member(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
    contact_id: &str,
) -> Result<(), DbErr> {
    segment_member::Entity::insert(
        segment_member::Model {
            tenant_id: tenant.as_str().to_owned(),
            segment_id: segment_id.to_owned(),
            contact_id: contact_id.to_owned(),
        }
        .into_active_model(),
    )
    .on_conflict(
        OnConflict::columns([
            segment_member::Column::TenantId,
            segment_member::Column::SegmentId,
            segment_member::Column::ContactId,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn remove_member(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    segment_id: &str,
    contact_id: &str,
) -> Result<(), DbErr> {
    segment_member::Entity::delete_many()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::SegmentId.eq(segment_id))
        .filter(segment_member::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Removes a contact from every list and every stored membership (erasure).
pub async fn remove_contact_everywhere(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    contact_id: &str,
) -> Result<(), DbErr> {
    list_member::Entity::delete_many()
        .filter(list_member::Column::TenantId.eq(tenant.as_str()))
        .filter(list_member::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    segment_member::Entity::delete_many()
        .filter(segment_member::Column::TenantId.eq(tenant.as_str()))
        .filter(segment_member::Column::ContactId.eq(contact_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Replaces a segment's filter and references.
pub async fn update(
    db: &impl ConnectionTrait,
    model: segment::Model,
    refs: &BTreeSet<String>,
) -> Result<(), DbErr> {
    use sea_orm::ActiveModelTrait;
    segment_ref::Entity::delete_many()
        .filter(segment_ref::Column::TenantId.eq(model.tenant_id.as_str()))
        .filter(segment_ref::Column::SegmentId.eq(model.id.as_str()))
        .exec(db)
        .await?;
    for reference in refs {
        segment_ref::Entity::insert(
            segment_ref::Model {
                tenant_id: model.tenant_id.clone(),
                segment_id: model.id.clone(),
                ref_segment_id: reference.clone(),
            }
            .into_active_model(),
        )
        .exec_without_returning(db)
        .await?;
    }
    model.into_active_model().reset_all().update(db).await?;
    Ok(())
}
