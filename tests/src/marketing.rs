//! Spawning the marketing subgraph for tests (real PostgreSQL, Redis and Kafka, or the embedded
//! defaults) sending to the real SMTP server deploy/local/services.sh runs (SMTP_URL), and
//! reading back what that server recorded (SMTP_MAILDIR: one `.eml` file per message).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use erp_kit::runtime::Runtime;
use erp_marketing::{MarketingOptions, SenderOptions, Settings};
use serde_json::Value;

use crate::{post_graphql, require_env, runtime, Backends, TestIssuer};

/// The secret test services sign the mail provider's webhook calls with.
pub const WEBHOOK_SECRET: &str = "whsec-erp-tests";

/// A spawned marketing subgraph.
pub struct MarketingApp {
    pub addr: SocketAddr,
    pub runtime: Runtime,
    pub marketing: erp_marketing::Marketing,
    pub http: reqwest::Client,
    /// The channel adapter social posts are handed to: it records them (no network).
    pub channels: std::sync::Arc<erp_marketing::channels::RecordingAdapter>,
    _relay: erp_kit::events::RelayHandle,
    _sender: Option<erp_marketing::SenderHandle>,
    _consumers: Vec<erp_kit::events::ConsumerHandle>,
}

/// Publisher options for tests: a lease of a minute (passes are run with their own clock).
pub fn test_publisher(worker: &str) -> erp_marketing::PublisherOptions {
    erp_marketing::PublisherOptions {
        worker_id: format!("{worker}-{}", uuid::Uuid::new_v4().simple()),
        batch: 10,
        lease: Duration::from_secs(60),
        idle: Duration::from_millis(50),
    }
}

/// Sender options for tests: small batches, short leases, quick polls.
pub fn test_sender(worker: &str) -> SenderOptions {
    SenderOptions {
        worker_id: format!("{worker}-{}", uuid::Uuid::new_v4().simple()),
        batch: 5,
        lease: Duration::from_millis(800),
        idle: Duration::from_millis(50),
    }
}

impl MarketingApp {
    /// On a fresh PostgreSQL database, the shared Redis and Kafka, the real SMTP server; no
    /// sender (tests start and kill their own with `marketing.spawn_sender`).
    pub async fn spawn(issuer: &TestIssuer) -> Self {
        Self::spawn_with(issuer, Backends::Real, None).await
    }

    pub async fn spawn_with(
        issuer: &TestIssuer,
        backends: Backends,
        sender: Option<SenderOptions>,
    ) -> Self {
        Self::spawn_with_consumers(issuer, backends, sender, None).await
    }

    /// On the real services, its consumers reading the shared broker as groups of their own,
    /// handling only `tenants`' events (the topics hold every test's history).
    pub async fn spawn_consuming(issuer: &TestIssuer, tenants: &[&str]) -> Self {
        let options = erp_marketing::consumers::ConsumerOptions {
            group_suffix: format!(".test-{}", uuid::Uuid::new_v4().simple()),
            tenants: Some(tenants.iter().map(|t| t.to_string()).collect()),
        };
        Self::spawn_with_consumers(issuer, Backends::Real, None, Some(options)).await
    }

    pub async fn spawn_with_consumers(
        issuer: &TestIssuer,
        backends: Backends,
        sender: Option<SenderOptions>,
        consumers: Option<erp_marketing::consumers::ConsumerOptions>,
    ) -> Self {
        Self::spawn_configured(issuer, backends, sender, consumers, |_| {}).await
    }

    /// On `backends` with the test settings changed by `edit` (named relays, ...); no sender,
    /// no consumers.
    pub async fn spawn_on_with_settings(
        issuer: &TestIssuer,
        backends: Backends,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_configured(issuer, backends, None, None, edit).await
    }

    /// On the real services with the test settings changed by `edit` (a short opt-in link
    /// lifetime, ...); no sender, no consumers.
    pub async fn spawn_with_settings(
        issuer: &TestIssuer,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_configured(issuer, Backends::Real, None, None, edit).await
    }

    async fn spawn_configured(
        issuer: &TestIssuer,
        backends: Backends,
        sender: Option<SenderOptions>,
        consumers: Option<erp_marketing::consumers::ConsumerOptions>,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        let runtime = runtime(issuer, backends).await;
        Self::serve_configured(runtime, sender, consumers, edit).await
    }

    /// On a runtime the caller built (a database a seed wrote, ...); no sender, no consumers.
    pub async fn serve(runtime: Runtime) -> Self {
        Self::serve_configured(runtime, None, None, |_| {}).await
    }

