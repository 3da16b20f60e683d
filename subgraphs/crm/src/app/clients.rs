//! Clients: companies and people, their status, addresses and tax ids.

use std::collections::HashMap;

use erp_kit::db::begin_write;
use erp_kit::pagination::PageRequest;
use erp_kit::types::EmailAddress;
use erp_kit::{ApiError, ApiResult};

use super::duplicates::{DuplicateReport, Probe};
use super::{already_exists, not_found, now_ms, require_admin, visible, Crm, Viewer};
use crate::domain::client::{
    optional_text, parse_country, parse_tax_id, required_text, AddressKind, ClientKind,
    ClientStatus,
};
use crate::domain::matching::{
    company_domain_of_email, name_key, name_tokens, phone_key, web_domain,
};
use crate::domain::visibility::Visibility;
use crate::events;
use crate::store::audit::{self, AuditEntry};
use crate::store::clients::{self as store, ClientFilter};
use crate::store::duplicates::{write_tokens, CLIENT};
use crate::store::entities::{address, client};
use crate::store::new_id;
use erp_kit::events::EventEnvelope;

/// A new client as entered (raw values, parsed here).
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub kind: Option<ClientKind>,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub tax_id: Option<String>,
    /// The company a person works for.
    pub company_id: Option<String>,
    /// Defaults to the caller.
    pub owner_id: Option<String>,
    pub status: Option<ClientStatus>,
    pub external_id: Option<String>,
}

/// Changes to a client's details (`None`: unchanged; `Some(None)`: cleared).
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub tax_id: Option<Option<String>>,
    pub owner_id: Option<String>,
}

/// A new address as entered.
#[derive(Debug, Clone)]
pub struct NewAddress {
    pub client_id: String,
    pub kind: AddressKind,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

/// The contact details of a record, parsed, with the duplicate finder's keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct Contact {
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone: Option<String>,
    pub phone_key: Option<String>,
    pub website: Option<String>,
    pub domain: Option<String>,
}

impl Contact {
    /// Parses an e-mail address, a phone number and a website (each optional); the web
    /// domain falls back to the e-mail's company domain.
    pub(crate) fn parse(
        email: Option<&str>,
        phone: Option<&str>,
        website: Option<&str>,
    ) -> ApiResult<Self> {
        let mut contact = Contact::default();
        if let Some(raw) = email.map(str::trim).filter(|raw| !raw.is_empty()) {
            let email = EmailAddress::parse("email", raw)?;
            contact.email_key = Some(email.match_key());
            contact.email = Some(email.as_str().to_owned());
        }
        if let Some(raw) = phone.map(str::trim).filter(|raw| !raw.is_empty()) {
            contact.phone_key = Some(phone_key(raw).ok_or_else(|| {
                ApiError::bad_input("phone", "a phone number has at least 7 digits")
            })?);
            contact.phone = Some(required_text("phone", raw, 40)?);
        }
        if let Some(raw) = website.map(str::trim).filter(|raw| !raw.is_empty()) {
            contact.domain = Some(
                web_domain(raw)
                    .ok_or_else(|| ApiError::bad_input("website", "not a web address"))?,
            );
            contact.website = Some(required_text("website", raw, 254)?);
        }
        if contact.domain.is_none() {
            contact.domain = contact
                .email_key
                .as_deref()
                .and_then(company_domain_of_email);
        }
        Ok(contact)
    }
}

impl Crm {
    /// The owner a record of the viewer's gets: the one asked for (among the owners the
    /// viewer sees, unless an administrator), or the viewer.
    pub(crate) fn owner_for(
        &self,
        viewer: &Viewer,
        visibility: &Visibility,
        asked: Option<&str>,
    ) -> ApiResult<String> {
        match asked.map(str::trim).filter(|owner| !owner.is_empty()) {
            None => Ok(viewer.user_id.clone()),
            Some(owner) if visibility.sees(Some(owner)) => Ok(owner.to_owned()),
            Some(_) => Err(ApiError::Forbidden(
                "a record can be given only to yourself, your team or the people below you".into(),
            )),
        }
    }

