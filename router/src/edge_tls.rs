//! The edge listener's transport: TLS 1.3 only (edge-security.md), or plain HTTP on loopback when
//! explicitly asked for.
//!
//! hive-router 0.2.19 terminates TLS itself (`traffic_shaping.router.tls`) but builds its
//! `rustls::ServerConfig` with `ServerConfig::builder()`, which negotiates TLS 1.2 as well, and
//! offers no hook to change that. [`crate::server::serve`] therefore binds the listener itself
//! with the configuration built here: `builder_with_protocol_versions(&[&TLS13])`. A TLS 1.2-only
//! client gets a `protocol_version` alert. Outbound TLS (subgraphs, JWKS) is untouched.
//!
//! Where the certificate comes from, first match wins:
//!
//! 1. `ERP_TLS_CERT_FILE` + `ERP_TLS_KEY_FILE` (PEM; the certificate file may hold a chain);
//! 2. hive-router's own `traffic_shaping.router.tls` (`cert_file`, `key_file`, optional
//!    `client_auth` for mTLS), read from the configuration file;
//! 3. `ERP_ROUTER_PLAIN_HTTP=true`: no TLS at all, refused unless `http.host` (or `HOST`) is a
//!    loopback address, and refused when a certificate is configured too;
//! 4. otherwise a self-signed development certificate generated at start (rcgen, ECDSA P-256,
//!    for `localhost`, `127.0.0.1`, `::1` and the configured host), logged as a warning; with
//!    `ERP_TLS_DEV_CERT_OUT=<path>` its PEM certificate is written there so that clients can
//!    trust it.

use std::net::IpAddr;
use std::sync::Arc;

use hive_router::config::primitives::file_path::FilePath;
use hive_router::config::primitives::single_or_multiple::SingleOrMultiple;
use hive_router::config::HiveRouterConfig;
use hive_router::executor::executors::tls::from_cert_file_config_to_certificate_der;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

pub const PLAIN_HTTP_ENV: &str = "ERP_ROUTER_PLAIN_HTTP";
pub const CERT_FILE_ENV: &str = "ERP_TLS_CERT_FILE";
pub const KEY_FILE_ENV: &str = "ERP_TLS_KEY_FILE";
pub const DEV_CERT_OUT_ENV: &str = "ERP_TLS_DEV_CERT_OUT";

