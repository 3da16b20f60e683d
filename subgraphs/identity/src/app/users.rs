//! Users: invitations, roles, deactivation, and the bulk import of existing accounts.

use std::collections::HashMap;

use erp_kit::pagination::PageRequest;
use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, ApiResult, TenantId};

use super::login::hash_password;
use super::{duplicate_is, now_ms, Identity};
use crate::domain::password::NewPassword;
use crate::domain::users::{self as rules, UserName, UserStatus};
use crate::domain::{secrets, Violation};
use crate::events::{RoleAssigned, UserActivated, UserDeactivated, UserInvited, UsersImported};
use crate::store;
use crate::store::entities::user;
use crate::store::users::NewUser;

/// Users per import transaction (14 columns a row: far below the bind-parameter limits of
/// SQLite and PostgreSQL).
pub const IMPORT_BATCH: usize = 500;

/// One account of a bulk import (another system's users, the seed loader's people).
#[derive(Debug, Clone)]
pub struct ImportedUser {
    pub email: String,
    pub name: String,
    /// Copied into their tokens.
    pub departments: Vec<String>,
    /// A role of the tenant, by name (`Employee`, `Manager`, ...).
    pub role: String,
    /// Imports the user active, with this password. Without one the user is invited but holds
    /// no invitation token (nobody could receive it): they cannot log in until an
    /// administrator's process gives them a password.
    pub password: Option<String>,
}

/// What the import did with one [`ImportedUser`] (in input order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUserOutcome {
    pub id: String,
    /// Normalised (trimmed, lower case).
    pub email: String,
    /// False when the tenant held a user with this email already (left as it was).
    pub created: bool,
    /// Created active (a password was given).
    pub activated: bool,
}

/// One row of an import batch, parsed.
struct ParsedUser {
    email: EmailAddress,
    name: UserName,
    departments: Vec<String>,
    role_id: String,
    password: Option<NewPassword>,
}

impl Identity {
    /// A user of the tenant.
    pub async fn user(&self, tenant: &TenantId, id: &str) -> ApiResult<Option<user::Model>> {
        store::users::in_tenant(&self.db, tenant, id).await
    }

