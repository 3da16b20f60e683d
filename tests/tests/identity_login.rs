//! The identity subgraph on real PostgreSQL and Redis: login with a mandatory second factor,
//! refresh rotation and reuse detection, revocation, lockout, key rotation, the OIDC endpoints,
//! and tokens that the shared kit verifies with nothing but the published JWKS.

use std::time::Duration;

use erp_identity::domain::totp::code_at;
use erp_kit::auth::{JwksVerifier, VerifierConfig, VerifyError};
use erp_tests::identity::{now_secs, IdentityApp, ADMIN_PASSWORD};
use erp_tests::{error_codes, AUDIENCE};
use serde_json::{json, Value};

const VERIFY_TOTP: &str = "mutation($t: String!, $c: String!) { verifyTotp(mfaToken: $t, code: $c) { accessToken refreshToken } }";
const REFRESH: &str =
    "mutation($r: String!) { refreshToken(refreshToken: $r) { accessToken refreshToken } }";

/// The shared kit's verifier, knowing only the identity service's published JWKS.
fn kit_verifier(app: &IdentityApp) -> JwksVerifier {
    JwksVerifier::new(VerifierConfig {
        jwks_url: app.url("/.well-known/jwks.json"),
        issuer: app.issuer.clone(),
        audience: AUDIENCE.into(),
        cache_ttl: Duration::from_secs(300),
        min_refetch_interval: Duration::from_millis(10),
        leeway: Duration::from_secs(0),
    })
}

fn kid_of(token: &str) -> String {
    erp_kit::auth::TokenRules::kid_of(token).unwrap()
}

