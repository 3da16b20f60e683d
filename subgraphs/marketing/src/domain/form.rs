//! Web forms: what a form asks for (fields from a fixed catalogue CRM knows how to file, the
//! consent wording and whether it is required), and the parsing of a submission posted by a
//! website with no session: every field checked against the form, a honeypot that only
//! robots fill, the consent tick.
//!
//! The catalogue is fixed because a submission becomes a CRM lead: every field has a place
//! there (`message` becomes the note of the lead's activity). UTM parameters are accepted on
//! every form (websites copy them from the landing URL).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use erp_kit::{ApiError, ApiResult};

use super::contact::EmailAddress;
use super::reasons;

/// The hidden field a website renders off-screen: people leave it empty, form-filling robots
/// do not. A submission with it filled is answered like any other and recorded nowhere.
pub const HONEYPOT_FIELD: &str = "fax_number";

/// The checkbox field of the consent to marketing e-mail (`on`, `true`, `yes` or `1` ticked).
pub const CONSENT_FIELD: &str = "consent";

/// The UTM parameters every form accepts.
pub const UTM_FIELDS: [&str; 5] = [
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
];

/// The most fields a form shows.
pub const MAX_FORM_FIELDS: usize = 12;
/// The longest value of any field but `message`.
pub const MAX_VALUE_CHARS: usize = 200;
/// The longest `message`.
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The longest consent wording.
pub const MAX_CONSENT_TEXT_CHARS: usize = 2000;
/// The default and the highest number of submissions per client address and minute.
pub const DEFAULT_PER_CLIENT_PER_MINUTE: i32 = 5;
pub const MAX_PER_CLIENT_PER_MINUTE: i32 = 60;

/// A field a form can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKey {
    Email,
    FirstName,
    LastName,
    Company,
    Title,
    Phone,
    Website,
    Country,
    Message,
}

impl FieldKey {
    pub const ALL: [FieldKey; 9] = [
        FieldKey::Email,
        FieldKey::FirstName,
        FieldKey::LastName,
        FieldKey::Company,
        FieldKey::Title,
        FieldKey::Phone,
        FieldKey::Website,
        FieldKey::Country,
        FieldKey::Message,
    ];

    /// The name a website posts the field under.
    pub fn name(self) -> &'static str {
        match self {
            FieldKey::Email => "email",
            FieldKey::FirstName => "first_name",
            FieldKey::LastName => "last_name",
            FieldKey::Company => "company",
            FieldKey::Title => "title",
            FieldKey::Phone => "phone",
            FieldKey::Website => "website",
            FieldKey::Country => "country",
            FieldKey::Message => "message",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|key| key.name() == name)
    }

    fn max_chars(self) -> usize {
        match self {
            FieldKey::Message => MAX_MESSAGE_CHARS,
            _ => MAX_VALUE_CHARS,
        }
    }
}

/// One field of a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormField {
    pub key: FieldKey,
    pub required: bool,
}

/// What a form asks, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormDefinition {
    pub fields: Vec<FormField>,
    /// The consent wording and its version; `None`: the form asks no consent.
    pub consent: Option<(String, String)>,
    pub consent_required: bool,
    pub per_client_per_minute: i32,
}

fn form_invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::FORM_INVALID, message)
}