    /// A page of the tenant's users.
    pub async fn users(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> ApiResult<Vec<user::Model>> {
        store::users::page(&self.db, tenant, page).await
    }

    /// Invites a user: returns the user and the one-time invite token (sent by email in a
    /// deployment with a mailer; shown to the admin otherwise).
    pub async fn invite_user(
        &self,
        tenant: &TenantId,
        actor: &str,
        email: &str,
        name: &str,
        departments: Vec<String>,
        role_id: &str,
    ) -> ApiResult<(user::Model, String)> {
        let email = EmailAddress::parse("email", email)?;
        let name = UserName::parse(name)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        if store::roles::in_tenant(&txn, tenant, role_id)
            .await?
            .is_none()
        {
            return Err(Violation::RoleNotFound.into());
        }
        let token = secrets::random_token();
        let expires_at = now_ms() + self.config.invite_ttl.as_millis() as i64;
        let user = store::users::insert(
            &txn,
            NewUser {
                id: uuid::Uuid::now_v7().to_string(),
                tenant,
                email: email.as_str(),
                name: name.as_str(),
                departments: &departments,
                role_id,
                status: UserStatus::Invited,
                password_hash: None,
                invite: Some((secrets::hash_token(&token), expires_at)),
            },
        )
        .await
        .map_err(duplicate_is(Violation::EmailInUse))?;
        self.record(
            &txn,
            tenant.as_str(),
            &user.id,
            Some(actor),
            &UserInvited {
                email: &user.email,
                role_id,
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok((user, token))
    }

    /// Sets the password of an invited user, who becomes active.
    pub async fn accept_invite(
        &self,
        invite_token: &str,
        password: &str,
    ) -> ApiResult<user::Model> {
        let password = hash_password(NewPassword::parse(password)?).await?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let invited = store::users::by_invite_token_hash(&txn, &secrets::hash_token(invite_token))
            .await?
            .ok_or(Violation::InvitationInvalid)?;
        rules::check_invitation(invited.status(), invited.invite_expires_at, now_ms())?;
        let user = store::users::activate(&txn, invited, password).await?;
        self.record(
            &txn,
            &user.tenant_id,
            &user.id,
            Some(&user.id),
            &UserActivated::default(),
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Gives a user another role (effective from their next token).
    pub async fn assign_role(
        &self,
        tenant: &TenantId,
        actor: &str,
        user_id: &str,
        role_id: &str,
    ) -> ApiResult<user::Model> {
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let user = store::users::in_tenant(&txn, tenant, user_id)
            .await?
            .ok_or(Violation::UserNotFound)?;
        if store::roles::in_tenant(&txn, tenant, role_id)
            .await?
            .is_none()
        {
            return Err(Violation::RoleNotFound.into());
        }
        let previous = user.role_id.clone();
        let user = store::users::set_role(&txn, user, role_id).await?;
        self.record(
            &txn,
            tenant.as_str(),
            &user.id,
            Some(actor),
            &RoleAssigned {
                from: &previous,
                to: role_id,
            },
        )
        .await?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Deactivates a user and revokes every session (refresh-token family) they have, and the
    /// access tokens already out.
    pub async fn deactivate_user(
        &self,
        tenant: &TenantId,
        actor: &str,
        user_id: &str,
    ) -> ApiResult<user::Model> {
        rules::check_can_deactivate(actor, user_id)?;
        let txn = erp_kit::db::begin_write(&self.db).await?;
        let user = store::users::in_tenant(&txn, tenant, user_id)
            .await?
            .ok_or(Violation::UserNotFound)?;
        let user = store::users::deactivate(&txn, user).await?;
        let revoked = store::sessions::revoke_user(&txn, &user.id).await?;
        self.record(
            &txn,
            tenant.as_str(),
            &user.id,
            Some(actor),
            &UserDeactivated {
                sessions_revoked: revoked,
            },
        )
        .await?;
        // The access tokens already out: revoked everywhere before the deactivation commits.
        // If the cache cannot take it, nothing is committed (a revocation without the
        // deactivation only makes the user sign in again).
        erp_kit::auth::revocation::revoke_user(
            self.cache.as_ref(),
            tenant.as_str(),
            &user.id,
            // Beyond the verifiers' clock leeway (30 s by default).
            self.config.access_ttl + std::time::Duration::from_secs(60),
        )
        .await
        .map_err(|e| ApiError::internal(format!("cannot revoke the user's tokens: {e}")))?;
        txn.commit().await?;
        self.outbox.wake();
        Ok(user)
    }

    /// Imports accounts into the tenant, [`IMPORT_BATCH`] per transaction, idempotent by email:
    /// a user the tenant holds already is left as it is (an interrupted import is completed by
    /// running it again). An email that is another tenant's login name fails its batch
    /// (EMAIL_IN_USE), as does a malformed row or an unknown role; earlier batches stay.
    ///
    /// Events: one `users.imported` per batch that created users (the audit trail of a bulk
    /// load), not one `user.invited` per user.
    pub async fn import_users(
        &self,
        tenant: &TenantId,
        actor: &str,
        users: Vec<ImportedUser>,
    ) -> ApiResult<Vec<ImportedUserOutcome>> {
        let roles = store::roles::ids_by_name(&self.db, tenant).await?;
        let mut outcomes = Vec::with_capacity(users.len());
        for batch in users.chunks(IMPORT_BATCH) {
            let parsed = batch
                .iter()
                .map(|user| parse_imported(user, &roles))
                .collect::<ApiResult<Vec<_>>>()?;
            outcomes.extend(self.import_batch(tenant, actor, parsed).await?);
        }
        Ok(outcomes)
    }

    async fn import_batch(
        &self,
        tenant: &TenantId,
        actor: &str,
        mut batch: Vec<ParsedUser>,
    ) -> ApiResult<Vec<ImportedUserOutcome>> {
        let emails: Vec<String> = batch.iter().map(|u| u.email.as_str().to_owned()).collect();
        let email_refs: Vec<&str> = emails.iter().map(String::as_str).collect();
        // Argon2 is slow on purpose: hash outside the write transaction (SQLite has one
        // writer), only for users not there yet, and off the async workers.
        let known = store::users::by_emails(&self.db, &email_refs).await?;
        let to_hash: Vec<(usize, NewPassword)> = batch
            .iter_mut()
            .enumerate()
            .filter(|(_, u)| !known.iter().any(|k| k.email == u.email.as_str()))
            .filter_map(|(i, u)| u.password.take().map(|p| (i, p)))
            .collect();
        let hashes: HashMap<usize, String> = tokio::task::spawn_blocking(move || {
            to_hash
                .into_iter()
                .map(|(i, password)| password.hash().map(|hash| (i, hash)))
                .collect::<ApiResult<HashMap<_, _>>>()
        })
        .await
        .map_err(ApiError::internal)??;

        let txn = erp_kit::db::begin_write(&self.db).await?;
        // Read again inside the transaction: another writer may have created some meanwhile.
        let existing: HashMap<String, user::Model> = store::users::by_emails(&txn, &email_refs)
            .await?
            .into_iter()
            .map(|u| (u.email.clone(), u))
            .collect();
        // Emails created by this batch: the same email twice is one user.
        let mut created_here: HashMap<&str, String> = HashMap::new();
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut rows = Vec::new();
        for (i, user) in batch.iter().enumerate() {
            let email = user.email.as_str();
            let found = match existing.get(email) {
                Some(found) if found.tenant_id != tenant.as_str() => {
                    return Err(ApiError::from(Violation::EmailInUse).about(email));
                }
                Some(found) => Some(found.id.clone()),
                None => created_here.get(email).cloned(),
            };
            if let Some(id) = found {
                outcomes.push(ImportedUserOutcome {
                    id,
                    email: email.to_owned(),
                    created: false,
                    activated: false,
                });
                continue;
            }
            let id = uuid::Uuid::now_v7().to_string();
            let password_hash = hashes.get(&i).cloned();
            let activated = password_hash.is_some();
            created_here.insert(email, id.clone());
            outcomes.push(ImportedUserOutcome {
                id: id.clone(),
                email: email.to_owned(),
                created: true,
                activated,
            });
            rows.push(NewUser {
                id,
                tenant,
                email,
                name: user.name.as_str(),
                departments: &user.departments,
                role_id: &user.role_id,
                status: if activated {
                    UserStatus::Active
                } else {
                    UserStatus::Invited
                },
                password_hash,
                invite: None,
            });
        }
        let created = rows.len();
        let activated = outcomes.iter().filter(|o| o.activated).count();
        store::users::insert_many(&txn, rows)
            .await
            .map_err(duplicate_is(Violation::EmailInUse))?;
        if created > 0 {
            self.record(
                &txn,
                tenant.as_str(),
                tenant.as_str(),
                Some(actor),
                &UsersImported { created, activated },
            )
            .await?;
        }
        txn.commit().await?;
        self.outbox.wake();
        Ok(outcomes)
    }
}

fn parse_imported(user: &ImportedUser, roles: &HashMap<String, String>) -> ApiResult<ParsedUser> {
    let email = EmailAddress::parse("email", &user.email)?;
    // The error of one import row names the row (a batch has hundreds).
    let row = |err: ApiError| err.about(email.as_str());
    let name = UserName::parse(&user.name).map_err(row)?;
    let role_id = roles
        .get(&user.role)
        .cloned()
        .ok_or_else(|| row(Violation::RoleNotFound.into()))?;
    let password = match &user.password {
        Some(password) => Some(NewPassword::parse(password).map_err(|v| row(v.into()))?),
        None => None,
    };
    Ok(ParsedUser {
        email,
        name,
        departments: user.departments.clone(),
        role_id,
        password,
    })
}
