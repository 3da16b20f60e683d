//! The mail adapter: what the senders hand a rendered message to. Production and tests use
//! [`SmtpMailer`] (any SMTP relay: `smtp://host:port`, `smtps://...`, or `?tls=required`; the
//! tests' server is the one deploy/local/services.sh installs, which records every message).

use std::sync::Arc;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A rendered message, ready for the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers (`List-Unsubscribe`, `List-Unsubscribe-Post`, `X-Campaign-Id`, ...).
    pub headers: Vec<(&'static str, String)>,
}

/// Why a hand-off failed.
#[derive(Debug)]
pub struct MailError(pub String);

impl std::fmt::Display for MailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where messages go.
#[async_trait::async_trait]
pub trait MailTransport: Send + Sync + 'static {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError>;
}

pub type SharedMailer = Arc<dyn MailTransport>;

/// An SMTP relay.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl SmtpMailer {
    /// From a URL (`smtp://127.0.0.1:52525`, `smtps://user:pass@relay:465`, ...).
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
        Ok(Self { transport })
    }
}

fn build(mail: &OutgoingMail) -> Result<Message, MailError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| MailError(format!("{what}: {e}"));
    let from: Mailbox = mail.from.parse().map_err(|e| bad("from", &e))?;
    let to: Mailbox = mail.to.parse().map_err(|e| bad("to", &e))?;
    let mut builder = Message::builder()
        .from(from)
        .to(to)
        .subject(mail.subject.clone());
    for (name, value) in &mail.headers {
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str(name),
            value.clone(),
        ));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| bad("message", &e))
}

#[async_trait::async_trait]
impl MailTransport for SmtpMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = build(mail)?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| MailError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_go_into_the_message() {
        let mail = OutgoingMail {
            from: "News <news@example.com>".into(),
            to: "ana@example.com".into(),
            subject: "Hi".into(),
            text: "hello".into(),
            html: "<p>hello</p>".into(),
            headers: vec![
                ("List-Unsubscribe", "<https://x.test/u/abc>".into()),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".into()),
            ],
        };
        let raw = String::from_utf8(build(&mail).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://x.test/u/abc>\r\n"),
            "{raw}"
        );
        assert!(
            raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"),
            "{raw}"
        );
        assert!(build(&OutgoingMail {
            to: "not an address".into(),
            ..mail
        })
        .is_err());
    }
}