#[tokio::test]
async fn full_login_with_totp_and_tokens_verified_by_the_kit() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (tenant, email) = app.bootstrap().await;

    let (tokens, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    assert_eq!(tokens["expiresIn"], 900);
    assert_eq!(tokens["recoveryCodes"].as_array().unwrap().len(), 10);
    let access = tokens["accessToken"].as_str().unwrap();
    let claims = kit_verifier(&app).verify(access).await.unwrap();
    assert_eq!(claims.tenant_id, tenant);
    assert_eq!(claims.email, email);
    assert_eq!(claims.role, "Admin");
    assert_eq!(claims.name, "Ada Admin");
    assert!(claims.permissions.contains(&"identity:admin".to_string()));
    assert_eq!(claims.iss, app.issuer);
    assert_eq!(claims.exp - claims.iat, 900);
    assert!(!claims.jti.is_empty());

    let (_, body) = app
        .graphql(
            Some(access),
            "{ me { email name status role { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body,
        json!({ "data": { "me": { "email": email, "name": "Ada Admin", "status": "ACTIVE", "role": { "name": "Admin" } } } })
    );

    // The second login asks for the enrolled factor, not an enrolment.
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(body["data"]["login"]["enrollmentRequired"], false);
    assert_eq!(
        body["data"]["login"]["methods"],
        json!(["totp", "recovery_code"])
    );
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // The code used at enrolment cannot be used again; the next step's code works once.
    let used = code_at(&secret, now_secs()).unwrap();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": used }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    let next = code_at(&secret, now_secs() + 30).unwrap();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": next }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app.login(&email, ADMIN_PASSWORD).await;
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": next }))
        .await;
    assert_eq!(
        error_codes(&body),
        ["UNAUTHENTICATED"],
        "a replayed code is refused: {body}"
    );

    // A used MFA token is gone after success.
    let (_, body) = app
        .graphql(
            None,
            VERIFY_TOTP,
            json!({ "t": "not-a-token", "c": "123456" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Recovery codes work once each.
    let recovery = tokens["recoveryCodes"][0].as_str().unwrap().to_uppercase();
    let query = "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }";
    let (_, body) = app
        .graphql(None, query, json!({ "t": mfa, "c": recovery }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app.login(&email, ADMIN_PASSWORD).await;
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(None, query, json!({ "t": mfa, "c": recovery }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn without_a_second_factor_only_enrolment_is_possible() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(body["data"]["login"]["enrollmentRequired"], true);
    assert_eq!(body["data"]["login"]["methods"], json!([]));
    let mfa = body["data"]["login"]["mfaToken"].as_str().unwrap();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": "123456" }))
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    // A wrong first code does not enrol.
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginTotpEnrollment(mfaToken: $t) { secret } }",
            json!({ "t": mfa }),
        )
        .await;
    assert!(body["data"]["beginTotpEnrollment"]["secret"].is_string());
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { confirmTotpEnrollment(mfaToken: $t, code: \"000000\") { accessToken } }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let first = tokens["refreshToken"].as_str().unwrap().to_owned();

    let (_, body) = app.graphql(None, REFRESH, json!({ "r": first })).await;
    assert!(body["errors"].is_null(), "{body}");
    let second = body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    kit_verifier(&app)
        .verify(
            body["data"]["refreshToken"]["accessToken"]
                .as_str()
                .unwrap(),
        )
        .await
        .unwrap();

    // The first one again: reuse, and the whole family dies, including the newest.
    let (_, body) = app.graphql(None, REFRESH, json!({ "r": first })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("already used"));
    let (_, body) = app.graphql(None, REFRESH, json!({ "r": second })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Logout revokes.
    let (tokens, _) = {
        let body = app.login(&email, ADMIN_PASSWORD).await;
        let _ = body;
        // log in again through recovery code to get a fresh family
        let body = app.login(&email, ADMIN_PASSWORD).await;
        let mfa = body["data"]["login"]["mfaToken"]
            .as_str()
            .unwrap()
            .to_owned();
        let code = tokens["recoveryCodes"][1].as_str().unwrap();
        let (_, body) = app
            .graphql(
                None,
                "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { refreshToken } }",
                json!({ "t": mfa, "c": code }),
            )
            .await;
        (body["data"]["verifyRecoveryCode"].clone(), ())
    };
    let refresh = tokens["refreshToken"].as_str().unwrap();
    let (_, body) = app
        .graphql(
            None,
            "mutation($r: String!) { logout(refreshToken: $r) }",
            json!({ "r": refresh }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "logout": true } }));
    let (_, body) = app.graphql(None, REFRESH, json!({ "r": refresh })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Audit events went through the outbox.
    let types = outbox_event_types(&app).await;
    for expected in [
        "tenant.created",
        "mfa.enrolled",
        "login.succeeded",
        "session.refresh_reuse_detected",
        "session.logged_out",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "{expected} missing from {types:?}"
        );
    }
}

async fn outbox_event_types(app: &IdentityApp) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.runtime.db;
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        "SELECT event_type FROM identity_outbox ORDER BY seq",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.try_get::<String>("", "event_type").unwrap())
    .collect()
}

#[tokio::test]
async fn lockout_grows_expires_and_does_not_reveal_accounts() {
    let app = IdentityApp::spawn(|config| {
        config.lockout.base_wait = Duration::from_secs(1);
        config.lockout.free_failures = 3;
    })
    .await;
    let (_, email) = app.bootstrap().await;

    let wrong = app.login(&email, "wrong password!!").await;
    let unknown = app
        .login("nobody@nowhere.example", "wrong password!!")
        .await;
    assert_eq!(error_codes(&wrong), ["UNAUTHENTICATED"]);
    assert_eq!(
        wrong["errors"][0]["message"], unknown["errors"][0]["message"],
        "same answer for unknown users"
    );

    app.login(&email, "wrong password!!").await;
    app.login(&email, "wrong password!!").await; // third failure: locked for 1 s
    let locked = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(error_codes(&locked), ["RATE_LIMITED"], "{locked}");
    assert_eq!(locked["errors"][0]["extensions"]["retryAfter"], 1);
    // Unknown accounts lock the same way (no enumeration through the lockout).
    for _ in 0..3 {
        app.login("nobody@nowhere.example", "x").await;
    }
    let body = app.login("nobody@nowhere.example", "x").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert!(body["errors"].is_null(), "the lockout expired: {body}");
}

#[tokio::test]
async fn many_failures_from_one_address_block_that_address() {
    let app = IdentityApp::spawn(|config| config.lockout.per_ip_limit = 4).await;
    let (_, email) = app.bootstrap().await;
    for n in 0..4 {
        let body = app
            .login(&format!("guess{n}@acme.example"), "wrong password!!")
            .await;
        assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    }
    // Even the right password of a never-failed account is refused from this address now.
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 900);
}

#[tokio::test]
async fn invitations_roles_and_deactivation_revoke_sessions() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, admin_email) = app.bootstrap().await;
    let (admin_tokens, _) = app.login_enrolling_totp(&admin_email, ADMIN_PASSWORD).await;
    let admin = admin_tokens["accessToken"].as_str().unwrap().to_owned();

    let (_, body) = app
        .graphql(
            Some(&admin),
            "{ roles(first: 10) { edges { node { id name permissions } } } }",
            json!({}),
        )
        .await;
    let roles = body["data"]["roles"]["edges"].as_array().unwrap().clone();
    let role_id = |name: &str| {
        roles.iter().find(|r| r["node"]["name"] == name).unwrap()["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Admin, Finance, HR, Manager, Employee.
    assert_eq!(roles.len(), 5);

    let email = format!("emp-{}@acme.example", uuid::Uuid::new_v4().simple());
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id status } } }",
            json!({ "i": { "email": email, "name": "Rahul Verma", "departments": ["Engineering"], "roleId": role_id("Employee") } }),
        )
        .await;
    assert_eq!(
        body["data"]["inviteUser"]["user"]["status"], "INVITED",
        "{body}"
    );
    let user_id = body["data"]["inviteUser"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invite = body["data"]["inviteUser"]["inviteToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let accept =
        "mutation($t: String!, $p: String!) { acceptInvite(inviteToken: $t, password: $p) }";
    let (_, body) = app
        .graphql(None, accept, json!({ "t": invite, "p": "short" }))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let (_, body) = app
        .graphql(
            None,
            accept,
            json!({ "t": invite, "p": "a long enough password" }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "acceptInvite": true } }));
    let (_, body) = app
        .graphql(
            None,
            accept,
            json!({ "t": invite, "p": "a long enough password" }),
        )
        .await;
    assert_eq!(
        error_codes(&body),
        ["BAD_USER_INPUT"],
        "an invitation works once"
    );

    let (tokens, _) = app
        .login_enrolling_totp(&email, "a long enough password")
        .await;
    let user_token = tokens["accessToken"].as_str().unwrap().to_owned();
    let claims = kit_verifier(&app).verify(&user_token).await.unwrap();
    assert_eq!(claims.role, "Employee");
    assert_eq!(claims.departments, ["Engineering"]);
    assert_eq!(
        claims.permissions,
        [
            "employee:read",
            "attendance:checkin",
            "okr:read",
            "okr:write",
            "leave:apply",
            "task:start",
            "task:log",
            "project:read",
            "expense:submit"
        ]
    );

    // An employee cannot administer.
    let (_, body) = app
        .graphql(Some(&user_token), "{ scopes { name } }", json!({}))
        .await;
    assert_eq!(body["data"], json!({ "scopes": null }));
    assert_eq!(error_codes(&body), ["UNAUTHORIZED_FIELD_OR_TYPE"]);
    let (_, body) = app
        .graphql(
            Some(&admin),
            "{ scopes { name subgraph description } }",
            json!({}),
        )
        .await;
    assert!(body["data"]["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "task:start"));

    // Roles only from registered scopes.
    let (_, body) = app
        .graphql(Some(&admin), "mutation { createRole(input: { name: \"Odd\", permissions: [\"make:coffee\"] }) { id } }", json!({}))
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($u: ID!, $r: ID!) { assignRole(userId: $u, roleId: $r) { role { name } } }",
            json!({ "u": user_id, "r": role_id("Manager") }),
        )
        .await;
    assert_eq!(
        body["data"]["assignRole"]["role"]["name"], "Manager",
        "{body}"
    );
    let (_, body) = app
        .graphql(None, REFRESH, json!({ "r": tokens["refreshToken"] }))
        .await;
    let refreshed = body["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap();
    assert_eq!(
        kit_verifier(&app).verify(refreshed).await.unwrap().role,
        "Manager",
        "the new role is in the next token"
    );
    let latest_refresh = body["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();

    // Deactivation revokes every session and blocks login.
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($u: ID!) { deactivateUser(userId: $u) { status } }",
            json!({ "u": user_id }),
        )
        .await;
    assert_eq!(body["data"]["deactivateUser"]["status"], "DEACTIVATED");
    let (_, body) = app
        .graphql(None, REFRESH, json!({ "r": latest_refresh }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    let body = app.login(&email, "a long enough password").await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);

    // Another tenant's admin sees nothing of this one.
    let (_, other_email) = app.bootstrap().await;
    let (other, _) = app.login_enrolling_totp(&other_email, ADMIN_PASSWORD).await;
    let (_, body) = app
        .graphql(
            other["accessToken"].as_str(),
            "query($u: ID!) { user(id: $u) { id } }",
            json!({ "u": user_id }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "user": null } }));
    let (_, body) = app
        .graphql(
            other["accessToken"].as_str(),
            "mutation($u: ID!) { deactivateUser(userId: $u) { id } }",
            json!({ "u": user_id }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_new_ones_use_the_new_key() {
    let app = IdentityApp::spawn(|config| config.jwks_cache_ttl = Duration::from_secs(1)).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let old = tokens["accessToken"].as_str().unwrap().to_owned();
    let verifier = kit_verifier(&app);
    verifier.verify(&old).await.unwrap();

    let new_kid = app.service.rotate_signing_key().await.unwrap();
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&new_kid.as_str()),
        "published before it signs"
    );
    assert!(kids.contains(&kid_of(&old).as_str()));

    // Within the TTL the old key still signs.
    let (_, body) = app
        .graphql(None, REFRESH, json!({ "r": tokens["refreshToken"] }))
        .await;
    assert_eq!(
        kid_of(
            body["data"]["refreshToken"]["accessToken"]
                .as_str()
                .unwrap()
        ),
        kid_of(&old)
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let (_, body) = app
        .graphql(
            None,
            REFRESH,
            json!({ "r": body["data"]["refreshToken"]["refreshToken"] }),
        )
        .await;
    let fresh = body["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(kid_of(&fresh), new_kid, "after one TTL the new key signs");

    // Both verify with the published JWKS only (the old until it expires).
    verifier.verify(&fresh).await.unwrap();
    verifier.verify(&old).await.unwrap();
    assert!(outbox_event_types(&app)
        .await
        .iter()
        .any(|t| t == "signing_key.rotated"));
}

#[tokio::test]
async fn forged_and_broken_tokens_are_refused_with_the_right_code() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    let app = IdentityApp::spawn(|config| config.access_ttl = Duration::from_secs(1)).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let good = tokens["accessToken"].as_str().unwrap().to_owned();
    let verifier = kit_verifier(&app);
    let claims = verifier.verify(&good).await.unwrap();

    let parts: Vec<&str> = good.split('.').collect();
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let mut elevated = serde_json::to_value(&claims).unwrap();
    elevated["tenant_id"] = json!("tnt_other");
    let tampered = format!("{}.{}.{}", parts[0], b64(&elevated), parts[2]);
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid_of(&good) })),
        parts[1]
    );
    // HS256 "signed" with the public key: the classic algorithm-confusion attack.
    let jwks: Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_n = jwks["keys"][0]["n"].as_str().unwrap().to_owned();
    let hs_header = b64(&json!({ "alg": "HS256", "typ": "JWT", "kid": kid_of(&good) }));
    let signing_input = format!("{hs_header}.{}", parts[1]);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, public_n.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    let hs256 = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    let mut wrong_audience = serde_json::to_value(&claims).unwrap();
    wrong_audience["aud"] = json!("another-app");
    let signer = app.service.keys().signing_key().await.unwrap();
    let wrong_audience = signer.sign(&wrong_audience).unwrap();
    // Long expired (beyond any clock-skew leeway).
    let mut expired = serde_json::to_value(&claims).unwrap();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 120);
    let expired = signer.sign(&expired).unwrap();

    assert_eq!(
        verifier.verify(&tampered).await.unwrap_err(),
        VerifyError::Invalid("InvalidSignature".into())
    );
    assert_eq!(
        verifier.verify(&alg_none).await.unwrap_err(),
        VerifyError::Malformed
    );
    assert_eq!(
        verifier.verify(&hs256).await.unwrap_err(),
        VerifyError::WrongAlgorithm
    );
    assert_eq!(
        verifier.verify(&wrong_audience).await.unwrap_err(),
        VerifyError::Invalid("InvalidAudience".into())
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        verifier.verify(&good).await.unwrap_err(),
        VerifyError::Expired
    );

    // Through HTTP the same tokens get 401 + WWW-Authenticate + UNAUTHENTICATED.
    for token in [&tampered, &alg_none, &hs256, &wrong_audience, &expired] {
        let response = app
            .http
            .post(app.url("/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": "{ me { id } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 401);
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\""
        );
        assert_eq!(
            error_codes(&response.json().await.unwrap()),
            ["UNAUTHENTICATED"]
        );
    }
}