    /// A company client the viewer sees (for a person's company, a lead's conversion).
    pub(crate) async fn visible_company(
        &self,
        viewer: &Viewer,
        visibility: &Visibility,
        company_id: &str,
        field: &str,
    ) -> ApiResult<client::Model> {
        let found = store::client(&self.db, &viewer.tenant, company_id).await?;
        match found {
            Some(company)
                if visibility.sees(company.owner_id.as_deref())
                    && company.kind == ClientKind::Company.as_str()
                    && company.merged_into_id.is_none() =>
            {
                Ok(company)
            }
            _ => Err(ApiError::bad_input(field, "no such company client")),
        }
    }

    /// Creates a client (a prospect unless another status is given); answers it with the
    /// likely duplicates among the records the viewer sees. Publishes `client.created`.
    pub async fn create_client(
        &self,
        viewer: &Viewer,
        input: NewClient,
    ) -> ApiResult<(client::Model, DuplicateReport)> {
        let tenant = &viewer.tenant;
        let kind = input.kind.unwrap_or(ClientKind::Company);
        let name = required_text("name", &input.name, 200)?;
        let contact = Contact::parse(
            input.email.as_deref(),
            input.phone.as_deref(),
            input.website.as_deref(),
        )?;
        let tax_id = input
            .tax_id
            .as_deref()
            .map(str::trim)
            .filter(|raw| !raw.is_empty())
            .map(|raw| parse_tax_id("taxId", raw))
            .transpose()?;
        let external_id = optional_text("externalId", input.external_id.as_deref(), 120)?;
        let visibility = self.visibility(viewer).await?;
        let owner = self.owner_for(viewer, &visibility, input.owner_id.as_deref())?;
        let company_id = match (&input.company_id, kind) {
            (Some(company), ClientKind::Person) => Some(
                self.visible_company(viewer, &visibility, company, "companyId")
                    .await?
                    .id,
            ),
            (Some(_), ClientKind::Company) => {
                return Err(ApiError::bad_input(
                    "companyId",
                    "only a person works for a company",
                ))
            }
            (None, _) => None,
        };
        let probe = Probe {
            name: name.clone(),
            email_key: contact.email_key.clone(),
            phone_key: contact.phone_key.clone(),
            domain: contact.domain.clone(),
            exclude: None,
        };
        let duplicates = self.find_duplicates(viewer, &visibility, &probe).await?;
        let now = now_ms();
        let model = client::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            kind: kind.as_str().to_owned(),
            name_key: name_key(&name),
            name,
            email: contact.email,
            email_key: contact.email_key,
            phone: contact.phone,
            phone_key: contact.phone_key,
            website: contact.website,
            domain: contact.domain,
            tax_id,
            status: input
                .status
                .unwrap_or(ClientStatus::Prospect)
                .as_str()
                .to_owned(),
            company_id,
            owner_id: Some(owner),
            external_id,
            merged_into_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let txn = begin_write(&self.db).await?;
        let model = self.insert_client(&txn, viewer, model).await?;
        self.commit(txn).await?;
        Ok((model, duplicates))
    }

