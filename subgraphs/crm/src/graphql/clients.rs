//! Clients: the queries, the mutations (create with the duplicate check, update, status,
//! addresses) and the federation entity other subgraphs extend (`Client @key(fields: "id")`).

use crate::app::Crm;
use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, InputObject, Object, Result, SimpleObject, ID};
use erp_kit::RequestContext;

use erp_kit::loaders::TenantKey;
use erp_kit::pagination::{connection_from_rows, PageRequest};

use super::context::scope;
use super::duplicates::DuplicateCheck;
use super::loaders::ClientLoader;
use super::objects::{Address, AddressKind, Client, ClientKind, ClientStatus};
use crate::app::clients::{ClientChanges, NewAddress, NewClient};
use crate::store::clients::ClientFilter;

/// Which clients a list shows.
#[derive(InputObject, Default)]
pub struct ClientsFilterInput {
    /// Only companies or only people.
    pub kind: Option<ClientKind>,
    /// Only clients in this status.
    pub status: Option<ClientStatus>,
    /// Only the people of this company.
    pub company_id: Option<ID>,
}

#[derive(Default)]
pub struct ClientsQuery;

#[Object]
impl ClientsQuery {
    /// A client the caller may see (null otherwise, as for another tenant's).
    #[graphql(requires_scopes = "crm:read")]
    async fn client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client's id.")] id: ID,
    ) -> Result<Option<Client>> {
        let scope = scope(ctx).await?;
        let found = ctx
            .data_unchecked::<DataLoader<ClientLoader>>()
            .load_one(TenantKey::new(&scope.viewer.tenant, &id))
            .await?;
        Ok(found
            .filter(|c| scope.sees(c.owner_id.as_deref()))
            .map(|model| Client::new(model, scope.clone())))
    }

    /// The clients the caller may see (merged ones left out), oldest first, as a Relay
    /// connection.
    #[graphql(requires_scopes = "crm:read")]
    async fn clients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which clients.")] filter: Option<ClientsFilterInput>,
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
    ) -> Result<Connection<String, Client, EmptyFields, EmptyFields>> {
        let page = PageRequest::parse(after, before, first, last)?;
        let scope = scope(ctx).await?;
        let filter = filter.unwrap_or_default();
        let rows = ctx
            .use_cases::<Crm>()?
            .clients(
                &scope.viewer,
                ClientFilter {
                    kind: filter.kind.map(|k| {
                        crate::domain::client::ClientKind::from(k)
                            .as_str()
                            .to_owned()
                    }),
                    status: filter.status.map(|s| {
                        crate::domain::client::ClientStatus::from(s)
                            .as_str()
                            .to_owned()
                    }),
                    company_id: filter.company_id.map(|id| id.0),
                    owners: None,
                },
                &page,
            )
            .await?;
        let rows = rows
            .into_iter()
            .map(|model| Client::new(model, scope.clone()))
            .collect();
        Ok(connection_from_rows(&page, rows, |c| c.model.id.clone()))
    }

    /// Resolves a client for another subgraph (federation `_entities`): under the caller's
    /// row rules, like `client`.
    #[graphql(entity)]
    async fn find_client_by_id(
        &self,
        ctx: &Context<'_>,
        #[graphql(key, desc = "The client's id.")] id: ID,
    ) -> Result<Option<Client>> {
        self.client(ctx, id).await
    }
}

/// A new client.
#[derive(InputObject)]
pub struct CreateClientInput {
    /// A company (the default) or a person.
    pub kind: Option<ClientKind>,
    /// The name, 1 to 200 characters.
    pub name: String,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone number (at least 7 digits).
    pub phone: Option<String>,
    /// Website, e.g. `https://acme.com`.
    pub website: Option<String>,
    /// Tax id (VAT number, EIN, GSTIN...).
    pub tax_id: Option<String>,
    /// The company a person works for (a company client the caller sees).
    pub company_id: Option<ID>,
    /// The owner (the caller by default; else someone of their team or below them, or
    /// anyone for `crm:admin`).
    pub owner_id: Option<ID>,
    /// The starting status (`PROSPECT` by default).
    pub status: Option<ClientStatus>,
    /// The id in the system the client comes from (unique per kind in the tenant).
    pub external_id: Option<String>,
}