impl FormDefinition {
    /// A form definition as staff entered it: the e-mail field present and required (a lead
    /// without an address cannot be deduplicated or asked for consent), no field twice, a
    /// consent wording and its version together, a required consent only with a wording.
    pub fn parse(
        fields: Vec<FormField>,
        consent_text: Option<&str>,
        consent_wording_version: Option<&str>,
        consent_required: bool,
        per_client_per_minute: Option<i32>,
    ) -> ApiResult<Self> {
        if fields.is_empty() || fields.len() > MAX_FORM_FIELDS {
            return Err(
                form_invalid(format!("a form has 1 to {MAX_FORM_FIELDS} fields"))
                    .on_field("fields"),
            );
        }
        let mut seen = Vec::new();
        for field in &fields {
            if seen.contains(&field.key) {
                return Err(form_invalid(format!(
                    "the field `{}` is listed twice",
                    field.key.name()
                ))
                .on_field("fields"));
            }
            seen.push(field.key);
        }
        if !fields
            .iter()
            .any(|field| field.key == FieldKey::Email && field.required)
        {
            return Err(form_invalid("a form needs the `email` field, required").on_field("fields"));
        }
        let text = consent_text.map(str::trim).filter(|t| !t.is_empty());
        let version = consent_wording_version
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let consent = match (text, version) {
            (Some(text), Some(version)) => {
                if text.chars().count() > MAX_CONSENT_TEXT_CHARS || version.len() > 64 {
                    return Err(form_invalid(format!(
                        "the consent wording is at most {MAX_CONSENT_TEXT_CHARS} characters, its version 64"
                    ))
                    .on_field("consentText"));
                }
                Some((text.to_owned(), version.to_owned()))
            }
            (None, None) => None,
            _ => {
                return Err(form_invalid(
                    "a consent wording and its version go together (the consent log names the version shown)",
                )
                .on_field("consentWordingVersion"))
            }
        };
        if consent_required && consent.is_none() {
            return Err(
                form_invalid("a required consent needs its wording").on_field("consentRequired")
            );
        }
        let per_client_per_minute = per_client_per_minute.unwrap_or(DEFAULT_PER_CLIENT_PER_MINUTE);
        if !(1..=MAX_PER_CLIENT_PER_MINUTE).contains(&per_client_per_minute) {
            return Err(form_invalid(format!(
                "a client may submit 1 to {MAX_PER_CLIENT_PER_MINUTE} times a minute"
            ))
            .on_field("perClientPerMinute"));
        }
        Ok(Self {
            fields,
            consent,
            consent_required,
            per_client_per_minute,
        })
    }
}

/// A submission that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub email: EmailAddress,
    /// The other catalogue fields filled in (trimmed, never empty).
    pub values: BTreeMap<FieldKey, String>,
    /// The UTM parameters given (trimmed, never empty).
    pub utm: BTreeMap<&'static str, String>,
    /// Whether the consent box was ticked (always false on a form without consent).
    pub consent_granted: bool,
}

impl Submission {
    pub fn value(&self, key: FieldKey) -> Option<&str> {
        self.values.get(&key).map(String::as_str)
    }

    pub fn utm(&self, name: &str) -> Option<&str> {
        self.utm.get(name).map(String::as_str)
    }
}

/// What a posted body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Submission(Submission),
    /// The honeypot was filled: answered as accepted, recorded nowhere.
    Robot,
}

fn submission_invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::FORM_SUBMISSION_INVALID, message).on_field(field.to_owned())
}

fn ticked(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "on" | "true" | "yes" | "1"
    )
}

