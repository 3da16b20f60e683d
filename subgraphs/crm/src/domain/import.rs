//! CSV imports of leads, contacts and companies: the header each kind takes, the key column
//! rows are matched on (an upsert), and each row parsed into checked values or refused with
//! the field at fault. A refused header refuses the file; a refused row is reported and
//! skipped, never half-applied.

use erp_kit::types::EmailAddress;
use erp_kit::ErrorCode;

use super::client::{parse_tax_id, ClientStatus};
use super::lead::LeadSource;
use super::matching::{phone_key, web_domain};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportKind {
    Leads,
    /// People (clients of kind person), optionally linked to a company.
    Contacts,
    /// Company clients.
    Companies,
}

impl ImportKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "leads" => Some(ImportKind::Leads),
            "contacts" => Some(ImportKind::Contacts),
            "companies" => Some(ImportKind::Companies),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Leads => "leads",
            ImportKind::Contacts => "contacts",
            ImportKind::Companies => "companies",
        }
    }

    /// The columns a file of this kind may have.
    pub fn columns(self) -> &'static [Column] {
        use Column::*;
        match self {
            ImportKind::Leads => &[
                Id,
                ExternalId,
                Name,
                CompanyName,
                Title,
                Email,
                Phone,
                Website,
                Source,
                UtmSource,
                UtmMedium,
                UtmCampaign,
                UtmTerm,
                UtmContent,
                Territory,
                OwnerId,
            ],
            ImportKind::Contacts => &[
                Id,
                ExternalId,
                Name,
                Email,
                Phone,
                Website,
                TaxId,
                Status,
                OwnerId,
                CompanyExternalId,
            ],
            ImportKind::Companies => &[
                Id, ExternalId, Name, Email, Phone, Website, TaxId, Status, OwnerId,
            ],
        }
    }

    /// The columns rows may be matched on.
    pub fn key_columns(self) -> &'static [Column] {
        use Column::*;
        match self {
            ImportKind::Leads | ImportKind::Contacts => &[Id, ExternalId, Email],
            ImportKind::Companies => &[Id, ExternalId, Email, Website, TaxId],
        }
    }
}

/// A column of an import file (its header name is the snake_case one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// The record's CRM id: matches only records of the caller's tenant, never creates.
    Id,
    ExternalId,
    /// The company's or the person's name.
    Name,
    CompanyName,
    Title,
    Email,
    Phone,
    Website,
    TaxId,
    Status,
    Source,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Territory,
    OwnerId,
    /// The `external_id` of the company a contact works for.
    CompanyExternalId,
}

const ALL_COLUMNS: [Column; 19] = [
    Column::Id,
    Column::ExternalId,
    Column::Name,
    Column::CompanyName,
    Column::Title,
    Column::Email,
    Column::Phone,
    Column::Website,
    Column::TaxId,
    Column::Status,
    Column::Source,
    Column::UtmSource,
    Column::UtmMedium,
    Column::UtmCampaign,
    Column::UtmTerm,
    Column::UtmContent,
    Column::Territory,
    Column::OwnerId,
    Column::CompanyExternalId,
];

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::ExternalId => "external_id",
            Column::Name => "name",
            Column::CompanyName => "company_name",
            Column::Title => "title",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::Website => "website",
            Column::TaxId => "tax_id",
            Column::Status => "status",
            Column::Source => "source",
            Column::UtmSource => "utm_source",
            Column::UtmMedium => "utm_medium",
            Column::UtmCampaign => "utm_campaign",
            Column::UtmTerm => "utm_term",
            Column::UtmContent => "utm_content",
            Column::Territory => "territory",
            Column::OwnerId => "owner_id",
            Column::CompanyExternalId => "company_external_id",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        ALL_COLUMNS.into_iter().find(|column| column.name() == name)
    }

    /// The longest value a cell of the column may hold (characters).
    fn max_len(self) -> usize {
        match self {
            Column::Name | Column::CompanyName => 200,
            Column::Website | Column::Email => 254,
            _ => 120,
        }
    }
}

/// A header the file cannot be imported with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

/// The checked header: each field's column, and the key column's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: ImportKind,
    pub columns: Vec<Column>,
    pub key: Column,
    key_index: usize,
}

