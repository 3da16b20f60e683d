//! Finance follows the CRM's clients (consumed with `quote.accepted`, in the same consumer
//! group, so a client's events and its quotes' are handled by one consumer):
//!
//! - `client.updated`: the client's partners take its new name (the newest client version
//!   wins; an older event arriving late renames nothing). A posted invoice carries no name of
//!   its own, so it shows the partner's current name, as in any ledger keyed by partner.
//! - `client.merged`: the merged-away client's partners are mapped to the survivor (and take
//!   its name), so its open invoices and receivables are the survivor's in the client 360
//!   (`Client.invoices`, `Client.balance`). The choice an accountant expects: posted entries
//!   are immutable, so no posted document or journal line is rewritten; the partner keeps its
//!   own subledger (its invoices, payments and ageing stay under the partner they were booked
//!   to), only its mapping to a CRM client moves. Each moved partner's client and name are
//!   kept with the merge.
//! - `client.merge_undone`: the partners that merge moved get their client and name back. An
//!   undo that arrives before its merge is remembered, and the merge then moves nothing.
//!
//! A quote accepted for a client that was merged away before finance drafted its invoice is
//! invoiced to the survivor (the CRM moved the quote there with the merge). New invoices of a
//! client go to the client's OWN customer partner, never to one a standing merge moved to it
//! (that partner, however old, belongs to the merged-away client again after an undo, with
//! what was booked to it): the survivor's oldest own customer, or one created for it.

use chrono::Utc;
use serde::Deserialize;

use erp_kit::{ApiError, ApiResult, TenantId};

use super::Finance;
use crate::store::crm_clients::{self as store, MERGED, UNDONE};
use crate::store::entities::crm_clients::{client_merge, crm_client};
use crate::store::entities::partner;

/// How many merges deep a merged-away client is followed to its survivor (a chain A -> B ->
/// C is two); deeper chains stop at the last client reached.
const MAX_MERGE_CHAIN: usize = 32;

/// A partner's name as finance stores it (at most 500 characters, trimmed).
fn partner_name(name: &str) -> Option<String> {
    let name: String = name.trim().chars().take(500).collect();
    (!name.is_empty()).then_some(name)
}

/// Payload of the CRM's `client.updated` (schema version 1), the part finance reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientUpdated {
    pub client_id: String,
    pub name: String,
    /// The client's version after the change.
    pub version: i64,
}

/// Payload of the CRM's `client.merged` and `client.merge_undone` (schema version 1), the
/// part finance reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ClientMerged {
    pub source_client_id: String,
    pub target_client_id: String,
    pub merge_id: String,
    /// The survivor's name (in `client.merged`).
    #[serde(default)]
    pub target_client_name: Option<String>,
}

/// A partner a merge moved, as it was before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
struct MovedPartner {
    partner_id: String,
    client_id: String,
    name: String,
}

