//! What finance keeps of the CRM's clients (their newest applied version, the merges it
//! followed) and the partner-mapping writes that follow a rename, a merge or its undo.
//! Posted documents and journal lines are never written here.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

use erp_kit::TenantId;

use super::entities::crm_clients::{client_merge, crm_client};
use super::entities::partner;

/// The merge's state once applied.
pub const MERGED: &str = "merged";
/// The merge's state once undone (also a merge whose undo arrived first).
pub const UNDONE: &str = "undone";

/// The newest version of the CRM client finance applied, if any.
pub async fn client<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    client_id: &str,
) -> Result<Option<crm_client::Model>, DbErr> {
    crm_client::Entity::find_by_id((tenant.as_str().to_owned(), client_id.to_owned()))
        .one(conn)
        .await
}

/// Remembers the CRM client's newest applied version and name.
pub async fn save_client<C: ConnectionTrait>(
    conn: &C,
    row: crm_client::Model,
) -> Result<(), DbErr> {
    crm_client::Entity::insert(crm_client::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([crm_client::Column::TenantId, crm_client::Column::ClientId])
                .update_columns([
                    crm_client::Column::Name,
                    crm_client::Column::Version,
                    crm_client::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Every partner (customer or supplier) mapped to the CRM client, oldest first.
pub async fn partners_of_client<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    client_id: &str,
) -> Result<Vec<partner::Model>, DbErr> {
    partner::Entity::find()
        .filter(partner::Column::TenantId.eq(tenant.as_str()))
        .filter(partner::Column::ClientId.eq(client_id))
        .order_by_asc(partner::Column::CreatedAt)
        .order_by_asc(partner::Column::Id)
        .all(conn)
        .await
}

/// The ids of the customer partners mapped to the CRM client (its own, and those of the
/// clients merged into it), oldest first.
pub async fn customer_ids_of_client<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    client_id: &str,
) -> Result<Vec<String>, DbErr> {
    Ok(partners_of_client(conn, tenant, client_id)
        .await?
        .into_iter()
        .filter(|partner| partner.kind == "customer")
        .map(|partner| partner.id)
        .collect())
}

/// Names every partner of the CRM client `name`; how many changed.
pub async fn rename_partners_of_client<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    client_id: &str,
    name: &str,
) -> Result<u64, DbErr> {
    Ok(partner::Entity::update_many()
        .col_expr(partner::Column::Name, Expr::value(name))
        .filter(partner::Column::TenantId.eq(tenant.as_str()))
        .filter(partner::Column::ClientId.eq(client_id))
        .filter(partner::Column::Name.ne(name))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Maps one partner to a CRM client under a name.
pub async fn map_partner<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    partner_id: &str,
    client_id: &str,
    name: &str,
) -> Result<(), DbErr> {
    partner::Entity::update_many()
        .col_expr(partner::Column::ClientId, Expr::value(client_id))
        .col_expr(partner::Column::Name, Expr::value(name))
        .filter(partner::Column::TenantId.eq(tenant.as_str()))
        .filter(partner::Column::Id.eq(partner_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A CRM merge as finance applied it (or knows undone).
pub async fn merge<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    merge_id: &str,
) -> Result<Option<client_merge::Model>, DbErr> {
    client_merge::Entity::find_by_id((tenant.as_str().to_owned(), merge_id.to_owned()))
        .one(conn)
        .await
}

/// Writes a merge's row (new, or its new state).
pub async fn save_merge<C: ConnectionTrait>(
    conn: &C,
    row: client_merge::Model,
) -> Result<(), DbErr> {
    client_merge::Entity::insert(client_merge::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([
                client_merge::Column::TenantId,
                client_merge::Column::MergeId,
            ])
            .update_columns([
                client_merge::Column::State,
                client_merge::Column::Moved,
                client_merge::Column::MergedAt,
                client_merge::Column::UndoneAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The client a merged-away CRM client was merged into, while that merge stands.
pub async fn merged_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    client_id: &str,
) -> Result<Option<String>, DbErr> {
    Ok(client_merge::Entity::find()
        .filter(client_merge::Column::TenantId.eq(tenant.as_str()))
        .filter(client_merge::Column::SourceClientId.eq(client_id))
        .filter(client_merge::Column::State.eq(MERGED))
        .order_by_desc(client_merge::Column::MergedAt)
        .one(conn)
        .await?
        .map(|merge| merge.target_client_id))
}

/// The standing merges into the CRM client `target_client_id` (each with the partners it
/// moved there).
pub async fn standing_merges_into<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    target_client_id: &str,
) -> Result<Vec<client_merge::Model>, DbErr> {
    client_merge::Entity::find()
        .filter(client_merge::Column::TenantId.eq(tenant.as_str()))
        .filter(client_merge::Column::TargetClientId.eq(target_client_id))
        .filter(client_merge::Column::State.eq(MERGED))
        .all(conn)
        .await
}
