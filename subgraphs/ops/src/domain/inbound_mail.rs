//! Inbound e-mail: a raw RFC 5322 message, as a mail provider's inbound webhook hands it over,
//! read into what the helpdesk needs (sender, subject, text, the ids that thread it, the
//! attachments), with the limits a message must keep. Threading (in `crate::app::inbound_mail`)
//! looks at the `In-Reply-To` and `References` ids first, then at a ticket token `[#<ticket
//! id>]` in the subject; a message that names no known ticket opens one.

use mail_parser::{MessageParser, MimeHeaders};

use erp_kit::{ApiError, ApiResult};

use super::reasons;

/// The largest raw message accepted (what the provider POSTs).
pub const MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;
/// The most attachments one message may carry.
pub const MAX_ATTACHMENTS: usize = 10;
/// The largest attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 5 * 1024 * 1024;
/// The longest text kept from a message (a ticket's description or a reply's body).
pub const MAX_TEXT_CHARS: usize = 10_000;
/// How far a call's timestamp may be from now (seconds), either way.
pub const TOLERANCE_SECS: i64 = 300;

/// File types never stored: programs and scripts a person could be tricked into running.
const REFUSED_EXTENSIONS: [&str; 14] = [
    "exe", "com", "bat", "cmd", "scr", "pif", "msi", "dll", "js", "vbs", "jar", "ps1", "sh", "apk",
];
const REFUSED_TYPES: [&str; 4] = [
    "application/x-msdownload",
    "application/x-dosexec",
    "application/x-sh",
    "application/java-archive",
];

/// An attachment of a message, accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// A message, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// Its `Message-ID` (without angle brackets).
    pub message_id: String,
    /// The ids it answers: `In-Reply-To`, then `References` from the newest back.
    pub answers: Vec<String>,
    /// The sender's address, lower case.
    pub from_address: String,
    /// The sender's display name (the address when none).
    pub from_name: String,
    pub subject: String,
    /// The text: the first text part, or the first HTML part as text.
    pub text: String,
    pub attachments: Vec<InboundAttachment>,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::rule(reasons::MAIL_MESSAGE_INVALID, message)
}

