//! Custom fields: a project defines typed fields (text, number, date, select) and its tasks carry
//! values checked against the definition.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use erp_kit::ApiError;

use super::{Name, PmoRule};

/// The type of a custom field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// Up to 1000 characters.
    Text,
    /// A decimal number, e.g. "12.5".
    Number,
    /// A day, YYYY-MM-DD.
    Date,
    /// One of the definition's options.
    Select,
}

/// A field definition of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDefinition {
    pub id: String,
    pub name: String,
    /// The lower-cased name: names are unique in a project, whatever their case.
    pub key: String,
    pub kind: FieldKind,
    /// The allowed values of a select field (empty for the other kinds).
    #[serde(default)]
    pub options: Vec<String>,
}

/// A project has at most this many custom fields.
pub const MAX_FIELDS: usize = 50;

/// A project takes a new custom field unless one has the same name (any case) or it has
/// [`MAX_FIELDS`] already.
pub fn check_new_field(
    existing: &[FieldDefinition],
    field: &FieldDefinition,
) -> Result<(), PmoRule> {
    if existing.iter().any(|f| f.key == field.key) {
        return Err(PmoRule::CustomFieldExists {
            name: field.name.clone(),
        });
    }
    if existing.len() >= MAX_FIELDS {
        return Err(PmoRule::CustomFieldLimit { max: MAX_FIELDS });
    }
    Ok(())
}

/// The field of `existing` with the id (BAD_USER_INPUT on `fieldId` when the project has none).
pub fn field_of<'a>(
    existing: &'a [FieldDefinition],
    id: &str,
) -> Result<&'a FieldDefinition, ApiError> {
    existing
        .iter()
        .find(|f| f.id == id)
        .ok_or_else(|| ApiError::bad_input("fieldId", "no such custom field in the project"))
}

impl FieldDefinition {
    /// Parses a new definition: a select field has 1 to 50 distinct options, the others none.
    pub fn parse(name: &str, kind: FieldKind, options: &[String]) -> Result<Self, ApiError> {
        let name = Name::parse("name", name)?.into_inner();
        let key = name.to_lowercase();
        let options: Vec<String> = options.iter().map(|o| o.trim().to_owned()).collect();
        match kind {
            FieldKind::Select => {
                if options.is_empty() || options.len() > 50 {
                    return Err(ApiError::bad_input(
                        "options",
                        "a select field has 1 to 50 options",
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for option in &options {
                    if option.is_empty() || option.chars().count() > 100 {
                        return Err(ApiError::bad_input(
                            "options",
                            "an option has 1 to 100 characters",
                        ));
                    }
                    if !seen.insert(option.to_lowercase()) {
                        return Err(ApiError::bad_input(
                            "options",
                            format!("the option `{option}` is listed twice"),
                        ));
                    }
                }
            }
            FieldKind::Text | FieldKind::Number | FieldKind::Date if !options.is_empty() => {
                return Err(ApiError::bad_input(
                    "options",
                    "only a select field has options",
                ));
            }
            _ => {}
        }
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            key,
            kind,
            options,
        })
    }

    /// Checks a value against the definition and returns its canonical form ("12.50" stays
    /// "12.5", dates are YYYY-MM-DD, a select option takes the definition's spelling).
    pub fn parse_value(&self, raw: &str) -> Result<String, ApiError> {
        let value = raw.trim();
        let bad = |why: String| Err(ApiError::bad_input("value", why));
        match self.kind {
            FieldKind::Text => {
                if value.is_empty() || value.chars().count() > 1000 {
                    return bad(format!("`{}` takes 1 to 1000 characters", self.name));
                }
                if value.chars().any(|c| c.is_control() && c != '\n') {
                    return bad(format!("`{}` contains control characters", self.name));
                }
                Ok(value.to_owned())
            }
            FieldKind::Number => {
                let plain = !value.is_empty()
                    && value
                        .strip_prefix('-')
                        .unwrap_or(value)
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == '.')
                    && value.matches('.').count() <= 1
                    && !value.starts_with('.')
                    && !value.ends_with('.')
                    && value.len() <= 30;
                match value.parse::<f64>() {
                    Ok(number) if plain && number.is_finite() => Ok(number.to_string()),
                    _ => bad(format!(
                        "`{}` takes a decimal number such as 12.5, not `{value}`",
                        self.name
                    )),
                }
            }
            FieldKind::Date => match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(day) => Ok(day.to_string()),
                Err(_) => bad(format!(
                    "`{}` takes a date as YYYY-MM-DD, not `{value}`",
                    self.name
                )),
            },
            FieldKind::Select => self
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(value))
                .cloned()
                .map_or_else(
                    || {
                        bad(format!(
                            "`{}` takes one of: {}",
                            self.name,
                            self.options.join(", ")
                        ))
                    },
                    Ok,
                ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: FieldKind, options: &[&str]) -> FieldDefinition {
        let options: Vec<String> = options.iter().map(|o| (*o).to_owned()).collect();
        FieldDefinition::parse("Field", kind, &options).unwrap()
    }

    #[test]
    fn definitions() {
        assert_eq!(field(FieldKind::Select, &["Low", "High"]).key, "field");
        assert!(FieldDefinition::parse("F", FieldKind::Select, &[]).is_err());
        assert!(FieldDefinition::parse("F", FieldKind::Select, &["a".into(), "A".into()]).is_err());
        assert!(FieldDefinition::parse("F", FieldKind::Text, &["a".into()]).is_err());
        assert!(FieldDefinition::parse(" ", FieldKind::Text, &[]).is_err());
        let existing = vec![field(FieldKind::Text, &[])];
        let same = FieldDefinition::parse("FIELD", FieldKind::Number, &[]).unwrap();
        assert_eq!(
            check_new_field(&existing, &same),
            Err(PmoRule::CustomFieldExists {
                name: "FIELD".into()
            })
        );
        let other = FieldDefinition::parse("Other", FieldKind::Number, &[]).unwrap();
        assert!(check_new_field(&existing, &other).is_ok());
        let full: Vec<FieldDefinition> = (0..MAX_FIELDS)
            .map(|n| FieldDefinition::parse(&format!("F{n}"), FieldKind::Text, &[]).unwrap())
            .collect();
        assert_eq!(
            check_new_field(&full, &other),
            Err(PmoRule::CustomFieldLimit { max: 50 })
        );
        assert!(field_of(&existing, &existing[0].id).is_ok());
        assert!(field_of(&existing, "nope").is_err());
    }

    #[test]
    fn values() {
        let number = field(FieldKind::Number, &[]);
        assert_eq!(number.parse_value(" 12.50 ").unwrap(), "12.5");
        assert_eq!(number.parse_value("-3").unwrap(), "-3");
        for bad in ["", "1e5", "abc", "1.2.3", ".5", "5.", "NaN", "inf"] {
            assert!(number.parse_value(bad).is_err(), "{bad}");
        }
        let date = field(FieldKind::Date, &[]);
        assert_eq!(date.parse_value("2026-02-28").unwrap(), "2026-02-28");
        assert!(date.parse_value("2026-02-30").is_err());
        assert!(date.parse_value("28.02.2026").is_err());
        let select = field(FieldKind::Select, &["Low", "High"]);
        assert_eq!(select.parse_value("high").unwrap(), "High");
        assert!(select.parse_value("Medium").is_err());
        let text = field(FieldKind::Text, &[]);
        assert_eq!(text.parse_value(" note ").unwrap(), "note");
        assert!(text.parse_value("").is_err());
        assert!(text.parse_value(&"x".repeat(1001)).is_err());
    }
}