impl Header {
    /// Checks a header row: known columns of the kind only, each once, a `name` column unless
    /// rows are matched by `id` (updates only), and the key column present.
    pub fn parse(kind: ImportKind, fields: &[String], key: &str) -> Result<Self, HeaderError> {
        let key = Column::parse(key)
            .filter(|column| kind.key_columns().contains(column))
            .ok_or_else(|| {
                HeaderError(format!(
                    "`{key}` is not a key column of {} (one of: {})",
                    kind.as_str(),
                    names(kind.key_columns())
                ))
            })?;
        let mut columns = Vec::with_capacity(fields.len());
        for (index, field) in fields.iter().enumerate() {
            // A UTF-8 byte-order mark before the first name is not part of it.
            let name = field.trim().trim_start_matches('\u{feff}').to_lowercase();
            let column = Column::parse(&name)
                .filter(|column| kind.columns().contains(column))
                .ok_or_else(|| {
                    HeaderError(format!(
                        "column {} `{}` is not a column of {} (known: {})",
                        index + 1,
                        field.trim(),
                        kind.as_str(),
                        names(kind.columns())
                    ))
                })?;
            if columns.contains(&column) {
                return Err(HeaderError(format!(
                    "the column `{}` appears twice",
                    column.name()
                )));
            }
            columns.push(column);
        }
        if key != Column::Id && !columns.contains(&Column::Name) {
            return Err(HeaderError(
                "the file has no `name` column (only a file matched by `id` may leave it out)"
                    .into(),
            ));
        }
        let key_index = columns
            .iter()
            .position(|column| *column == key)
            .ok_or_else(|| {
                HeaderError(format!(
                    "the key column `{}` is not in the header",
                    key.name()
                ))
            })?;
        Ok(Self {
            kind,
            columns,
            key,
            key_index,
        })
    }