/// How the edge listener is bound.
pub enum EdgeListener {
    Tls {
        config: Box<ServerConfig>,
        source: TlsSource,
    },
    /// Plain HTTP, only ever on a loopback address.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// `ERP_TLS_CERT_FILE` / `ERP_TLS_KEY_FILE`.
    Environment,
    /// `traffic_shaping.router.tls` in the configuration file.
    ConfigFile,
    /// Generated at start; the PEM certificate (for clients that must trust it).
    DevCertificate { certificate_pem: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeTlsError {
    #[error("{PLAIN_HTTP_ENV} asks for plain HTTP, which is only served on a loopback address, but http.host is {0:?}")]
    PlainHttpOffLoopback(String),
    #[error(
        "{PLAIN_HTTP_ENV} asks for plain HTTP but a certificate is configured in {0}; choose one"
    )]
    PlainHttpWithCertificate(&'static str),
    #[error("{PLAIN_HTTP_ENV} must be true or false (1/0, yes/no, on/off), not {0:?}")]
    BadSwitch(String),
    #[error("set both {CERT_FILE_ENV} and {KEY_FILE_ENV}, or neither")]
    HalfConfigured,
    #[error("cannot read the {what} {path}: {message}")]
    Pem {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("no certificate in {0}")]
    NoCertificate(String),
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("invalid client certificate roots: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
    #[error("cannot generate the development certificate: {0}")]
    DevCertificate(#[from] rcgen::Error),
    #[error("cannot write the development certificate to {0}: {1}")]
    DevCertificateOut(String, std::io::Error),
}

/// Parses an on/off switch from the environment (unset is off).
pub fn parse_switch(value: Option<&str>) -> Result<bool, EdgeTlsError> {
    match value.map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "" | "0" | "false" | "no" | "off" => Ok(false),
            "1" | "true" | "yes" | "on" => Ok(true),
            _ => Err(EdgeTlsError::BadSwitch(v)),
        },
    }
}

/// `127.0.0.0/8`, `::1` or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Decides the listener from the loaded configuration and the environment (`env` looks a
/// variable up; [`std::env::var`] in the binary).
pub fn resolve(
    config: &HiveRouterConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<EdgeListener, EdgeTlsError> {
    let plain = parse_switch(env(PLAIN_HTTP_ENV).as_deref())?;
    let from_env = match (env(CERT_FILE_ENV), env(KEY_FILE_ENV)) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err(EdgeTlsError::HalfConfigured),
    };
    let file_tls = config.traffic_shaping.router.tls.as_ref();

    if plain {
        if from_env.is_some() {
            return Err(EdgeTlsError::PlainHttpWithCertificate(CERT_FILE_ENV));
        }
        if file_tls.is_some() {
            return Err(EdgeTlsError::PlainHttpWithCertificate(
                "traffic_shaping.router.tls",
            ));
        }
        if !is_loopback_host(&config.http.host) {
            return Err(EdgeTlsError::PlainHttpOffLoopback(config.http.host.clone()));
        }
        return Ok(EdgeListener::Plain);
    }

    let client_auth = match file_tls.and_then(|tls| tls.client_auth.as_ref()) {
        Some(auth) => Some((
            read_certificates(&auth.cert_file, "client CA certificate")?,
            auth.required.unwrap_or(true),
        )),
        None => None,
    };

    if let Some((cert, key)) = from_env {
        let certs = read_certificate_file(&cert, "certificate")?;
        let key = read_key_file(&key)?;
        let config = Box::new(tls13_server_config(certs, key, client_auth)?);
        return Ok(EdgeListener::Tls {
            config,
            source: TlsSource::Environment,
        });
    }
    if let Some(tls) = file_tls {
        let certs = read_certificates(&tls.cert_file, "certificate")?;
        let key = read_key_file(&tls.key_file.absolute)?;
        let config = Box::new(tls13_server_config(certs, key, client_auth)?);
        return Ok(EdgeListener::Tls {
            config,
            source: TlsSource::ConfigFile,
        });
    }

    let (certs, key, certificate_pem) = dev_certificate(&config.http.host)?;
    if let Some(path) = env(DEV_CERT_OUT_ENV) {
        write_atomically(&path, &certificate_pem)
            .map_err(|err| EdgeTlsError::DevCertificateOut(path.clone(), err))?;
    }
    let config = Box::new(tls13_server_config(certs, key, client_auth)?);
    Ok(EdgeListener::Tls {
        config,
        source: TlsSource::DevCertificate { certificate_pem },
    })
}

/// A TLS 1.3-only server configuration (ALPN is set by ntex when it binds).
pub fn tls13_server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_auth: Option<(Vec<CertificateDer<'static>>, bool)>,
) -> Result<ServerConfig, EdgeTlsError> {
    let provider = CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match client_auth {
        Some((roots, required)) => {
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(roots);
            let verifier = WebPkiClientVerifier::builder_with_provider(store.into(), provider);
            let verifier = if required {
                verifier.build()?
            } else {
                verifier.allow_unauthenticated().build()?
            };
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Ok(builder.with_single_cert(certs, key)?)
}

/// A self-signed certificate for `localhost`, `127.0.0.1`, `::1` and `host`:
/// (chain, key, PEM certificate).
pub fn dev_certificate(
    host: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String), EdgeTlsError> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let unspecified = host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    if !host.is_empty() && !unspecified && !names.iter().any(|n| n == host) {
        names.push(host.to_owned());
    }
    let generated = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        generated.signing_key.serialize_der(),
    ));
    Ok((
        vec![generated.cert.der().clone()],
        key,
        generated.cert.pem(),
    ))
}

