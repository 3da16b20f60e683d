//! The duplicate finder's keys and similarity: how two records are recognised as the same
//! company or person (normalised e-mail, phone, web domain, similar names).
//!
//! E-mail keys follow the kit's one policy ([`erp_kit::types::EmailAddress::match_key`]), the
//! same that marketing's suppression list uses.

use std::collections::BTreeSet;

/// Mail providers whose domain says nothing about the company behind an address.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "hotmail.com",
    "outlook.com",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "yandex.ru",
    "mail.ru",
    "qq.com",
    "163.com",
];

/// Words that say what kind of company it is, not which one: left out of name keys, so
/// `Acme Ltd.` and `ACME Limited` meet.
const LEGAL_FORMS: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "ltd",
    "limited",
    "llc",
    "llp",
    "plc",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "ab",
    "as",
    "pvt",
    "pty",
    "kg",
    "the",
];

/// Whether `domain` is a free mail provider's.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL_DOMAINS.contains(&domain)
}

/// The phone key: the last 10 digits of the number (national significant numbers are at most
/// 10 digits in most plans, so `+1 (555) 010-2030` and `555.010.2030` meet, and so do a
/// number with and without its `+44`/`0044`/`0` prefix); `None` with fewer than 7 digits.
pub fn phone_key(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 {
        return None;
    }
    Some(digits[digits.len().saturating_sub(10)..].to_owned())
}

/// The web domain of a website or an e-mail address: lower case, without scheme, `www.`,
/// port, path or query. `None` when nothing domain-like is left.
pub fn web_domain(raw: &str) -> Option<String> {
    let text = raw.trim().to_lowercase();
    let text = text
        .rsplit_once('@')
        .map_or(text.as_str(), |(_, domain)| domain);
    let text = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    let host = text.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    let host = host
        .strip_prefix("www.")
        .unwrap_or(host)
        .trim_end_matches('.');
    let valid = host.contains('.')
        && !host.starts_with('.')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    valid.then(|| host.to_owned())
}

/// The company domain of an e-mail address: its domain unless a free mail provider's.
pub fn company_domain_of_email(email_key: &str) -> Option<String> {
    web_domain(email_key).filter(|domain| !is_free_mail(domain))
}

/// Lower case letters and digits, everything else a space; accents of the common Latin letters
/// dropped (`Müller` is `muller`).
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => 'a',
            'ç' | 'č' | 'ć' => 'c',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' => 'i',
            'ñ' | 'ń' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' => 'u',
            'ý' | 'ÿ' => 'y',
            'š' | 'ś' => 's',
            'ž' | 'ź' | 'ż' => 'z',
            'ł' => 'l',
            'ß' => 's',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect()
}

/// The words of a name that identify it (folded, legal forms left out).
pub fn name_words(name: &str) -> Vec<String> {
    fold(name)
        .split_whitespace()
        .filter(|word| !LEGAL_FORMS.contains(word))
        .map(str::to_owned)
        .collect()
}

/// The name key: the identifying words joined by one space (`ACME, Ltd.` is `acme`). A name
/// of legal forms only keeps its folded words.
pub fn name_key(name: &str) -> String {
    let words = name_words(name);
    if words.is_empty() {
        return fold(name).split_whitespace().collect::<Vec<_>>().join(" ");
    }
    words.join(" ")
}

/// The tokens under which a name is indexed for similar-name candidates: its identifying words
/// of two characters or more (at most 8 of them).
pub fn name_tokens(name: &str) -> BTreeSet<String> {
    name_words(name)
        .into_iter()
        .filter(|word| word.chars().count() >= 2)
        .take(8)
        .collect()
}

/// The trigrams of a key as PostgreSQL's pg_trgm makes them: each word padded with two spaces
/// before and one after.
fn trigrams(key: &str) -> BTreeSet<[char; 3]> {
    let mut grams = BTreeSet::new();
    for word in key.split_whitespace() {
        let padded: Vec<char> = "  "
            .chars()
            .chain(word.chars())
            .chain(std::iter::once(' '))
            .collect();
        for window in padded.windows(3) {
            grams.insert([window[0], window[1], window[2]]);
        }
    }
    grams
}