    /// Inserts a client with its name tokens and its `client.created` event, in `txn`.
    pub(crate) async fn insert_client(
        &self,
        txn: &erp_kit::db::WriteTransaction,
        viewer: &Viewer,
        model: client::Model,
    ) -> ApiResult<client::Model> {
        let tenant = &viewer.tenant;
        let model = store::insert(txn, model)
            .await
            .map_err(already_exists("a client with this external id exists"))?;
        write_tokens(txn, tenant, CLIENT, &model.id, &name_tokens(&model.name)).await?;
        let created = EventEnvelope::by_actor(
            tenant,
            events::CLIENT_CREATED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "client_id": model.id,
                "kind": model.kind,
                "name": model.name,
                "status": model.status,
                "company_id": model.company_id,
                "owner_id": model.owner_id,
            }),
        )?;
        self.outbox.enqueue(txn, &created).await?;
        Ok(model)
    }

    /// Changes a client's details (a new name or contact re-indexes it for the duplicate
    /// finder).
    pub async fn update_client(
        &self,
        viewer: &Viewer,
        client_id: &str,
        changes: ClientChanges,
    ) -> ApiResult<client::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let owner = changes
            .owner_id
            .as_deref()
            .map(|owner| self.owner_for(viewer, &visibility, Some(owner)))
            .transpose()?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::lock(&txn, tenant, client_id).await?,
            |c| c.owner_id.as_deref(),
            "client",
        )?;
        if model.merged_into_id.is_some() {
            return Err(not_found("client"));
        }
        let previous_name = model.name.clone();
        if let Some(name) = &changes.name {
            model.name = required_text("name", name, 200)?;
            model.name_key = name_key(&model.name);
        }
        let contact = Contact::parse(
            pick(&changes.email, &model.email),
            pick(&changes.phone, &model.phone),
            pick(&changes.website, &model.website),
        )?;
        model.email = contact.email;
        model.email_key = contact.email_key;
        model.phone = contact.phone;
        model.phone_key = contact.phone_key;
        model.website = contact.website;
        model.domain = contact.domain;
        if let Some(tax_id) = &changes.tax_id {
            model.tax_id = tax_id
                .as_deref()
                .map(str::trim)
                .filter(|raw| !raw.is_empty())
                .map(|raw| parse_tax_id("taxId", raw))
                .transpose()?;
        }
        if let Some(owner) = owner {
            model.owner_id = Some(owner);
        }
        model.version += 1;
        model.updated_at = now_ms();
        let model = store::update(&txn, model).await?;
        write_tokens(&txn, tenant, CLIENT, &model.id, &name_tokens(&model.name)).await?;
        let renamed = model.name != previous_name;
        if renamed {
            audit::record(
                &txn,
                tenant,
                AuditEntry {
                    entity_kind: "client",
                    entity_id: &model.id,
                    action: "renamed",
                    actor: &viewer.user_id,
                    at_ms: model.updated_at,
                    detail: serde_json::json!({ "from": previous_name, "to": model.name }),
                },
            )
            .await?;
        }
        let updated = EventEnvelope::by_actor(
            tenant,
            events::CLIENT_UPDATED,
            &model.id,
            &viewer.user_id,
            events::ClientUpdated {
                client_id: model.id.clone(),
                name: model.name.clone(),
                previous_name: renamed.then_some(previous_name),
                kind: model.kind.clone(),
                status: model.status.clone(),
                owner_id: model.owner_id.clone(),
                version: model.version,
            },
        )?;
        self.outbox.enqueue(&txn, &updated).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Moves a client along its lifecycle (audited; publishes `client.status_changed`).
    pub async fn change_client_status(
        &self,
        viewer: &Viewer,
        client_id: &str,
        to: ClientStatus,
    ) -> ApiResult<client::Model> {
        let tenant = &viewer.tenant;
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let mut model = visible(
            &visibility,
            store::lock(&txn, tenant, client_id).await?,
            |c| c.owner_id.as_deref(),
            "client",
        )?;
        if model.merged_into_id.is_some() {
            return Err(not_found("client"));
        }
        let from = ClientStatus::from_db(&model.status).unwrap_or(ClientStatus::Prospect);
        from.change_to(to)?;
        model.status = to.as_str().to_owned();
        model.version += 1;
        model.updated_at = now_ms();
        let model = store::update(&txn, model).await?;
        audit::record(
            &txn,
            tenant,
            AuditEntry {
                entity_kind: "client",
                entity_id: &model.id,
                action: "status_changed",
                actor: &viewer.user_id,
                at_ms: model.updated_at,
                detail: serde_json::json!({ "from": from.as_str(), "to": to.as_str() }),
            },
        )
        .await?;
        let changed = EventEnvelope::by_actor(
            tenant,
            events::CLIENT_STATUS_CHANGED,
            &model.id,
            &viewer.user_id,
            serde_json::json!({
                "client_id": model.id,
                "from": from.as_str(),
                "to": to.as_str(),
            }),
        )?;
        self.outbox.enqueue(&txn, &changed).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// Adds a postal address to a client.
    pub async fn add_address(
        &self,
        viewer: &Viewer,
        input: NewAddress,
    ) -> ApiResult<address::Model> {
        let tenant = &viewer.tenant;
        let line1 = required_text("line1", &input.line1, 200)?;
        let city = required_text("city", &input.city, 120)?;
        let country = parse_country("country", &input.country)?;
        let model = address::Model {
            id: new_id(),
            tenant_id: tenant.as_str().to_owned(),
            client_id: input.client_id.clone(),
            kind: input.kind.as_str().to_owned(),
            line1,
            line2: optional_text("line2", input.line2.as_deref(), 200)?,
            city,
            region: optional_text("region", input.region.as_deref(), 120)?,
            postal_code: optional_text("postalCode", input.postal_code.as_deref(), 20)?,
            country,
            created_at: now_ms(),
        };
        let visibility = self.visibility(viewer).await?;
        let txn = begin_write(&self.db).await?;
        let owner = visible(
            &visibility,
            store::lock(&txn, tenant, &input.client_id).await?,
            |c| c.owner_id.as_deref(),
            "client",
        )?;
        if owner.merged_into_id.is_some() {
            return Err(not_found("client"));
        }
        let model = store::insert_address(&txn, model).await?;
        self.commit(txn).await?;
        Ok(model)
    }

    /// A client the viewer sees (a merged client too: it says which one it went into).
    pub async fn client(&self, viewer: &Viewer, id: &str) -> ApiResult<Option<client::Model>> {
        let visibility = self.visibility(viewer).await?;
        Ok(store::client(&self.db, &viewer.tenant, id)
            .await?
            .filter(|c| visibility.sees(c.owner_id.as_deref())))
    }

    /// Clients by id, for loaders (the row rules are applied by the caller).
    pub async fn clients_by_ids(
        &self,
        tenant: &erp_kit::TenantId,
        ids: &[String],
    ) -> ApiResult<HashMap<String, client::Model>> {
        Ok(store::by_ids(&self.db, tenant, ids).await?)
    }

    /// One page of the clients the viewer sees.
    pub async fn clients(
        &self,
        viewer: &Viewer,
        mut filter: ClientFilter,
        page: &PageRequest,
    ) -> ApiResult<Vec<client::Model>> {
        filter.owners = self.visibility(viewer).await?.owner_filter();
        Ok(store::page(&self.db, &viewer.tenant, &filter, page).await?)
    }

    /// The addresses of these clients.
    pub async fn addresses_of(
        &self,
        tenant: &erp_kit::TenantId,
        client_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<address::Model>>> {
        Ok(store::addresses_of(&self.db, tenant, client_ids).await?)
    }

    /// The tenant's set-up needs an administrator: checked here for the use cases below.
    pub(crate) fn admin_only(&self, viewer: &Viewer, what: &str) -> ApiResult<()> {
        require_admin(viewer, what)
    }
}

/// The value after a change: the new one when given (`Some(None)` clears), else the old one.
fn pick<'a>(change: &'a Option<Option<String>>, current: &'a Option<String>) -> Option<&'a str> {
    match change {
        Some(new) => new.as_deref(),
        None => current.as_deref(),
    }
}

/// Reads for the GraphQL layer's loaders (no row rule: the resolvers apply the caller's).
impl Crm {
    pub async fn people_of_companies(
        &self,
        tenant: &erp_kit::TenantId,
        company_ids: &[String],
    ) -> ApiResult<HashMap<String, Vec<client::Model>>> {
        Ok(store::first_people_of_companies(
            &self.db,
            tenant,
            company_ids,
            super::NESTED_LIST_LIMIT,
        )
        .await?)
    }
}