    /// Parses one data row (`fields` as read). Empty cells leave a field as it is on update.
    pub fn row(&self, fields: &[String]) -> Result<ImportRow, RowError> {
        if fields.len() != self.columns.len() {
            return Err(RowError::bad(
                None,
                format!(
                    "the row has {} fields, the header {}",
                    fields.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut row = ImportRow::default();
        for (column, raw) in self.columns.iter().zip(fields) {
            let value = raw.trim();
            if value.is_empty() {
                continue;
            }
            if value.chars().count() > column.max_len() {
                return Err(RowError::bad(
                    Some(*column),
                    format!("at most {} characters", column.max_len()),
                ));
            }
            let value = value.to_owned();
            match column {
                Column::Id => row.id = Some(value),
                Column::ExternalId => row.external_id = Some(value),
                Column::Name => row.name = Some(value),
                Column::CompanyName => row.company_name = Some(value),
                Column::Title => row.title = Some(value),
                Column::Email => {
                    let email = EmailAddress::parse("email", &value).map_err(|_| {
                        RowError::bad(Some(Column::Email), format!("`{value}` is not an e-mail address"))
                    })?;
                    row.email_key = Some(email.match_key());
                    row.email = Some(email.as_str().to_owned());
                }
                Column::Phone => {
                    row.phone_key = Some(phone_key(&value).ok_or_else(|| {
                        RowError::bad(Some(Column::Phone), "a phone number has at least 7 digits")
                    })?);
                    row.phone = Some(value);
                }
                Column::Website => {
                    row.domain = Some(web_domain(&value).ok_or_else(|| {
                        RowError::bad(Some(Column::Website), format!("`{value}` is not a web address"))
                    })?);
                    row.website = Some(value);
                }
                Column::TaxId => {
                    row.tax_id = Some(parse_tax_id("tax_id", &value).map_err(|err| {
                        RowError::bad(Some(Column::TaxId), err.message())
                    })?)
                }
                Column::Status => {
                    row.status = Some(ClientStatus::from_db(&value.to_lowercase()).ok_or_else(|| {
                        RowError::bad(Some(Column::Status), "the status is prospect, active or churned")
                    })?)
                }
                Column::Source => {
                    row.source = Some(LeadSource::from_db(&value.to_lowercase()).ok_or_else(|| {
                        RowError::bad(
                            Some(Column::Source),
                            "the source is website, referral, event, campaign, cold_outreach, partner, import or other",
                        )
                    })?)
                }
                Column::UtmSource => row.utm_source = Some(value),
                Column::UtmMedium => row.utm_medium = Some(value),
                Column::UtmCampaign => row.utm_campaign = Some(value),
                Column::UtmTerm => row.utm_term = Some(value),
                Column::UtmContent => row.utm_content = Some(value),
                Column::Territory => row.territory = Some(value),
                Column::OwnerId => row.owner_id = Some(value),
                Column::CompanyExternalId => row.company_external_id = Some(value),
            }
        }
        if fields[self.key_index].trim().is_empty() {
            return Err(RowError::bad(
                Some(self.key),
                format!("the key column `{}` is empty", self.key.name()),
            ));
        }
        row.key = match self.key {
            Column::Email => row.email_key.clone(),
            Column::Website => row.domain.clone(),
            Column::TaxId => row.tax_id.clone(),
            Column::Id => row.id.clone(),
            Column::ExternalId => row.external_id.clone(),
            _ => None,
        }
        .unwrap_or_default();
        Ok(row)
    }
}

fn names(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|column| column.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One parsed row: the values of the columns present and not empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportRow {
    /// The key column's normalised value (e-mail and web domain keys as the duplicate finder
    /// compares them).
    pub key: String,
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub company_name: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub email_key: Option<String>,
    pub phone: Option<String>,
    pub phone_key: Option<String>,
    pub website: Option<String>,
    pub domain: Option<String>,
    pub tax_id: Option<String>,
    pub status: Option<ClientStatus>,
    pub source: Option<LeadSource>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub territory: Option<String>,
    pub owner_id: Option<String>,
    pub company_external_id: Option<String>,
}

impl ImportRow {
    /// Later rows of the same key in one file update the earlier one: their non-empty cells
    /// win.
    pub fn absorb(&mut self, later: ImportRow) {
        macro_rules! take {
            ($($field:ident),*) => {
                $(if later.$field.is_some() { self.$field = later.$field; })*
            };
        }
        take!(
            id,
            external_id,
            name,
            company_name,
            title,
            email,
            email_key,
            phone,
            phone_key,
            website,
            domain,
            tax_id,
            status,
            source,
            utm_source,
            utm_medium,
            utm_campaign,
            utm_term,
            utm_content,
            territory,
            owner_id,
            company_external_id
        );
    }
}

/// Why a row was not imported: the code a GraphQL error would carry, the column at fault and
/// what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub code: ErrorCode,
    pub column: Option<Column>,
    pub message: String,
}

impl RowError {
    pub fn bad(column: Option<Column>, message: impl Into<String>) -> Self {
        Self {
            code: ErrorCode::BadUserInput,
            column,
            message: message.into(),
        }
    }

    pub fn new(code: ErrorCode, column: Option<Column>, message: impl Into<String>) -> Self {
        Self {
            code,
            column,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<String> {
        text.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn headers_are_checked() {
        let header = Header::parse(
            ImportKind::Leads,
            &fields("\u{feff}Name,EMAIL,source"),
            "email",
        )
        .unwrap();
        assert_eq!(
            header.columns,
            vec![Column::Name, Column::Email, Column::Source]
        );
        for (kind, text, key, wanted) in [
            (
                ImportKind::Leads,
                "name,email,fax",
                "email",
                "`fax` is not a column",
            ),
            (
                ImportKind::Leads,
                "name,email,email",
                "email",
                "appears twice",
            ),
            (ImportKind::Leads, "email", "email", "no `name` column"),
            (
                ImportKind::Leads,
                "name,phone",
                "email",
                "key column `email` is not in the header",
            ),
            (
                ImportKind::Leads,
                "name,email,tax_id",
                "email",
                "`tax_id` is not a column of leads",
            ),
            (ImportKind::Leads, "name,email", "phone", "not a key column"),
            (
                ImportKind::Contacts,
                "name,source",
                "id",
                "`source` is not a column of contacts",
            ),
        ] {
            let err = Header::parse(kind, &fields(text), key).unwrap_err();
            assert!(err.0.contains(wanted), "{text}: {}", err.0);
        }
        assert!(Header::parse(ImportKind::Companies, &fields("id,status"), "id").is_ok());
    }

    #[test]
    fn rows_are_parsed_or_refused_with_their_column() {
        let header = Header::parse(
            ImportKind::Companies,
            &fields("external_id,name,email,website,status,tax_id,phone"),
            "website",
        )
        .unwrap();
        let row = header
            .row(&fields(
                "x1, Acme ,Ana+x@Acme.com,https://www.acme.com/,Active,de 123,+1 555 010 2030",
            ))
            .unwrap();
        assert_eq!(row.key, "acme.com");
        assert_eq!(row.name.as_deref(), Some("Acme"));
        assert_eq!(row.email_key.as_deref(), Some("ana@acme.com"));
        assert_eq!(row.status, Some(ClientStatus::Active));
        assert_eq!(row.tax_id.as_deref(), Some("DE123"));
        assert_eq!(row.phone_key.as_deref(), Some("5550102030"));
        for (text, column) in [
            ("x,A,not-mail,acme.com,active,DE1,", Some(Column::Email)),
            ("x,A,,acme,active,DE1,", Some(Column::Website)),
            ("x,A,,acme.com,gone,DE1,", Some(Column::Status)),
            ("x,A,,acme.com,active,??,", Some(Column::TaxId)),
            ("x,A,,acme.com,active,DE1,12", Some(Column::Phone)),
            ("x,A,,,active,DE1,", Some(Column::Website)),
            ("x,A", None),
        ] {
            let err = header.row(&fields(text)).unwrap_err();
            assert_eq!(err.column, column, "{text}: {err:?}");
            assert_eq!(err.code, ErrorCode::BadUserInput);
        }
    }

    #[test]
    fn later_rows_of_a_key_win_field_by_field() {
        let mut first = ImportRow {
            name: Some("A".into()),
            phone: Some("1".into()),
            ..Default::default()
        };
        first.absorb(ImportRow {
            name: Some("B".into()),
            ..Default::default()
        });
        assert_eq!(first.name.as_deref(), Some("B"));
        assert_eq!(first.phone.as_deref(), Some("1"));
    }
}