/// Reads a raw message: MAIL_TOO_LARGE over [`MAX_MESSAGE_BYTES`]; MAIL_MESSAGE_INVALID when it
/// is not a message, or has no `Message-ID`, no sender address or no text; MAIL_ATTACHMENT_REFUSED
/// for more than [`MAX_ATTACHMENTS`] attachments, one over [`MAX_ATTACHMENT_BYTES`] or of a
/// refused type (a program or script). Nothing of a refused message is kept.
pub fn parse(raw: &[u8]) -> ApiResult<InboundMessage> {
    if raw.len() > MAX_MESSAGE_BYTES {
        return Err(ApiError::rule(
            reasons::MAIL_TOO_LARGE,
            format!("a message is at most {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|message| !message.headers().is_empty())
        .ok_or_else(|| invalid("the body is not an RFC 5322 message"))?;
    let message_id = message
        .message_id()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("the message has no Message-ID"))?
        .to_owned();
    let sender = message
        .from()
        .and_then(|from| from.first())
        .ok_or_else(|| invalid("the message has no From address"))?;
    let from_address = sender
        .address()
        .map(|address| address.trim().to_lowercase())
        .filter(|address| plausible_address(address))
        .ok_or_else(|| invalid("the message's From is not an e-mail address"))?;
    let from_name = sender
        .name()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map_or_else(|| from_address.clone(), |name| clip(name, 200));
    let mut answers: Vec<String> = Vec::new();
    for header in [message.in_reply_to(), message.references()] {
        let ids: Vec<String> = match header.as_text_list() {
            Some(list) => list.iter().map(|id| id.to_string()).collect(),
            None => header.as_text().map(str::to_owned).into_iter().collect(),
        };
        // References lists the oldest first: the newest is the likeliest to be known.
        for id in ids.into_iter().rev() {
            let id = id.trim().to_owned();
            if !id.is_empty() && !answers.contains(&id) && answers.len() < 50 {
                answers.push(id);
            }
        }
    }
    let subject = clip(message.subject().unwrap_or("").trim(), 200);
    let text = message
        .body_text(0)
        .map(|text| clip(text.trim(), MAX_TEXT_CHARS))
        .filter(|text| !text.is_empty())
        .ok_or_else(|| invalid("the message has no text"))?;
    let mut attachments = Vec::new();
    for part in message.attachments() {
        if attachments.len() == MAX_ATTACHMENTS {
            return Err(ApiError::rule(
                reasons::MAIL_ATTACHMENT_REFUSED,
                format!("a message carries at most {MAX_ATTACHMENTS} attachments"),
            ));
        }
        let name = clip(part.attachment_name().unwrap_or("attachment").trim(), 200);
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_owned(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_owned())
            .to_lowercase();
        let bytes = part.contents().to_vec();
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(ApiError::rule(
                reasons::MAIL_ATTACHMENT_REFUSED,
                format!("the attachment {name} is over {MAX_ATTACHMENT_BYTES} bytes"),
            ));
        }
        if refused_type(&name, &content_type) {
            return Err(ApiError::rule(
                reasons::MAIL_ATTACHMENT_REFUSED,
                format!("the attachment {name} ({content_type}) is of a type never stored"),
            ));
        }
        attachments.push(InboundAttachment {
            name,
            content_type,
            bytes,
        });
    }
    Ok(InboundMessage {
        message_id,
        answers,
        from_address,
        from_name,
        subject,
        text,
        attachments,
    })
}

/// A program or a script, by its name or its declared type.
fn refused_type(name: &str, content_type: &str) -> bool {
    let extension = name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    REFUSED_EXTENSIONS.contains(&extension.as_str()) || REFUSED_TYPES.contains(&content_type)
}

/// One `@`, something on each side, no spaces or control characters.
fn plausible_address(address: &str) -> bool {
    matches!(address.split_once('@'), Some((local, domain))
        if !local.is_empty() && domain.contains('.') && !domain.contains('@'))
        && address.len() <= 254
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn clip(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect()
}

/// The ticket id a subject names as `[#<id>]`, if any.
pub fn ticket_token(subject: &str) -> Option<&str> {
    let start = subject.find("[#")? + 2;
    let len = subject[start..].find(']')?;
    let token = subject[start..start + len].trim();
    (!token.is_empty()
        && token.len() <= 100
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some(token)
}

/// The subject a ticket opened by a message gets: the message's, without reply and forward
/// prefixes; `(no subject)` when empty.
pub fn ticket_subject(subject: &str) -> String {
    let mut rest = subject.trim();
    loop {
        let lower = rest.to_ascii_lowercase();
        let stripped = ["re:", "fw:", "fwd:", "aw:", "wg:"]
            .iter()
            .find(|prefix| lower.starts_with(*prefix))
            .map(|prefix| rest[prefix.len()..].trim_start());
        match stripped {
            Some(next) => rest = next,
            None => break,
        }
    }
    if rest.is_empty() {
        "(no subject)".to_owned()
    } else {
        rest.to_owned()
    }
}

/// A message id as kept beside its thread (bounded: the key is its hash).
pub fn clip_id(message_id: &str) -> String {
    clip(message_id.trim(), 300)
}

/// The thread key of a message id (what the message-id index is keyed by).
pub fn thread_key(tenant: &str, message_id: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        message_id.trim().trim_matches(['<', '>']).as_bytes(),
    );
    format!("{tenant}:{}", hex::encode(digest.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(err: ApiError) -> &'static str {
        err.reason().map(|r| r.name()).unwrap_or("")
    }

    const PLAIN: &str = "From: Ada Lovelace <Ada@Example.com>\r\nTo: help@acme.test\r\n\
        Subject: Re: Printer [#tk_123]\r\nMessage-ID: <m2@example.com>\r\n\
        In-Reply-To: <m1@example.com>\r\nReferences: <m0@example.com> <m1@example.com>\r\n\r\n\
        It is still jammed.\r\n";

    #[test]
    fn a_plain_reply_is_read_with_its_thread() {
        let message = parse(PLAIN.as_bytes()).unwrap();
        assert_eq!(message.message_id, "m2@example.com");
        assert_eq!(message.answers, vec!["m1@example.com", "m0@example.com"]);
        assert_eq!(message.from_address, "ada@example.com");
        assert_eq!(message.from_name, "Ada Lovelace");
        assert_eq!(message.text, "It is still jammed.");
        assert_eq!(ticket_token(&message.subject), Some("tk_123"));
        assert_eq!(ticket_subject(&message.subject), "Printer [#tk_123]");
        assert!(message.attachments.is_empty());
    }

    #[test]
    fn bad_messages_are_refused_with_their_reason() {
        assert_eq!(
            reason(parse(b"no headers at all").unwrap_err()),
            "MAIL_MESSAGE_INVALID"
        );
        let no_id = PLAIN.replace("Message-ID: <m2@example.com>\r\n", "");
        assert_eq!(
            reason(parse(no_id.as_bytes()).unwrap_err()),
            "MAIL_MESSAGE_INVALID"
        );
        let no_from = PLAIN.replace("From: Ada Lovelace <Ada@Example.com>\r\n", "");
        assert_eq!(
            reason(parse(no_from.as_bytes()).unwrap_err()),
            "MAIL_MESSAGE_INVALID"
        );
        let huge = vec![b'a'; MAX_MESSAGE_BYTES + 1];
        assert_eq!(reason(parse(&huge).unwrap_err()), "MAIL_TOO_LARGE");
    }

    #[test]
    fn subjects_and_tokens() {
        assert_eq!(ticket_subject("RE: Fwd: re:  VPN"), "VPN");
        assert_eq!(ticket_subject("  "), "(no subject)");
        assert_eq!(ticket_token("[#abc-1] x"), Some("abc-1"));
        assert_eq!(ticket_token("[#] x"), None);
        assert_eq!(ticket_token("[#a b]"), None);
        assert_eq!(ticket_token("no token"), None);
        assert!(refused_type("setup.EXE", "application/octet-stream"));
        assert!(refused_type("x.bin", "application/x-msdownload"));
        assert!(!refused_type("photo.png", "image/png"));
        assert_eq!(thread_key("t", "<a@b>"), thread_key("t", "a@b"));
    }
}