/// Checks a posted body (its name/value pairs, in order) against the form. Refused: a field
/// the form does not show, a field twice, a value too long or with control characters, a
/// required field empty, a bad address or phone number (FORM_SUBMISSION_INVALID or
/// INVALID_EMAIL, the field named), a required consent not ticked (FORM_CONSENT_REQUIRED).
pub fn parse_submission(form: &FormDefinition, pairs: &[(String, String)]) -> ApiResult<Parsed> {
    if pairs
        .iter()
        .any(|(name, value)| name == HONEYPOT_FIELD && !value.trim().is_empty())
    {
        return Ok(Parsed::Robot);
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut values = BTreeMap::new();
    let mut utm = BTreeMap::new();
    let mut consent_granted = false;
    for (name, value) in pairs {
        if seen.contains(&name.as_str()) {
            return Err(submission_invalid(
                name,
                format!("the field `{name}` is sent twice"),
            ));
        }
        seen.push(name);
        if name == HONEYPOT_FIELD {
            continue;
        }
        if name == CONSENT_FIELD && form.consent.is_some() {
            consent_granted = ticked(value);
            continue;
        }
        if let Some(utm_name) = UTM_FIELDS.iter().find(|u| **u == name) {
            let value = clean(name, value, MAX_VALUE_CHARS)?;
            if !value.is_empty() {
                utm.insert(*utm_name, value);
            }
            continue;
        }
        let key = FieldKey::from_name(name)
            .filter(|key| form.fields.iter().any(|field| field.key == *key))
            .ok_or_else(|| submission_invalid(name, format!("this form has no field `{name}`")))?;
        let value = clean(name, value, key.max_chars())?;
        if !value.is_empty() {
            values.insert(key, value);
        }
    }
    for field in &form.fields {
        if field.required && !values.contains_key(&field.key) {
            return Err(submission_invalid(
                field.key.name(),
                format!("the field `{}` is required", field.key.name()),
            ));
        }
    }
    let email = values
        .remove(&FieldKey::Email)
        .ok_or_else(|| submission_invalid("email", "the field `email` is required"))?;
    let email = EmailAddress::parse(&email)?;
    if let Some(phone) = values.get(&FieldKey::Phone) {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        if !(7..=20).contains(&digits)
            || !phone
                .chars()
                .all(|c| c.is_ascii_digit() || " +-()./".contains(c))
        {
            return Err(submission_invalid(
                "phone",
                "a phone number is 7 to 20 digits with `+ - ( ) . /` and spaces",
            ));
        }
    }
    if let Some(website) = values.get(&FieldKey::Website) {
        let host = website
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if !host.contains('.') || host.starts_with('.') || host.ends_with('.') {
            return Err(submission_invalid("website", "not a web address"));
        }
    }
    if form.consent_required && !consent_granted {
        return Err(ApiError::rule(
            reasons::FORM_CONSENT_REQUIRED,
            "this form needs the consent to marketing e-mail ticked",
        )
        .on_field(CONSENT_FIELD));
    }
    Ok(Parsed::Submission(Submission {
        email,
        values,
        utm,
        consent_granted,
    }))
}

/// A value trimmed, within `max` characters, without control characters (a `message` keeps
/// its line breaks).
fn clean(name: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.chars().count() > max {
        return Err(submission_invalid(
            name,
            format!("the field `{name}` is at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !(max == MAX_MESSAGE_CHARS && (c == '\n' || c == '\r')))
    {
        return Err(submission_invalid(
            name,
            format!("the field `{name}` has control characters"),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(consent_required: bool) -> FormDefinition {
        FormDefinition::parse(
            vec![
                FormField {
                    key: FieldKey::Email,
                    required: true,
                },
                FormField {
                    key: FieldKey::FirstName,
                    required: true,
                },
                FormField {
                    key: FieldKey::Phone,
                    required: false,
                },
                FormField {
                    key: FieldKey::Message,
                    required: false,
                },
            ],
            Some("Send me news"),
            Some("v3"),
            consent_required,
            None,
        )
        .unwrap()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn reason(result: ApiResult<Parsed>) -> (&'static str, Option<String>) {
        match result.unwrap_err() {
            ApiError::Rule { reason, field, .. } => (reason.name(), field),
            other => panic!("not a rule: {other:?}"),
        }
    }

    #[test]
    fn a_good_submission_parses_with_its_utm_and_consent() {
        let parsed = parse_submission(
            &form(true),
            &pairs(&[
                ("email", " Ada@Example.COM "),
                ("first_name", "Ada"),
                ("phone", "+44 20 7946 0958"),
                ("message", "Line one\r\nLine two"),
                ("utm_source", "newsletter"),
                ("consent", "on"),
                (HONEYPOT_FIELD, ""),
            ]),
        )
        .unwrap();
        let Parsed::Submission(s) = parsed else {
            panic!("not a submission")
        };
        assert_eq!(s.email.as_str(), "ada@example.com");
        assert_eq!(s.value(FieldKey::FirstName), Some("Ada"));
        assert_eq!(s.value(FieldKey::Message), Some("Line one\r\nLine two"));
        assert_eq!(s.utm("utm_source"), Some("newsletter"));
        assert!(s.consent_granted);
    }

    #[test]
    fn the_honeypot_wins_over_everything_else() {
        assert_eq!(
            parse_submission(
                &form(true),
                &pairs(&[("email", "not-an-address"), (HONEYPOT_FIELD, "555-1234")])
            )
            .unwrap(),
            Parsed::Robot
        );
    }

    #[test]
    fn bad_submissions_name_their_rule_and_field() {
        let f = form(true);
        let ok = [
            ("email", "a@b.example"),
            ("first_name", "A"),
            ("consent", "on"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut all: Vec<(&str, &str)> = ok.to_vec();
            for (n, v) in extra {
                all.retain(|(name, _)| name != n);
                all.push((n, v));
            }
            pairs(&all)
        };
        assert_eq!(
            reason(parse_submission(&f, &with(&[("company", "Acme")]))),
            ("FORM_SUBMISSION_INVALID", Some("company".into()))
        );
        assert_eq!(
            reason(parse_submission(&f, &with(&[("first_name", " ")]))),
            ("FORM_SUBMISSION_INVALID", Some("first_name".into()))
        );
        assert_eq!(
            reason(parse_submission(&f, &with(&[("email", "nope")]))),
            ("INVALID_EMAIL", Some("email".into()))
        );
        assert_eq!(
            reason(parse_submission(&f, &with(&[("phone", "12")]))),
            ("FORM_SUBMISSION_INVALID", Some("phone".into()))
        );
        assert_eq!(
            reason(parse_submission(&f, &with(&[("consent", "")]))),
            ("FORM_CONSENT_REQUIRED", Some("consent".into()))
        );
        assert_eq!(
            reason(parse_submission(
                &f,
                &with(&[("first_name", &"x".repeat(MAX_VALUE_CHARS + 1))])
            )),
            ("FORM_SUBMISSION_INVALID", Some("first_name".into()))
        );
        assert_eq!(
            reason(parse_submission(&f, &with(&[("first_name", "A\u{0}B")]))),
            ("FORM_SUBMISSION_INVALID", Some("first_name".into()))
        );
        let mut twice = with(&[]);
        twice.push(("email".into(), "c@d.example".into()));
        assert_eq!(
            reason(parse_submission(&f, &twice)),
            ("FORM_SUBMISSION_INVALID", Some("email".into()))
        );
        // Without a required consent, an unticked box is a submission without consent.
        let Parsed::Submission(s) =
            parse_submission(&form(false), &with(&[("consent", "")])).unwrap()
        else {
            panic!("not a submission")
        };
        assert!(!s.consent_granted);
    }

    #[test]
    fn a_form_definition_needs_a_required_email_and_consent_with_its_version() {
        let email = FormField {
            key: FieldKey::Email,
            required: true,
        };
        let name = |r: ApiResult<FormDefinition>| match r.unwrap_err() {
            ApiError::Rule { reason, .. } => reason.name(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            name(FormDefinition::parse(
                vec![FormField {
                    key: FieldKey::Email,
                    required: false
                }],
                None,
                None,
                false,
                None
            )),
            "FORM_INVALID"
        );
        assert_eq!(
            name(FormDefinition::parse(
                vec![email, email],
                None,
                None,
                false,
                None
            )),
            "FORM_INVALID"
        );
        assert_eq!(
            name(FormDefinition::parse(
                vec![email],
                Some("text"),
                None,
                false,
                None
            )),
            "FORM_INVALID"
        );
        assert_eq!(
            name(FormDefinition::parse(vec![email], None, None, true, None)),
            "FORM_INVALID"
        );
        assert_eq!(
            name(FormDefinition::parse(
                vec![email],
                None,
                None,
                false,
                Some(0)
            )),
            "FORM_INVALID"
        );
        let ok = FormDefinition::parse(vec![email], None, None, false, None).unwrap();
        assert_eq!(ok.per_client_per_minute, DEFAULT_PER_CLIENT_PER_MINUTE);
    }
}

/// At most this many origins may post a tenant's forms from a script.
pub const MAX_FORM_ORIGINS: usize = 50;

/// An origin as browsers send it (`https://shop.example.com`, `http://localhost:8080`): the
/// scheme and host in lower case, the port only when not the scheme's default; or
/// FORM_ORIGIN_INVALID (another scheme, a path, a query, a user, a wildcard).
pub fn normalise_origin(text: &str) -> ApiResult<String> {
    let refuse = || {
        ApiError::rule(
            reasons::FORM_ORIGIN_INVALID,
            format!("`{text}` is not an origin (http(s)://host[:port], nothing after it)"),
        )
        .on_field("origins")
    };
    let trimmed = text.trim().trim_end_matches('/');
    if trimmed.contains('*') {
        return Err(refuse());
    }
    let url = url::Url::parse(trimmed).map_err(|_| refuse())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    let Some(host) = url.host_str().filter(|_| plain) else {
        return Err(refuse());
    };
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod origin_tests {
    use super::*;

    #[test]
    fn origins_are_normalised_or_refused() {
        assert_eq!(
            normalise_origin("https://Shop.Example.com/").unwrap(),
            "https://shop.example.com"
        );
        assert_eq!(
            normalise_origin("http://localhost:8080").unwrap(),
            "http://localhost:8080"
        );
        assert_eq!(
            normalise_origin("https://shop.example.com:443").unwrap(),
            "https://shop.example.com"
        );
        for bad in [
            "shop.example.com",
            "ftp://shop.example.com",
            "https://*.example.com",
            "https://shop.example.com/form",
            "https://user@shop.example.com",
            "https://shop.example.com?x=1",
            "",
        ] {
            assert_eq!(
                normalise_origin(bad).unwrap_err().reason(),
                Some(reasons::FORM_ORIGIN_INVALID),
                "{bad}"
            );
        }
    }
}