/// A new client and the records it may duplicate.
#[derive(SimpleObject)]
pub struct CreateClientPayload {
    /// The client created.
    pub client: Client,
    /// Likely duplicates (created anyway: merge them if they are the same).
    pub duplicates: DuplicateCheck,
}

/// Changes to a client (omitted fields stay; `null` clears an optional one).
#[derive(InputObject)]
pub struct UpdateClientInput {
    /// The client.
    pub client_id: ID,
    /// A new name.
    pub name: Option<String>,
    /// A new e-mail address (`null` clears it).
    pub email: Option<Option<String>>,
    /// A new phone number (`null` clears it).
    pub phone: Option<Option<String>>,
    /// A new website (`null` clears it).
    pub website: Option<Option<String>>,
    /// A new tax id (`null` clears it).
    pub tax_id: Option<Option<String>>,
    /// A new owner (among those the caller may give records to).
    pub owner_id: Option<ID>,
}

/// A client's new status.
#[derive(InputObject)]
pub struct ChangeClientStatusInput {
    /// The client.
    pub client_id: ID,
    /// The status it moves to.
    pub status: ClientStatus,
}

/// A new address of a client.
#[derive(InputObject)]
pub struct AddClientAddressInput {
    /// The client.
    pub client_id: ID,
    /// What the address is for.
    pub kind: AddressKind,
    /// Street and number.
    pub line1: String,
    /// More of the address.
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// Region, state or province.
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2 country code, e.g. `DE`.
    pub country: String,
}

#[derive(Default)]
pub struct ClientsMutation;

#[Object]
impl ClientsMutation {
    /// Creates a client and checks it for duplicates (normalised e-mail, phone, web domain,
    /// similar names); publishes `client.created`.
    #[graphql(requires_scopes = "crm:write")]
    async fn create_client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new client.")] input: CreateClientInput,
    ) -> Result<CreateClientPayload> {
        let scope = scope(ctx).await?;
        let (model, report) = ctx
            .use_cases::<Crm>()?
            .create_client(
                &scope.viewer,
                NewClient {
                    kind: input.kind.map(Into::into),
                    name: input.name,
                    email: input.email,
                    phone: input.phone,
                    website: input.website,
                    tax_id: input.tax_id,
                    company_id: input.company_id.map(|id| id.0),
                    owner_id: input.owner_id.map(|id| id.0),
                    status: input.status.map(Into::into),
                    external_id: input.external_id,
                },
            )
            .await?;
        Ok(CreateClientPayload {
            client: Client::new(model, scope.clone()),
            duplicates: DuplicateCheck::new(report, scope),
        })
    }

    /// Changes a client's details.
    #[graphql(requires_scopes = "crm:write")]
    async fn update_client(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The changes.")] input: UpdateClientInput,
    ) -> Result<Client> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .update_client(
                &scope.viewer,
                &input.client_id,
                ClientChanges {
                    name: input.name,
                    email: input.email,
                    phone: input.phone,
                    website: input.website,
                    tax_id: input.tax_id,
                    owner_id: input.owner_id.map(|id| id.0),
                },
            )
            .await?;
        Ok(Client::new(model, scope))
    }

    /// Moves a client along `PROSPECT -> ACTIVE -> CHURNED` (a churned client may become
    /// active again): audited, publishes `client.status_changed`. Any other change is
    /// CONFLICT with reason CLIENT_TRANSITION_NOT_ALLOWED.
    #[graphql(requires_scopes = "crm:write")]
    async fn change_client_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client and its new status.")] input: ChangeClientStatusInput,
    ) -> Result<Client> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .change_client_status(&scope.viewer, &input.client_id, input.status.into())
            .await?;
        Ok(Client::new(model, scope))
    }

    /// Adds a postal address to a client.
    #[graphql(requires_scopes = "crm:write")]
    async fn add_client_address(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address.")] input: AddClientAddressInput,
    ) -> Result<Address> {
        let scope = scope(ctx).await?;
        let model = ctx
            .use_cases::<Crm>()?
            .add_address(
                &scope.viewer,
                NewAddress {
                    client_id: input.client_id.0,
                    kind: input.kind.into(),
                    line1: input.line1,
                    line2: input.line2,
                    city: input.city,
                    region: input.region,
                    postal_code: input.postal_code,
                    country: input.country,
                },
            )
            .await?;
        Ok(Address(model))
    }
}