    async fn serve_configured(
        mut runtime: Runtime,
        sender: Option<SenderOptions>,
        consumers: Option<erp_marketing::consumers::ConsumerOptions>,
        edit: impl FnOnce(&mut Settings),
    ) -> Self {
        runtime.config.service = "marketing".into();
        if std::env::var_os("TEST_LOG").is_some() {
            erp_kit::telemetry::init_logging(erp_kit::config::LogFormat::Pretty);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut settings = Settings {
            public_url: format!("http://{addr}"),
            from_address: "ERP Tests <news@erp-tests.example>".into(),
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            ..Settings::default()
        };
        edit(&mut settings);
        let channels = erp_marketing::channels::RecordingAdapter::new();
        let options = MarketingOptions {
            smtp_url: Some(require_env("SMTP_URL")),
            settings,
            sender,
            consumers,
            publisher: None,
            channels: Some(channels.clone()),
        };
        let app = erp_marketing::start_with(&runtime, options).await.unwrap();
        let router = app.router;
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        Self {
            addr,
            runtime,
            marketing: app.marketing,
            http: reqwest::Client::new(),
            channels,
            _relay: app.relay,
            _sender: app.sender,
            _consumers: app.consumers,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs a GraphQL request and returns (status, body).
    pub async fn graphql(&self, token: &str, query: &str, variables: Value) -> (u16, Value) {
        post_graphql(
            &self.http,
            &self.url("/graphql"),
            Some(token),
            query,
            variables,
        )
        .await
    }

    /// The `data` of a request that must succeed (200, no errors).
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["errors"].is_null(), "{query}\n{body}");
        body["data"].clone()
    }

    /// The first error's (`extensions.code`, `extensions.reason`) of a request that must fail.
    pub async fn refused(&self, token: &str, query: &str, variables: Value) -> (String, String) {
        let (status, body) = self.graphql(token, query, variables).await;
        assert_eq!(status, 200, "{body}");
        let error = &body["errors"][0];
        assert!(!error.is_null(), "expected an error: {query}\n{body}");
        (
            error["extensions"]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            error["extensions"]["reason"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    }
}

/// One message the SMTP server recorded.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The headers, unfolded, in order.
    pub headers: Vec<(String, String)>,
    /// Everything after the headers (MIME parts, transfer-decoded loosely: quoted-printable
    /// soft breaks and `=3D` undone).
    pub body: String,
}

impl Mail {
    fn parse(raw: &str) -> Self {
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = headers.last_mut() {
                    last.1.push_str(line.trim_start());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let to = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("X-Envelope-To"))
            .map(|(_, v)| v.to_lowercase())
            .collect();
        Self {
            to,
            headers,
            body: body.replace("=\r\n", "").replace("=3D", "="),
        }
    }

    /// The first header of this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first URL in the body starting with `prefix`.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.body.find(prefix)?;
        let rest = &self.body[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
            .unwrap_or(rest.len());
        Some(rest[..end].replace("&amp;", "&"))
    }
}

/// The directory the SMTP server writes to.
pub struct MailSink {
    dir: PathBuf,
}

impl MailSink {
    pub fn from_env() -> Self {
        Self {
            dir: PathBuf::from(require_env("SMTP_MAILDIR")),
        }
    }

    /// Every recorded message to `address` (tests use addresses of their own, so the directory's
    /// other messages never match).
    pub fn to(&self, address: &str) -> Vec<Mail> {
        let address = address.to_lowercase();
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter(|raw| {
                raw.to_lowercase()
                    .contains(&format!("x-envelope-to: {address}\r\n"))
            })
            .map(|raw| Mail::parse(&raw))
            .collect()
    }
}

/// A second SMTP relay for the tests (the named relays of sending providers): a minimal SMTP
/// server on a random loopback port that accepts every message and records its envelope
/// recipients, one entry per message and recipient.
pub struct SmtpRecorder {
    /// `smtp://127.0.0.1:<port>`.
    pub url: String,
    recipients: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl SmtpRecorder {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let recipients = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = recipients.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let _ = smtp_session(socket, recorded).await;
                });
            }
        });
        Self {
            url: format!("smtp://{addr}"),
            recipients,
        }
    }

    /// The recipients of every message accepted so far, in arrival order.
    pub fn recipients(&self) -> Vec<String> {
        self.recipients.lock().unwrap().clone()
    }
}

async fn smtp_session(
    socket: tokio::net::TcpStream,
    recorded: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 recorder ESMTP\r\n").await?;
    let mut envelope = Vec::new();
    let mut in_data = false;
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line == "." {
                in_data = false;
                recorded.lock().unwrap().append(&mut envelope);
                write.write_all(b"250 2.0.0 queued\r\n").await?;
            }
            continue;
        }
        let command = line.to_ascii_uppercase();
        let answer: &[u8] = if command.starts_with("EHLO") {
            b"250-recorder\r\n250 8BITMIME\r\n"
        } else if command.starts_with("HELO") || command.starts_with("NOOP") {
            b"250 recorder\r\n"
        } else if command.starts_with("MAIL FROM:") || command.starts_with("RSET") {
            envelope.clear();
            b"250 2.1.0 ok\r\n"
        } else if command.starts_with("RCPT TO:") {
            let to = line["RCPT TO:".len()..].trim();
            let to = to.split_whitespace().next().unwrap_or_default();
            envelope.push(to.trim_matches(|c| c == '<' || c == '>').to_lowercase());
            b"250 2.1.5 ok\r\n"
        } else if command == "DATA" {
            in_data = true;
            b"354 go on\r\n"
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 5.5.2 not implemented\r\n"
        };
        write.write_all(answer).await?;
    }
    Ok(())
}