impl Finance {
    /// `client.updated`: the client's partners take its name, unless finance applied this
    /// version or a newer one already.
    pub async fn follow_client_update<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        updated: &ClientUpdated,
    ) -> ApiResult<()> {
        if let Some(known) = store::client(txn, tenant, &updated.client_id).await? {
            if known.version >= updated.version {
                return Ok(());
            }
        }
        let Some(name) = partner_name(&updated.name) else {
            return Err(ApiError::bad_input(
                "name",
                "a client's name cannot be blank",
            ));
        };
        store::rename_partners_of_client(txn, tenant, &updated.client_id, &name).await?;
        store::save_client(
            txn,
            crm_client::Model {
                tenant_id: tenant.as_str().to_owned(),
                client_id: updated.client_id.clone(),
                name,
                version: updated.version,
                updated_at: Utc::now(),
            },
        )
        .await?;
        Ok(())
    }

    /// `client.merged`: the source's partners are mapped to the survivor, under its name;
    /// each as it was is kept for an undo. A merge applied already, or known undone, moves
    /// nothing.
    pub async fn follow_client_merge<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        merged: &ClientMerged,
    ) -> ApiResult<()> {
        if store::merge(txn, tenant, &merged.merge_id).await?.is_some() {
            return Ok(());
        }
        let survivor_name = merged.target_client_name.as_deref().and_then(partner_name);
        let partners = store::partners_of_client(txn, tenant, &merged.source_client_id).await?;
        let mut moved = Vec::with_capacity(partners.len());
        for partner in partners {
            let name = survivor_name
                .clone()
                .unwrap_or_else(|| partner.name.clone());
            store::map_partner(txn, tenant, &partner.id, &merged.target_client_id, &name).await?;
            moved.push(MovedPartner {
                partner_id: partner.id,
                client_id: merged.source_client_id.clone(),
                name: partner.name,
            });
        }
        store::save_merge(
            txn,
            client_merge::Model {
                tenant_id: tenant.as_str().to_owned(),
                merge_id: merged.merge_id.clone(),
                source_client_id: merged.source_client_id.clone(),
                target_client_id: merged.target_client_id.clone(),
                state: MERGED.to_owned(),
                moved: serde_json::to_string(&moved).map_err(ApiError::internal)?,
                merged_at: Some(Utc::now()),
                undone_at: None,
            },
        )
        .await?;
        Ok(())
    }

    /// `client.merge_undone`: the partners the merge moved get their client and name back.
    /// An undo of a merge finance has not seen is remembered (the merge then moves nothing).
    pub async fn follow_client_merge_undone<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        tenant: &TenantId,
        undone: &ClientMerged,
    ) -> ApiResult<()> {
        let now = Utc::now();
        let row = match store::merge(txn, tenant, &undone.merge_id).await? {
            Some(row) if row.state == UNDONE => return Ok(()),
            Some(row) => {
                let moved: Vec<MovedPartner> =
                    serde_json::from_str(&row.moved).map_err(ApiError::internal)?;
                for partner in &moved {
                    store::map_partner(
                        txn,
                        tenant,
                        &partner.partner_id,
                        &partner.client_id,
                        &partner.name,
                    )
                    .await?;
                }
                client_merge::Model {
                    state: UNDONE.to_owned(),
                    undone_at: Some(now),
                    ..row
                }
            }
            None => client_merge::Model {
                tenant_id: tenant.as_str().to_owned(),
                merge_id: undone.merge_id.clone(),
                source_client_id: undone.source_client_id.clone(),
                target_client_id: undone.target_client_id.clone(),
                state: UNDONE.to_owned(),
                moved: "[]".to_owned(),
                merged_at: None,
                undone_at: Some(now),
            },
        };
        store::save_merge(txn, row).await?;
        Ok(())
    }

    /// The customer partner new invoices of the CRM client `client_id` go to: its oldest
    /// customer partner that no standing merge moved to it (the merged-away clients' partners
    /// are the client's in its 360, but stay theirs to give back on an undo). None when the
    /// client has no customer partner of its own yet.
    pub(crate) async fn own_customer_of_client<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
        client_id: &str,
    ) -> ApiResult<Option<partner::Model>> {
        let mut moved_in = std::collections::HashSet::new();
        for merge in store::standing_merges_into(conn, tenant, client_id).await? {
            let moved: Vec<MovedPartner> =
                serde_json::from_str(&merge.moved).map_err(ApiError::internal)?;
            moved_in.extend(moved.into_iter().map(|partner| partner.partner_id));
        }
        Ok(store::partners_of_client(conn, tenant, client_id)
            .await?
            .into_iter()
            .find(|partner| partner.kind == "customer" && !moved_in.contains(&partner.id)))
    }

    /// The client that holds `client_id`'s records now: itself, or the survivor of the
    /// standing merges it went through.
    pub async fn surviving_client<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &TenantId,
        client_id: &str,
    ) -> ApiResult<String> {
        let mut current = client_id.to_owned();
        for _ in 0..MAX_MERGE_CHAIN {
            match store::merged_into(conn, tenant, &current).await? {
                Some(next) if next != client_id => current = next,
                _ => break,
            }
        }
        Ok(current)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_name_is_trimmed_bounded_and_never_blank() {
        assert_eq!(partner_name("  Acme AG "), Some("Acme AG".to_owned()));
        assert_eq!(partner_name("   "), None);
        assert_eq!(partner_name(&"x".repeat(600)).map(|n| n.len()), Some(500));
    }

    #[test]
    fn the_merge_payload_reads_without_the_survivors_name() {
        let undone: ClientMerged = serde_json::from_value(serde_json::json!({
            "source_client_id": "a", "target_client_id": "b", "merge_id": "m",
            "source_client_name": "A"
        }))
        .unwrap();
        assert_eq!(undone.target_client_name, None);
        assert_eq!(undone.merge_id, "m");
    }
}
