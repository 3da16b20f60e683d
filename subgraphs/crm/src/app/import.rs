//! CSV imports of leads, contacts and companies: streamed (a record at a time, batches of
//! [`BATCH_ROWS`] rows written in one transaction each), matched on a key column (an upsert:
//! a row whose key matches a record updates it, field by field, empty cells left as they
//! were; other rows create records), rows repeating an earlier row's key folded into it, a
//! per-row error report, and a dry run that checks everything and writes nothing. A row is
//! applied whole or reported; it is never half-applied.
//!
//! Imports publish no per-row events (a bulk load is not news for the consumers) and do not
//! run the assignment rules: new records belong to the `owner_id` column or to the importer.

use std::collections::{HashMap, HashSet};

use erp_kit::db::begin_write;
use erp_kit::{ApiError, ApiResult, ErrorCode};

use super::leads::lead_facts;
use super::{now_ms, Crm, Viewer};
use crate::domain::client::{ClientKind, ClientStatus};
use crate::domain::csv::{CsvSplitter, RecordError};
use crate::domain::import::{Column, Header, ImportKind, ImportRow, RowError};
use crate::domain::lead::{score, LeadSource, LeadStatus, ScoringRule};
use crate::domain::matching::{company_domain_of_email, name_key, name_tokens};
use crate::domain::reasons;
use crate::domain::visibility::Visibility;
use crate::store::duplicates::{insert_tokens, CLIENT, LEAD};
use crate::store::entities::{client, lead};
use crate::store::import as store;
use crate::store::new_id;

/// Rows written per transaction.
pub const BATCH_ROWS: usize = 1000;
/// Row errors reported one by one; beyond, they are only counted.
pub const MAX_REPORTED_ERRORS: usize = 10_000;

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub kind: ImportKind,
    /// The key column's header name (`email`, `external_id`, `id`, ...).
    pub key: String,
    /// Check everything, write nothing.
    pub dry_run: bool,
}

/// One row that was not imported: its line in the file (the header is line 1; a row holding
/// line breaks counts as one), why (a kit error code), the column at fault, what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReport {
    pub row: u64,
    pub code: ErrorCode,
    pub column: Option<&'static str>,
    pub message: String,
}

/// The outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows that repeated an earlier row's key: folded into it (applied as updates).
    pub merged: u64,
    pub failed: u64,
    /// The first [`MAX_REPORTED_ERRORS`] failed rows.
    pub errors: Vec<RowReport>,
    pub errors_truncated: bool,
    /// Set when the import stopped early (a database failure): rows before `rows` that did
    /// not fail were imported, the rest were not read.
    pub stopped: Option<String>,
}

impl ImportReport {
    fn fail(&mut self, row: u64, error: RowError) {
        self.failed += 1;
        if self.errors.len() < MAX_REPORTED_ERRORS {
            self.errors.push(RowReport {
                row,
                code: error.code,
                column: error.column.map(Column::name),
                message: error.message,
            });
        } else {
            self.errors_truncated = true;
        }
    }
}

/// An import in progress: the header, the rows of the current batch, the keys seen.
pub struct ImportRun<'a> {
    crm: &'a Crm,
    viewer: &'a Viewer,
    options: ImportOptions,
    visibility: Visibility,
    rules: Vec<ScoringRule>,
    splitter: CsvSplitter,
    header: Option<Header>,
    line: u64,
    batch: Vec<(u64, ImportRow)>,
    seen_keys: HashSet<String>,
    pub report: ImportReport,
}

impl Crm {
    /// Starts an import for the viewer: feed it the file's bytes as they arrive
    /// ([`ImportRun::push`]), then [`ImportRun::finish`].
    pub async fn start_import<'a>(
        &'a self,
        viewer: &'a Viewer,
        options: ImportOptions,
    ) -> ApiResult<ImportRun<'a>> {
        let visibility = self.visibility(viewer).await?;
        let rules = self.scoring(&viewer.tenant).await?;
        Ok(ImportRun {
            crm: self,
            viewer,
            report: ImportReport {
                dry_run: options.dry_run,
                ..Default::default()
            },
            options,
            visibility,
            rules,
            splitter: CsvSplitter::default(),
            header: None,
            line: 0,
            batch: Vec::with_capacity(BATCH_ROWS),
            seen_keys: HashSet::new(),
        })
    }
}