#[tokio::test]
async fn oidc_discovery_jwks_token_endpoint_and_userinfo() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (tenant, email) = app.bootstrap().await;
    let (_, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;

    let discovery: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.issuer);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.issuer)
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/oauth/token", app.issuer)
    );
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    let jwks = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = jwks.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    let token = |form: Vec<(&'static str, String)>| {
        let http = app.http.clone();
        let url = app.url("/oauth/token");
        async move { http.post(url).form(&form).send().await.unwrap() }
    };
    let response = token(vec![
        ("grant_type", "password".into()),
        ("username", email.clone()),
        ("password", ADMIN_PASSWORD.into()),
    ])
    .await;
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    let mfa = body["mfa_token"].as_str().unwrap().to_owned();
    let response = token(vec![
        ("grant_type", erp_identity::oidc::GRANT_MFA_OTP.into()),
        ("mfa_token", mfa),
        ("otp", code_at(&secret, now_secs() + 30).unwrap()),
    ])
    .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    let response = token(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert_eq!(response.status().as_u16(), 200);

    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], email);
    assert_eq!(info["tenant_id"], tenant);
    let response = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let response = token(vec![("grant_type", "client_credentials".into())]).await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unsupported_grant_type"
    );
    let response = token(vec![
        ("grant_type", "password".into()),
        ("username", email.clone()),
        ("password", "wrong one!!".into()),
    ])
    .await;
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn webauthn_registration_and_login_with_a_software_authenticator() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;

    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let origin = url::Url::parse("https://localhost").unwrap();
    let mut authenticator = SoftPasskey::new(true);

    let body = app.login(&email, ADMIN_PASSWORD).await;
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginWebauthnRegistration(mfaToken: $t) }",
            json!({ "t": mfa }),
        )
        .await;
    let options =
        serde_json::from_value(body["data"]["beginWebauthnRegistration"].clone()).unwrap();
    let credential = authenticator
        .do_registration(origin.clone(), options)
        .unwrap();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $c: JSON!) { finishWebauthnRegistration(mfaToken: $t, credential: $c) { accessToken recoveryCodes } }",
            json!({ "t": mfa, "c": credential }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        body["data"]["finishWebauthnRegistration"]["recoveryCodes"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(
        body["data"]["login"]["methods"],
        json!(["webauthn", "recovery_code"])
    );
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginWebauthnLogin(mfaToken: $t) }",
            json!({ "t": mfa }),
        )
        .await;
    let options = serde_json::from_value(body["data"]["beginWebauthnLogin"].clone()).unwrap();
    let assertion = authenticator.do_authentication(origin, options).unwrap();
    let finish = "mutation($t: String!, $c: JSON!) { finishWebauthnLogin(mfaToken: $t, credential: $c) { accessToken } }";
    let (_, body) = app
        .graphql(None, finish, json!({ "t": mfa, "c": assertion }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    kit_verifier(&app)
        .verify(
            body["data"]["finishWebauthnLogin"]["accessToken"]
                .as_str()
                .unwrap(),
        )
        .await
        .unwrap();

    // The same assertion again (a replay) is refused: the login attempt is over.
    let (_, body) = app
        .graphql(None, finish, json!({ "t": mfa, "c": assertion }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
}
