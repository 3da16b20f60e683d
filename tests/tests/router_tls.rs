//! The router's edge listener: TLS 1.3 only (edge-security.md), with a certificate from the
//! configuration or a generated development certificate, and plain HTTP only on loopback and
//! only when asked for. The real router binary in front of the employee subgraph on real
//! PostgreSQL/Redis/Kafka (see tests/src/router.rs).

use std::process::{Command, Stdio};
use std::time::Duration;

use erp_tests::router::{tls_client, RouterOptions, RouterProcess, Transport};
use erp_tests::{require_env, Backends, EmployeeApp, TestIssuer};
use reqwest::tls::Version;
use serde_json::{json, Value};

const DEPARTMENTS: &str =
    "query Departments { departments(first: 1) { pageInfo { hasNextPage } } }";

struct Stand {
    issuer: TestIssuer,
    app: EmployeeApp,
}

async fn stand() -> Stand {
    require_env("REDIS_URL");
    let issuer = TestIssuer::start().await;
    let runtime = erp_tests::runtime(&issuer, Backends::Real).await;
    let app = EmployeeApp::spawn(runtime).await;
    Stand { issuer, app }
}

impl Stand {
    fn options(&self) -> RouterOptions {
        RouterOptions::new(&self.issuer, self.app.url("/graphql"))
    }

    /// A federated query through `client`; returns (status, body).
    async fn query(&self, client: &reqwest::Client, url: &str) -> reqwest::Result<(u16, Value)> {
        let token = self.issuer.token("tnt_tls", "usr_tls", &["employee:read"]);
        let response = client
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json")
            .json(&json!({ "query": DEPARTMENTS }))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }
}

fn assert_answered(status: u16, body: &Value) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        &json!({ "data": { "departments": { "pageInfo": { "hasNextPage": false } } } })
    );
}

/// The error and its sources, for matching the TLS alert inside reqwest's error.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        chain.push_str(" / ");
        chain.push_str(&inner.to_string());
        source = inner.source();
    }
    chain
}

/// rustls refuses the TLS 1.2 ClientHello (`protocol_version`, see the erp-router unit test
/// `the_edge_speaks_tls_1_3_and_refuses_tls_1_2`); ntex 3.12 then closes the connection without
/// flushing the alert, so the client sees the handshake end.
fn assert_refused_in_the_handshake(error: reqwest::Error) {
    let chain = error_chain(&error);
    assert!(
        chain.contains("tls handshake eof") || chain.contains("ProtocolVersion"),
        "expected the TLS handshake to be refused, got: {chain}"
    );
}

/// `openssl s_client -brief` with one protocol version: (success, output).
fn openssl_s_client(port: u16, version_flag: &str) -> (bool, String) {
    let output = Command::new("openssl")
        .args(["s_client", "-brief", "-servername", "localhost", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .arg(version_flag)
        .stdin(Stdio::null())
        .output()
        .expect("openssl is needed for this test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()))
}

#[tokio::test]
async fn a_tls_1_3_client_gets_a_graphql_answer_and_a_tls_1_2_client_is_refused() {
    let stand = stand().await;
    let dir = temp_dir("erp-router-tls");
    let transport = Transport::openssl_certificate(&dir);
    let router = RouterProcess::spawn(&stand.options().transport(transport)).await;
    let cert = router.cert_pem.clone().unwrap();
    let url = router.url("/graphql");
    assert!(url.starts_with("https://"), "{url}");

    let tls13 = tls_client(&cert, Some(Version::TLS_1_3), Some(Version::TLS_1_3));
    let (status, body) = stand.query(&tls13, &url).await.unwrap();
    assert_answered(status, &body);

    let tls12 = tls_client(&cert, Some(Version::TLS_1_2), Some(Version::TLS_1_2));
    assert_refused_in_the_handshake(stand.query(&tls12, &url).await.unwrap_err());

    // An independent client (OpenSSL) sees the same.
    let port = router.port;
    let (ok, output) = tokio::task::spawn_blocking(move || openssl_s_client(port, "-tls1_2"))
        .await
        .unwrap();
    assert!(!ok, "TLS 1.2 was accepted: {output}");
    assert!(!output.contains("CONNECTION ESTABLISHED"), "{output}");
    assert!(
        output.contains("unexpected eof") || output.contains("alert protocol version"),
        "{output}"
    );
    let (ok, output) = tokio::task::spawn_blocking(move || openssl_s_client(port, "-tls1_3"))
        .await
        .unwrap();
    assert!(ok, "{output}");
    assert!(output.contains("Protocol version: TLSv1.3"), "{output}");

    // Plain HTTP on the TLS port is not answered.
    let plain = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/graphql"))
        .json(&json!({ "query": "{ __typename }" }))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    drop(router);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn without_a_certificate_the_router_serves_tls_1_3_with_a_generated_one() {
    let stand = stand().await;
    let router = RouterProcess::spawn(&stand.options().transport(Transport::DevCertificate)).await;
    // router.http trusts the certificate the router wrote to ERP_TLS_DEV_CERT_OUT, for 127.0.0.1.
    let url = router.url("/graphql");
    let (status, body) = stand.query(&router.http, &url).await.unwrap();
    assert_answered(status, &body);
    let cert = router.cert_pem.clone().unwrap();
    let tls12 = tls_client(&cert, None, Some(Version::TLS_1_2));
    assert_refused_in_the_handshake(stand.query(&tls12, &url).await.unwrap_err());
    assert!(
        router.log_text().contains("GENERATED SELF-SIGNED"),
        "{}",
        router.log_text()
    );
}

#[tokio::test]
async fn plain_http_is_served_only_on_loopback_and_only_when_asked() {
    let stand = stand().await;
    // Asked for, on 127.0.0.1: served.
    let router = RouterProcess::spawn(&stand.options()).await;
    assert!(router.url("/graphql").starts_with("http://"));
    let (status, body) = stand
        .query(&router.http, &router.url("/graphql"))
        .await
        .unwrap();
    assert_answered(status, &body);

    // Asked for on every interface: the router refuses to start.
    let mut everywhere = stand.options();
    everywhere.host = "0.0.0.0".into();
    let (status, log) = RouterProcess::start(&everywhere)
        .wait_exit(Duration::from_secs(30))
        .await;
    let status = status.expect("the router kept running with plain HTTP on 0.0.0.0");
    assert!(!status.success(), "{log}");
    assert!(log.contains("only served on a loopback address"), "{log}");

    // Asked for while a certificate is configured: refused too.
    let dir = temp_dir("erp-router-tls-conflict");
    let Transport::Tls {
        cert_file,
        key_file,
        ..
    } = Transport::openssl_certificate(&dir)
    else {
        unreachable!()
    };
    let conflicting = stand
        .options()
        .env("ERP_TLS_CERT_FILE", cert_file.to_str().unwrap())
        .env("ERP_TLS_KEY_FILE", key_file.to_str().unwrap());
    let (status, log) = RouterProcess::start(&conflicting)
        .wait_exit(Duration::from_secs(30))
        .await;
    assert!(!status.expect("still running").success(), "{log}");
    assert!(log.contains("choose one"), "{log}");
    std::fs::remove_dir_all(dir).unwrap();
}