impl ImportRun<'_> {
    /// Reads a chunk of the file, writing each batch that fills up. A bad header refuses the
    /// whole file (IMPORT_BAD_HEADER); nothing was written then.
    pub async fn push(&mut self, chunk: &[u8]) -> ApiResult<()> {
        let mut records = Vec::new();
        self.splitter.push(chunk, &mut records);
        self.take(records).await
    }

    /// Reads the end of the file, writes the last batch, answers the report.
    pub async fn finish(mut self) -> ApiResult<ImportReport> {
        let mut records = Vec::new();
        self.splitter.finish(&mut records);
        self.take(records).await?;
        if self.header.is_none() {
            return Err(bad_header("the file is empty: it needs a header row"));
        }
        self.flush().await;
        Ok(self.report)
    }

    async fn take(&mut self, records: Vec<Result<Vec<String>, RecordError>>) -> ApiResult<()> {
        for record in records {
            self.line += 1;
            if self.report.stopped.is_some() {
                continue;
            }
            let Some(header) = &self.header else {
                let fields = record.map_err(|err| bad_header(&err.message()))?;
                self.header = Some(
                    Header::parse(self.options.kind, &fields, &self.options.key)
                        .map_err(|err| bad_header(&err.0))?,
                );
                continue;
            };
            let fields = match record {
                // A blank line is no row.
                Ok(fields) if fields.len() == 1 && fields[0].trim().is_empty() => continue,
                Ok(fields) => fields,
                Err(err) => {
                    self.report.rows += 1;
                    self.report
                        .fail(self.line, RowError::bad(None, err.message()));
                    continue;
                }
            };
            self.report.rows += 1;
            match header.row(&fields) {
                Ok(row) => self.batch.push((self.line, row)),
                Err(err) => self.report.fail(self.line, err),
            }
            if self.batch.len() >= BATCH_ROWS {
                self.flush().await;
            }
        }
        Ok(())
    }

    /// Applies the batch in one transaction (or checks it, in a dry run).
    async fn flush(&mut self) {
        if self.batch.is_empty() || self.report.stopped.is_some() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let first = batch.first().map_or(0, |(line, _)| *line);
        let size = batch.len() as u64;
        let outcome = match self.options.kind {
            ImportKind::Leads => self.apply_leads(batch).await,
            ImportKind::Contacts | ImportKind::Companies => self.apply_clients(batch).await,
        };
        if let Err(err) = outcome {
            tracing::error!(error = ?err, "import batch failed");
            self.report.failed += size;
            self.report.stopped = Some(format!(
                "the import stopped at row {first}: {}; the rows before it that did not fail were imported",
                err.message()
            ));
        }
    }

    /// Folds rows repeating a key into the first row of the key (in file order), and counts
    /// rows whose key an earlier batch had.
    fn fold(&mut self, batch: Vec<(u64, ImportRow)>) -> Vec<(u64, ImportRow, bool)> {
        let mut order: Vec<(u64, ImportRow, bool)> = Vec::with_capacity(batch.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for (line, row) in batch {
            if let Some(&at) = index.get(&row.key) {
                order[at].1.absorb(row);
                self.report.merged += 1;
                continue;
            }
            let seen_before = !self.seen_keys.insert(row.key.clone());
            if seen_before {
                self.report.merged += 1;
            }
            index.insert(row.key.clone(), order.len());
            order.push((line, row, seen_before));
        }
        order
    }

    /// The owner a row gives (one the importer sees), else `default`.
    fn owner(&self, row: &ImportRow, default: Option<&str>) -> Result<Option<String>, RowError> {
        match &row.owner_id {
            Some(owner) if self.visibility.sees(Some(owner)) => Ok(Some(owner.clone())),
            Some(_) => Err(RowError::new(
                ErrorCode::Forbidden,
                Some(Column::OwnerId),
                "a record can be given only to yourself, your team or the people below you",
            )),
            None => Ok(default.map(str::to_owned)),
        }
    }

    fn count(&mut self, created: bool, merged: bool) {
        match (created, merged) {
            (_, true) => {}
            (true, false) => self.report.created += 1,
            (false, false) => self.report.updated += 1,
        }
    }

    async fn apply_clients(&mut self, batch: Vec<(u64, ImportRow)>) -> ApiResult<()> {
        let tenant = self.viewer.tenant.clone();
        let db = self.crm.db().clone();
        let kind = match self.options.kind {
            ImportKind::Contacts => ClientKind::Person,
            _ => ClientKind::Company,
        };
        let key = self.header.as_ref().map_or(Column::Id, |h| h.key);
        let rows = self.fold(batch);
        let keys: Vec<String> = rows.iter().map(|(_, row, _)| row.key.clone()).collect();
        let existing = store::clients_by_key(
            &db,
            &tenant,
            kind.as_str(),
            store::client_key_column(key),
            &keys,
        )
        .await?;
        // External ids other records already hold (a new external id must be free).
        let external_ids: Vec<String> = rows
            .iter()
            .filter_map(|(_, row, _)| row.external_id.clone())
            .collect();
        let holders = if key == Column::ExternalId {
            HashMap::new()
        } else {
            store::clients_by_key(
                &db,
                &tenant,
                kind.as_str(),
                crate::store::entities::client::Column::ExternalId,
                &external_ids,
            )
            .await?
        };
        let company_external: Vec<String> = rows
            .iter()
            .filter_map(|(_, row, _)| row.company_external_id.clone())
            .collect();
        let companies = if company_external.is_empty() {
            HashMap::new()
        } else {
            store::company_ids_by_external_id(&db, &tenant, &company_external).await?
        };
        let now = now_ms();
        let mut models: Vec<client::Model> = Vec::with_capacity(rows.len());
        let mut renamed: Vec<String> = Vec::new();
        let mut taken_external: HashSet<String> = HashSet::new();
        for (line, row, merged) in rows {
            let matches = existing.get(&row.key).map(Vec::as_slice).unwrap_or(&[]);
            let result = self.client_row(
                &tenant,
                kind,
                key,
                &row,
                matches,
                &holders,
                &companies,
                &mut taken_external,
                now,
            );
            match result {
                Ok((model, created)) => {
                    if !created {
                        renamed.push(model.id.clone());
                    }
                    self.count(created, merged);
                    models.push(model);
                }
                Err(err) => self.report.fail(line, err),
            }
        }
        if self.options.dry_run || models.is_empty() {
            return Ok(());
        }
        let txn = begin_write(&db).await?;
        store::delete_tokens(&txn, &tenant, CLIENT, &renamed).await?;
        let tokens: Vec<(String, Vec<String>)> = models
            .iter()
            .map(|m| (m.id.clone(), name_tokens(&m.name).into_iter().collect()))
            .collect();
        store::upsert_clients(&txn, &models).await?;
        let rows = token_rows(CLIENT, &tokens);
        insert_tokens(&txn, &tenant, &rows).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The client a row makes (new, or the matched one updated), and whether it is new.
    #[allow(clippy::too_many_arguments)]
    fn client_row(
        &self,
        tenant: &erp_kit::TenantId,
        kind: ClientKind,
        key: Column,
        row: &ImportRow,
        matches: &[client::Model],
        holders: &HashMap<String, Vec<client::Model>>,
        companies: &HashMap<String, String>,
        taken_external: &mut HashSet<String>,
        now: i64,
    ) -> Result<(client::Model, bool), RowError> {
        let found = match matches {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                return Err(RowError::new(
                    ErrorCode::Conflict,
                    Some(key),
                    format!("{} records have this {}", many.len(), key.name()),
                ))
            }
        };
        if let Some(found) = &found {
            if !self.visibility.sees(found.owner_id.as_deref()) {
                return Err(not_in_tenant(key));
            }
        }
        if found.is_none() && key == Column::Id {
            return Err(not_in_tenant(key));
        }
        let company_id = match &row.company_external_id {
            Some(external) => Some(companies.get(external).cloned().ok_or_else(|| {
                RowError::new(
                    ErrorCode::NotFound,
                    Some(Column::CompanyExternalId),
                    format!("no company with external id `{external}` in your tenant"),
                )
            })?),
            None => None,
        };
        if let Some(external) = &row.external_id {
            let held_by_other = holders.get(external).is_some_and(|holders| {
                holders
                    .iter()
                    .any(|holder| Some(&holder.id) != found.as_ref().map(|f| &f.id))
            });
            if held_by_other || !taken_external.insert(external.clone()) {
                return Err(RowError::new(
                    ErrorCode::Conflict,
                    Some(Column::ExternalId),
                    format!("another record has the external id `{external}`"),
                ));
            }
        }
        let created = found.is_none();
        let mut model = match found {
            Some(found) => found,
            None => {
                let name = row.name.clone().ok_or_else(|| {
                    RowError::bad(Some(Column::Name), "a new record needs a name")
                })?;
                client::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    kind: kind.as_str().to_owned(),
                    name_key: name_key(&name),
                    name,
                    email: None,
                    email_key: None,
                    phone: None,
                    phone_key: None,
                    website: None,
                    domain: None,
                    tax_id: None,
                    status: ClientStatus::Prospect.as_str().to_owned(),
                    company_id: None,
                    owner_id: self.owner(row, Some(&self.viewer.user_id))?,
                    external_id: None,
                    merged_into_id: None,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                }
            }
        };
        if let Some(name) = &row.name {
            model.name = name.clone();
            model.name_key = name_key(name);
        }
        if row.email.is_some() {
            model.email = row.email.clone();
            model.email_key = row.email_key.clone();
        }
        if row.phone.is_some() {
            model.phone = row.phone.clone();
            model.phone_key = row.phone_key.clone();
        }
        if row.website.is_some() {
            model.website = row.website.clone();
            model.domain = row.domain.clone();
        } else if model.domain.is_none() {
            model.domain = model.email_key.as_deref().and_then(company_domain_of_email);
        }
        if row.tax_id.is_some() {
            model.tax_id = row.tax_id.clone();
        }
        if let Some(status) = row.status {
            model.status = status.as_str().to_owned();
        }
        if company_id.is_some() {
            model.company_id = company_id;
        }
        if row.owner_id.is_some() {
            model.owner_id = self.owner(row, None)?;
        }
        if row.external_id.is_some() {
            model.external_id = row.external_id.clone();
        }
        model.version += 1;
        model.updated_at = now;
        Ok((model, created))
    }

    async fn apply_leads(&mut self, batch: Vec<(u64, ImportRow)>) -> ApiResult<()> {
        let tenant = self.viewer.tenant.clone();
        let db = self.crm.db().clone();
        let key = self.header.as_ref().map_or(Column::Id, |h| h.key);
        let rows = self.fold(batch);
        let keys: Vec<String> = rows.iter().map(|(_, row, _)| row.key.clone()).collect();
        let existing =
            store::leads_by_key(&db, &tenant, store::lead_key_column(key), &keys).await?;
        let external_ids: Vec<String> = rows
            .iter()
            .filter_map(|(_, row, _)| row.external_id.clone())
            .collect();
        let holders = if key == Column::ExternalId {
            HashMap::new()
        } else {
            store::leads_by_key(
                &db,
                &tenant,
                crate::store::entities::lead::Column::ExternalId,
                &external_ids,
            )
            .await?
        };
        let matched: Vec<String> = existing
            .values()
            .flatten()
            .map(|lead| lead.id.clone())
            .collect();
        let activities = if matched.is_empty() {
            HashMap::new()
        } else {
            crate::store::leads::activity_counts_of(&db, &tenant, &matched).await?
        };
        let now = now_ms();
        let mut models: Vec<lead::Model> = Vec::with_capacity(rows.len());
        let mut renamed: Vec<String> = Vec::new();
        let mut taken_external: HashSet<String> = HashSet::new();
        for (line, row, merged) in rows {
            let matches = existing.get(&row.key).map(Vec::as_slice).unwrap_or(&[]);
            match self.lead_row(
                &tenant,
                key,
                &row,
                matches,
                &holders,
                &activities,
                &mut taken_external,
                now,
            ) {
                Ok((model, created)) => {
                    if !created {
                        renamed.push(model.id.clone());
                    }
                    self.count(created, merged);
                    models.push(model);
                }
                Err(err) => self.report.fail(line, err),
            }
        }
        if self.options.dry_run || models.is_empty() {
            return Ok(());
        }
        let txn = begin_write(&db).await?;
        store::delete_tokens(&txn, &tenant, LEAD, &renamed).await?;
        let tokens: Vec<(String, Vec<String>)> = models
            .iter()
            .map(|m| {
                let name = m.company_name.as_deref().unwrap_or(&m.person_name);
                (m.id.clone(), name_tokens(name).into_iter().collect())
            })
            .collect();
        store::upsert_leads(&txn, &models).await?;
        let rows = token_rows(LEAD, &tokens);
        insert_tokens(&txn, &tenant, &rows).await?;
        txn.commit().await?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn lead_row(
        &self,
        tenant: &erp_kit::TenantId,
        key: Column,
        row: &ImportRow,
        matches: &[lead::Model],
        holders: &HashMap<String, Vec<lead::Model>>,
        activities: &HashMap<String, Vec<(String, i64)>>,
        taken_external: &mut HashSet<String>,
        now: i64,
    ) -> Result<(lead::Model, bool), RowError> {
        let found = match matches {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                return Err(RowError::new(
                    ErrorCode::Conflict,
                    Some(key),
                    format!("{} records have this {}", many.len(), key.name()),
                ))
            }
        };
        if let Some(found) = &found {
            if !self.visibility.sees(found.owner_id.as_deref()) {
                return Err(not_in_tenant(key));
            }
            if found.status == LeadStatus::Converted.as_str() {
                return Err(RowError::new(
                    ErrorCode::Conflict,
                    Some(key),
                    "the lead is converted already: import its contact or company instead",
                ));
            }
        }
        if found.is_none() && key == Column::Id {
            return Err(not_in_tenant(key));
        }
        if let Some(external) = &row.external_id {
            let held_by_other = holders.get(external).is_some_and(|holders| {
                holders
                    .iter()
                    .any(|holder| Some(&holder.id) != found.as_ref().map(|f| &f.id))
            });
            if held_by_other || !taken_external.insert(external.clone()) {
                return Err(RowError::new(
                    ErrorCode::Conflict,
                    Some(Column::ExternalId),
                    format!("another record has the external id `{external}`"),
                ));
            }
        }
        let created = found.is_none();
        let mut model = match found {
            Some(found) => found,
            None => {
                let name = row.name.clone().ok_or_else(|| {
                    RowError::bad(Some(Column::Name), "a new record needs a name")
                })?;
                lead::Model {
                    id: new_id(),
                    tenant_id: tenant.as_str().to_owned(),
                    name_key: String::new(),
                    person_name: name,
                    company_name: None,
                    title: None,
                    email: None,
                    email_key: None,
                    phone: None,
                    phone_key: None,
                    website: None,
                    domain: None,
                    source: LeadSource::Import.as_str().to_owned(),
                    utm_source: None,
                    utm_medium: None,
                    utm_campaign: None,
                    utm_term: None,
                    utm_content: None,
                    territory: None,
                    owner_id: self.owner(row, Some(&self.viewer.user_id))?,
                    score: 0,
                    status: LeadStatus::New.as_str().to_owned(),
                    disqualify_reason: None,
                    converted_client_id: None,
                    converted_contact_id: None,
                    converted_opportunity_id: None,
                    converted_at: None,
                    external_id: None,
                    merged_into_id: None,
                    version: 0,
                    created_at: now,
                    updated_at: now,
                }
            }
        };
        macro_rules! set {
            ($($field:ident => $target:ident),*) => {
                $(if row.$field.is_some() { model.$target = row.$field.clone(); })*
            };
        }
        if let Some(name) = &row.name {
            model.person_name = name.clone();
        }
        set!(
            company_name => company_name, title => title, email => email,
            email_key => email_key, phone => phone, phone_key => phone_key,
            website => website, domain => domain, utm_source => utm_source,
            utm_medium => utm_medium, utm_campaign => utm_campaign, utm_term => utm_term,
            utm_content => utm_content, territory => territory, external_id => external_id
        );
        if model.domain.is_none() {
            model.domain = model.email_key.as_deref().and_then(company_domain_of_email);
        }
        if let Some(source) = row.source {
            model.source = source.as_str().to_owned();
        }
        if row.owner_id.is_some() {
            model.owner_id = self.owner(row, None)?;
        }
        model.name_key = name_key(model.company_name.as_deref().unwrap_or(&model.person_name));
        let logged = activities.get(&model.id).map(Vec::as_slice).unwrap_or(&[]);
        model.score = score(&lead_facts(&model, logged), &self.rules);
        model.version += 1;
        model.updated_at = now;
        Ok((model, created))
    }
}

/// (record kind, record id, token) for every token of every record.
fn token_rows<'a>(
    kind: &'a str,
    tokens: &'a [(String, Vec<String>)],
) -> Vec<(&'a str, &'a str, &'a str)> {
    let mut rows = Vec::new();
    for (id, words) in tokens {
        for word in words {
            rows.push((kind, id.as_str(), word.as_str()));
        }
    }
    rows
}

fn not_in_tenant(key: Column) -> RowError {
    RowError::new(
        ErrorCode::NotFound,
        Some(key),
        format!("no record with this {} in your tenant", key.name()),
    )
}

fn bad_header(message: &str) -> ApiError {
    ApiError::rule(reasons::IMPORT_BAD_HEADER, message.to_owned())
}