/// pg_trgm's similarity of two name keys: shared trigrams over all trigrams, 0.0 to 1.0.
pub fn similarity(a: &str, b: &str) -> f64 {
    let (a, b) = (trigrams(a), trigrams(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let shared = a.intersection(&b).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// Names at least this similar are suggested as duplicates.
pub const SIMILAR_NAME_THRESHOLD: f64 = 0.5;

/// What makes a record a likely duplicate of another, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchReason {
    /// The same mailbox (e-mail keys equal).
    Email,
    /// The same phone number (phone keys equal).
    Phone,
    /// The same company web domain.
    Domain,
    /// The same name key.
    SameName,
    /// A similar name (trigram similarity at least [`SIMILAR_NAME_THRESHOLD`]).
    SimilarName,
}

/// The keys of a record (or of a record about to be created) the duplicate finder compares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchKeys {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub domain: Option<String>,
    pub name: String,
}

impl MatchKeys {
    /// The reasons `other` matches these keys, with the name similarity (1.0 for the same key).
    pub fn compare(&self, other: &MatchKeys) -> (Vec<MatchReason>, f64) {
        let mut reasons = Vec::new();
        let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
        if same(&self.email, &other.email) {
            reasons.push(MatchReason::Email);
        }
        if same(&self.phone, &other.phone) {
            reasons.push(MatchReason::Phone);
        }
        if same(&self.domain, &other.domain) {
            reasons.push(MatchReason::Domain);
        }
        let score = if !self.name.is_empty() && self.name == other.name {
            reasons.push(MatchReason::SameName);
            1.0
        } else {
            let score = similarity(&self.name, &other.name);
            if score >= SIMILAR_NAME_THRESHOLD {
                reasons.push(MatchReason::SimilarName);
            }
            score
        };
        (reasons, score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keys_ignore_formatting_and_prefixes() {
        for (a, b) in [
            ("+1 (555) 010-2030", "555.010.2030"),
            ("+44 20 7946 0958", "020 7946 0958"),
            ("0044 20 7946 0958", "+44 (0)20 7946 0958"),
        ] {
            assert_eq!(phone_key(a), phone_key(b), "{a} / {b}");
        }
        assert_eq!(phone_key("12-34"), None);
    }

    #[test]
    fn web_domains_from_sites_and_addresses() {
        for (given, domain) in [
            ("https://www.Acme.com/about?x=1", Some("acme.com")),
            ("acme.co.uk:8443", Some("acme.co.uk")),
            ("ana@sales.acme.com", Some("sales.acme.com")),
            ("not a domain", None),
            ("", None),
        ] {
            assert_eq!(web_domain(given).as_deref(), domain, "{given}");
        }
        assert_eq!(company_domain_of_email("ana@gmail.com"), None);
        assert_eq!(
            company_domain_of_email("ana@acme.com").as_deref(),
            Some("acme.com")
        );
    }

    #[test]
    fn name_keys_drop_legal_forms_case_and_accents() {
        assert_eq!(name_key("ACME, Ltd."), "acme");
        assert_eq!(name_key("Acme Limited"), "acme");
        assert_eq!(name_key("Müller GmbH & Co. KG"), "muller");
        assert_eq!(name_key("The Company"), "the company");
        assert_eq!(
            name_tokens("Globex Corporation of America")
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["america", "globex", "of"]
        );
    }

    #[test]
    fn similarity_is_pg_trgm_like() {
        assert!((similarity("acme", "acme") - 1.0).abs() < f64::EPSILON);
        assert!(similarity("acme industries", "acme industry") >= SIMILAR_NAME_THRESHOLD);
        assert!(similarity("acme", "globex") < 0.1);
        assert_eq!(similarity("", "acme"), 0.0);
    }

    #[test]
    fn comparing_keys_names_every_reason() {
        let a = MatchKeys {
            email: Some("ana@acme.com".into()),
            phone: Some("5550102030".into()),
            domain: Some("acme.com".into()),
            name: "acme".into(),
        };
        let b = MatchKeys {
            email: None,
            phone: Some("5550102030".into()),
            domain: Some("acme.com".into()),
            name: "acme".into(),
        };
        let (reasons, score) = a.compare(&b);
        assert_eq!(
            reasons,
            vec![
                MatchReason::Phone,
                MatchReason::Domain,
                MatchReason::SameName
            ]
        );
        assert!((score - 1.0).abs() < f64::EPSILON);
        let (reasons, _) = a.compare(&MatchKeys::default());
        assert!(reasons.is_empty());
    }
}