fn read_certificates(
    files: &SingleOrMultiple<FilePath>,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, EdgeTlsError> {
    let certs =
        from_cert_file_config_to_certificate_der(files).map_err(|err| EdgeTlsError::Pem {
            what,
            path: format!("{files:?}"),
            message: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(EdgeTlsError::NoCertificate(format!("{files:?}")));
    }
    Ok(certs)
}

fn read_certificate_file(
    path: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, EdgeTlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|err| EdgeTlsError::Pem {
            what,
            path: path.to_owned(),
            message: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(EdgeTlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn read_key_file(path: &str) -> Result<PrivateKeyDer<'static>, EdgeTlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| EdgeTlsError::Pem {
        what: "private key",
        path: path.to_owned(),
        message: err.to_string(),
    })
}

/// Writes through a temporary file and a rename, so that a reader never sees half a file.
fn write_atomically(path: &str, contents: &str) -> std::io::Result<()> {
    let temporary = format!("{path}.{}.tmp", std::process::id());
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, ClientConnection, ServerConnection};
    use std::collections::HashMap;

    fn config(yaml: &str) -> HiveRouterConfig {
        hive_router::config::parse_yaml_config(yaml.to_owned()).unwrap()
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    /// Runs a handshake in memory; Ok(negotiated version) or the client's error.
    fn handshake(
        server: ServerConfig,
        client: ClientConfig,
    ) -> Result<rustls::ProtocolVersion, rustls::Error> {
        let mut server = ServerConnection::new(Arc::new(server)).unwrap();
        let mut client =
            ClientConnection::new(Arc::new(client), ServerName::try_from("localhost").unwrap())
                .unwrap();
        for _ in 0..10 {
            let mut buffer = Vec::new();
            client.write_tls(&mut buffer).unwrap();
            server.read_tls(&mut buffer.as_slice()).unwrap();
            if let Err(err) = server.process_new_packets() {
                // Deliver the server's alert to the client.
                let mut alert = Vec::new();
                let _ = server.write_tls(&mut alert);
                let _ = client.read_tls(&mut alert.as_slice());
                return Err(client.process_new_packets().err().unwrap_or(err));
            }
            let mut buffer = Vec::new();
            server.write_tls(&mut buffer).unwrap();
            client.read_tls(&mut buffer.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(client.protocol_version().unwrap());
            }
        }
        panic!("the handshake did not finish");
    }

    fn client(
        versions: &[&'static rustls::SupportedProtocolVersion],
        trusted: &CertificateDer<'static>,
    ) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(trusted.clone()).unwrap();
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    #[test]
    fn the_edge_speaks_tls_1_3_and_refuses_tls_1_2() {
        let (certs, key, _) = dev_certificate("127.0.0.1").unwrap();
        let trusted = certs[0].clone();
        let server = || tls13_server_config(certs.clone(), key.clone_key(), None).unwrap();

        let version = handshake(server(), client(&[&rustls::version::TLS13], &trusted)).unwrap();
        assert_eq!(version, rustls::ProtocolVersion::TLSv1_3);

        let refused = handshake(server(), client(&[&rustls::version::TLS12], &trusted));
        assert!(
            matches!(
                refused,
                Err(rustls::Error::AlertReceived(
                    rustls::AlertDescription::ProtocolVersion
                ))
            ),
            "{refused:?}"
        );
    }

    #[test]
    fn plain_http_only_on_loopback_and_only_when_asked() {
        let loopback = config("http:\n  host: 127.0.0.1\n");
        assert!(matches!(
            resolve(&loopback, env(&[(PLAIN_HTTP_ENV, "true")])).unwrap(),
            EdgeListener::Plain
        ));
        let everywhere = config("http:\n  host: 0.0.0.0\n");
        assert!(matches!(
            resolve(&everywhere, env(&[(PLAIN_HTTP_ENV, "1")])),
            Err(EdgeTlsError::PlainHttpOffLoopback(_))
        ));
        // Not asked: TLS with a generated certificate, written out when asked.
        let out = std::env::temp_dir().join(format!("erp-dev-cert-{}.pem", std::process::id()));
        let out_path = out.display().to_string();
        let listener = resolve(&loopback, env(&[(DEV_CERT_OUT_ENV, &out_path)])).unwrap();
        let EdgeListener::Tls {
            source: TlsSource::DevCertificate { certificate_pem },
            ..
        } = listener
        else {
            panic!("expected a dev certificate");
        };
        assert_eq!(std::fs::read_to_string(&out).unwrap(), certificate_pem);
        std::fs::remove_file(out).unwrap();

        assert!(matches!(
            resolve(&loopback, env(&[(PLAIN_HTTP_ENV, "maybe")])),
            Err(EdgeTlsError::BadSwitch(_))
        ));
        assert!(matches!(
            resolve(&loopback, env(&[(CERT_FILE_ENV, "/x.pem")])),
            Err(EdgeTlsError::HalfConfigured)
        ));
        assert!(matches!(
            resolve(
                &loopback,
                env(&[
                    (PLAIN_HTTP_ENV, "on"),
                    (CERT_FILE_ENV, "/x.pem"),
                    (KEY_FILE_ENV, "/x.key")
                ])
            ),
            Err(EdgeTlsError::PlainHttpWithCertificate(_))
        ));
    }

    #[test]
    fn a_configured_certificate_is_used() {
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let dir = std::env::temp_dir().join(format!("erp-edge-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&cert_path, generated.cert.pem()).unwrap();
        std::fs::write(&key_path, generated.signing_key.serialize_pem()).unwrap();

        let yaml = format!(
            "traffic_shaping:\n  router:\n    tls:\n      cert_file: {}\n      key_file: {}\n",
            cert_path.display(),
            key_path.display()
        );
        let listener = resolve(&config(&yaml), env(&[])).unwrap();
        assert!(matches!(
            listener,
            EdgeListener::Tls {
                source: TlsSource::ConfigFile,
                ..
            }
        ));
        let cert = cert_path.display().to_string();
        let key = key_path.display().to_string();
        let listener = resolve(
            &config("{}"),
            env(&[(CERT_FILE_ENV, &cert), (KEY_FILE_ENV, &key)]),
        )
        .unwrap();
        assert!(matches!(
            listener,
            EdgeListener::Tls {
                source: TlsSource::Environment,
                ..
            }
        ));
        // Plain HTTP is refused while a certificate is configured.
        assert!(matches!(
            resolve(&config(&yaml), env(&[(PLAIN_HTTP_ENV, "true")])),
            Err(EdgeTlsError::PlainHttpWithCertificate(_))
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "localhost",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "10.0.0.1", "example.com", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
