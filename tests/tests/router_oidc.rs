//! The router trusts an external OIDC issuer beside the identity service: the real identity
//! subgraph (tokens after password + TOTP) and `oauth2-mock-server` (npm) as a second issuer
//! added to the configuration file, in front of the real router binary. Real PostgreSQL, Redis
//! and Kafka.

use erp_tests::error_codes;
use erp_tests::identity::{IdentityApp, ADMIN_PASSWORD};
use erp_tests::router::{MockIdp, RouterOptions, RouterProcess};
use serde_json::{json, Value};

const ME: &str = "query Me { me { email } }";

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

async fn router_trusting(identity: &IdentityApp, idp: &MockIdp) -> RouterProcess {
    let options = RouterOptions::with_jwks(
        identity.url("/.well-known/jwks.json"),
        // Not called by these tests.
        "http://127.0.0.1:9/graphql".into(),
    )
    .env("ERP_JWT_ISSUER", &identity.issuer)
    .env("ERP_IDENTITY_URL", &identity.url("/graphql"))
    .trust_issuer(&idp.issuer, &idp.jwks_url);
    RouterProcess::spawn(&options).await
}

#[tokio::test]
async fn tokens_of_the_identity_service_and_of_a_configured_external_issuer_are_accepted() {
    let identity = IdentityApp::spawn(|_| {}).await;
    let idp = MockIdp::start().await;
    assert!(
        idp.issuer.starts_with("http://localhost:"),
        "{}",
        idp.issuer
    );
    let router = router_trusting(&identity, &idp).await;

    // The identity service's own token (password + TOTP), end to end through the router.
    let (_, email) = identity.bootstrap().await;
    let (tokens, _) = identity.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let access = tokens["accessToken"].as_str().unwrap();
    let (status, headers, body) = router.post(Some(access), ME, json!({}), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "data": { "me": { "email": email } } }));
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        "\"authenticated\";q=500;w=60"
    );

    // The external issuer's token (iss http://localhost:<port>, aud erp, RS256, its own key).
    let external = idp.token("erp", "employee:read").await;
    // Accepted, not anonymous: `me` (@authenticated) passes the router's check and the token
    // is forwarded to the identity subgraph, which trusts only its own tokens (defence in
    // depth) and refuses it there.
    let (status, _, body) = router.post(Some(&external), ME, json!({}), &[]).await;
    assert_eq!(
        status, 200,
        "refused by the router instead of accepted: {body}"
    );
    assert_eq!(body["data"]["me"], Value::Null, "{body}");
    assert_eq!(error_codes(&body)[0], "UNAUTHENTICATED", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["service"], "identity",
        "{body}"
    );
    assert!(
        !error_codes(&body).contains(&"UNAUTHORIZED_FIELD_OR_TYPE".to_string()),
        "the router treated the external token as anonymous: {body}"
    );
    // ...while without a token the router itself denies the field.
    let (_, _, body) = router.post(None, ME, json!({}), &[]).await;
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"], "{body}");
    assert_eq!(body["data"]["me"], Value::Null);
}

#[tokio::test]
async fn tokens_of_an_unconfigured_issuer_or_for_another_audience_are_refused() {
    let identity = IdentityApp::spawn(|_| {}).await;
    let idp = MockIdp::start().await;
    let router = router_trusting(&identity, &idp).await;

    // The configured external issuer, but a token meant for another API.
    let other_audience = idp.token("another-api", "employee:read").await;
    let (status, headers, body) = router
        .post(Some(&other_audience), "{ __typename }", json!({}), &[])
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        header(&headers, "www-authenticate"),
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");

    // Another issuer of the same kind that nobody configured (its own key and issuer).
    let stranger = MockIdp::start().await;
    let token = stranger.token("erp", "employee:read").await;
    let (status, _, body) = router
        .post(Some(&token), "{ __typename }", json!({}), &[])
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
}
