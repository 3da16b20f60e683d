//! The team directory (`crm_team_members`), kept from the employee subgraph's events: who
//! signs in as whom, and who reports to whom.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

use erp_kit::TenantId;

use super::entities::team_member;
use super::IN_LIST_CHUNK;

/// A hire or a change of someone already known: the fields an event carries.
#[derive(Debug, Clone, Default)]
pub struct MemberChange {
    pub employee_id: String,
    /// `Some` replaces the stored value (a hire carries both; a manager change only the
    /// manager).
    pub user_id: Option<Option<String>>,
    pub manager_id: Option<Option<String>>,
    pub display_name: Option<String>,
    pub active: Option<bool>,
}

/// Applies `change` to the member (created if unknown: events of one employee may come before
/// their hire when a consumer starts on a compacted topic).
pub async fn apply(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    change: &MemberChange,
    now_ms: i64,
) -> Result<(), DbErr> {
    let existing = member(db, tenant, &change.employee_id).await?;
    let mut model = existing.unwrap_or(team_member::Model {
        tenant_id: tenant.as_str().to_owned(),
        employee_id: change.employee_id.clone(),
        user_id: None,
        manager_id: None,
        display_name: String::new(),
        active: true,
        updated_at: now_ms,
    });
    if let Some(user_id) = &change.user_id {
        model.user_id = user_id.clone();
    }
    if let Some(manager_id) = &change.manager_id {
        model.manager_id = manager_id.clone();
    }
    if let Some(name) = &change.display_name {
        model.display_name = name.clone();
    }
    if let Some(active) = change.active {
        model.active = active;
    }
    model.updated_at = now_ms;
    let active = team_member::ActiveModel {
        tenant_id: Set(model.tenant_id),
        employee_id: Set(model.employee_id),
        user_id: Set(model.user_id),
        manager_id: Set(model.manager_id),
        display_name: Set(model.display_name),
        active: Set(model.active),
        updated_at: Set(model.updated_at),
    };
    team_member::Entity::insert(active)
        .on_conflict(
            OnConflict::columns([
                team_member::Column::TenantId,
                team_member::Column::EmployeeId,
            ])
            .update_columns([
                team_member::Column::UserId,
                team_member::Column::ManagerId,
                team_member::Column::DisplayName,
                team_member::Column::Active,
                team_member::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

pub async fn member(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    employee_id: &str,
) -> Result<Option<team_member::Model>, DbErr> {
    team_member::Entity::find()
        .filter(team_member::Column::TenantId.eq(tenant.as_str()))
        .filter(team_member::Column::EmployeeId.eq(employee_id))
        .one(db)
        .await
}

/// The member a user signs in as (their active record first, after a rehire).
pub async fn member_of_user(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    user_id: &str,
) -> Result<Option<team_member::Model>, DbErr> {
    team_member::Entity::find()
        .filter(team_member::Column::TenantId.eq(tenant.as_str()))
        .filter(team_member::Column::UserId.eq(user_id))
        .order_by_desc(team_member::Column::Active)
        .one(db)
        .await
}

/// The direct reports of these managers (the members whose manager is one of them).
pub async fn reports_of(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    managers: &[String],
) -> Result<Vec<team_member::Model>, DbErr> {
    let mut found = Vec::new();
    for chunk in managers.chunks(IN_LIST_CHUNK) {
        found.extend(
            team_member::Entity::find()
                .filter(team_member::Column::TenantId.eq(tenant.as_str()))
                .filter(team_member::Column::ManagerId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The users among `users` who left: every member record of theirs is inactive (a rehire
/// has an active one). Assignment skips them. Users the directory does not know are not
/// listed (a tenant without an employee directory assigns to whoever its rules name).
pub async fn departed_users(
    db: &impl ConnectionTrait,
    tenant: &TenantId,
    users: &[String],
) -> Result<Vec<String>, DbErr> {
    let mut active_by_user: std::collections::BTreeMap<String, bool> = Default::default();
    for chunk in users.chunks(IN_LIST_CHUNK) {
        for member in team_member::Entity::find()
            .filter(team_member::Column::TenantId.eq(tenant.as_str()))
            .filter(team_member::Column::UserId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            if let Some(user) = member.user_id {
                *active_by_user.entry(user).or_default() |= member.active;
            }
        }
    }
    Ok(active_by_user
        .into_iter()
        .filter(|(_, active)| !active)
        .map(|(user, _)| user)
        .collect())
}
