//! Templates: `{{token}}` placeholders in the subject, HTML and text parts, checked when the
//! template is saved (an unknown token is refused then, never discovered at send time) and
//! filled per contact when a message is rendered.

use erp_kit::{ApiError, ApiResult};

use super::contact::string_enum;
use super::reasons;

/// The tokens a template may use.
pub const TOKENS: &[&str] = &[
    "first_name",
    "last_name",
    "email",
    "country",
    "unsubscribe_url",
];

string_enum! {
    /// Bulk templates go to segments through campaigns (and carry the unsubscribe headers);
    /// transactional ones (password reset, invoice) go to one address and ignore marketing
    /// unsubscribes.
    TemplateKind {
        Bulk => "bulk",
        Transactional => "transactional",
    }
}

/// One piece of a parsed template part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Token(&'a str),
}

fn pieces(source: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a `{{` is not closed by `}}`".to_owned())?;
        let name = after[..end].trim();
        if !TOKENS.contains(&name) {
            return Err(format!(
                "unknown token `{{{{{name}}}}}`; known: {}",
                TOKENS.join(", ")
            ));
        }
        out.push(Piece::Token(name));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks every part of a template; the error names the part (`subject`, `html`, `text`).
pub fn check(parts: &[(&str, &str)]) -> ApiResult<()> {
    for (field, source) in parts {
        pieces(source).map_err(|message| {
            ApiError::rule(
                reasons::TEMPLATE_UNKNOWN_TOKEN,
                format!("{field}: {message}"),
            )
            .on_field(*field)
        })?;
    }
    Ok(())
}

/// The values of a contact's tokens.
#[derive(Debug, Clone, Default)]
pub struct TokenValues {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub country: String,
    pub unsubscribe_url: String,
}

impl TokenValues {
    fn get(&self, token: &str) -> &str {
        match token {
            "first_name" => &self.first_name,
            "last_name" => &self.last_name,
            "email" => &self.email,
            "country" => &self.country,
            "unsubscribe_url" => &self.unsubscribe_url,
            _ => "",
        }
    }
}

/// Escapes a value for HTML text and attribute positions.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills a checked part (`html`: values escaped). A part that no longer parses (it was checked
/// at save) renders its raw text.
pub fn render(source: &str, values: &TokenValues, html: bool) -> String {
    match pieces(source) {
        Ok(pieces) => pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.to_owned(),
                Piece::Token(token) if html => escape_html(values.get(token)),
                Piece::Token(token) => values.get(token).to_owned(),
            })
            .collect(),
        Err(_) => source.to_owned(),
    }
}

/// Rewrites every `href="http..."` target of an HTML part through `link` (the tracking
/// redirect), leaving other attributes and relative or `mailto:` links alone.
pub fn rewrite_links(html: &str, mut link: impl FnMut(&str) -> String) -> String {
    const HREF: &str = "href=\"";
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find(HREF) {
        let (before, after) = rest.split_at(at + HREF.len());
        out.push_str(before);
        let Some(end) = after.find('"') else {
            rest = after;
            break;
        };
        let target = &after[..end];
        if target.starts_with("http://") || target.starts_with("https://") {
            out.push_str(&escape_html(&link(&target.replace("&amp;", "&"))));
        } else {
            out.push_str(target);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_unclosed_tokens_are_refused() {
        assert!(check(&[
            ("subject", "Hi {{ first_name }}"),
            ("text", "{{unsubscribe_url}}")
        ])
        .is_ok());
        let err = check(&[("subject", "ok"), ("html", "<p>{{favourite_colour}}</p>")]).unwrap_err();
        assert_eq!(err.reason(), Some(reasons::TEMPLATE_UNKNOWN_TOKEN));
        assert!(
            err.message()
                .starts_with("html: unknown token `{{favourite_colour}}`"),
            "{}",
            err.message()
        );
        assert!(check(&[("text", "Hi {{first_name")]).is_err());
    }

    #[test]
    fn links_are_rewritten_for_tracking() {
        let html = r#"<a href="https://x.test/a?b=1&amp;c=2">x</a> <a href="mailto:a@b.c">m</a>"#;
        let out = rewrite_links(html, |url| format!("T({url})"));
        assert_eq!(
            out,
            r#"<a href="T(https://x.test/a?b=1&amp;c=2)">x</a> <a href="mailto:a@b.c">m</a>"#
        );
    }

    #[test]
    fn rendering_fills_and_escapes() {
        let values = TokenValues {
            first_name: "Ana <b>".into(),
            email: "ana@example.com".into(),
            ..Default::default()
        };
        assert_eq!(render("Hi {{first_name}}!", &values, false), "Hi Ana <b>!");
        assert_eq!(
            render("<p>{{first_name}}</p>", &values, true),
            "<p>Ana &lt;b&gt;</p>"
        );
        assert_eq!(
            render("{{ email }}{{last_name}}", &values, false),
            "ana@example.com"
        );
    }
}
