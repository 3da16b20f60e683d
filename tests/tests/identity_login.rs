//! The identity subgraph on real PostgreSQL and Redis: login with a mandatory second factor,
//! refresh rotation and reuse detection, revocation, lockout, key rotation, the OIDC endpoints,
//! and tokens that the shared kit verifies with nothing but the published JWKS.

use std::time::Duration;

use erp_identity::domain::totp::code_at;
use erp_kit::auth::{JwksVerifier, VerifierConfig, VerifyError};
use erp_tests::identity::{now_secs, IdentityApp, ADMIN_PASSWORD};
use erp_tests::{error_codes, Backends, AUDIENCE};
use serde_json::{json, Value};

/// The `extensions.reason` of each error ("" for an error without one).
fn error_reasons(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["reason"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

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
    assert_eq!(error_reasons(&body), ["SECOND_FACTOR_REJECTED"]);
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
    assert_eq!(error_reasons(&body), ["SECOND_FACTOR_REJECTED"]);

    // A used MFA token is gone after success.
    let (_, body) = app
        .graphql(
            None,
            VERIFY_TOTP,
            json!({ "t": "not-a-token", "c": "123456" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(error_reasons(&body), ["MFA_SESSION_INVALID"]);

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
    assert_eq!(error_reasons(&body), ["SECOND_FACTOR_REJECTED"]);
    assert_eq!(
        body["errors"][0]["message"],
        "the recovery code is wrong or was already used"
    );
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
    assert_eq!(error_reasons(&body), ["ENROLLMENT_REQUIRED"]);
    // Confirming before beginning is out of order.
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { confirmTotpEnrollment(mfaToken: $t, code: \"000000\") { accessToken } }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["MFA_STEP_NOT_STARTED"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "mfaToken");
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
    assert_eq!(error_reasons(&body), ["SECOND_FACTOR_REJECTED"]);
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
    assert_eq!(error_reasons(&body), ["REFRESH_TOKEN_REUSED"]);
    let (_, body) = app.graphql(None, REFRESH, json!({ "r": second })).await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(error_reasons(&body), ["REFRESH_TOKEN_INVALID"]);

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
    assert_eq!(error_reasons(&body), ["REFRESH_TOKEN_INVALID"]);

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
    assert_eq!(error_reasons(&wrong), ["INVALID_CREDENTIALS"]);
    assert_eq!(error_reasons(&unknown), ["INVALID_CREDENTIALS"]);

    app.login(&email, "wrong password!!").await;
    app.login(&email, "wrong password!!").await; // third failure: locked for 1 s
    let locked = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(error_codes(&locked), ["RATE_LIMITED"], "{locked}");
    assert_eq!(locked["errors"][0]["extensions"]["retryAfter"], 1);
    assert_eq!(error_reasons(&locked), ["ACCOUNT_LOCKED"]);
    // Unknown accounts lock the same way (no enumeration through the lockout).
    for _ in 0..3 {
        app.login("nobody@nowhere.example", "x").await;
    }
    let body = app.login("nobody@nowhere.example", "x").await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"]);
    assert_eq!(error_reasons(&body), ["ACCOUNT_LOCKED"]);

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
    assert_eq!(error_reasons(&body), ["ADDRESS_BLOCKED"]);
}

/// The OAuth token endpoint counts failures per real client too: behind a trusted proxy (the
/// ingress in front of identity) one client's failures block that client, not the proxy and
/// with it everyone.
#[tokio::test]
async fn token_endpoint_failures_behind_a_proxy_block_their_own_client_only() {
    let app = IdentityApp::spawn_configured(
        Backends::Real,
        |kit| kit.trusted_proxies = erp_net::IpNet::loopback().to_vec(),
        |config| config.lockout.per_ip_limit = 4,
    )
    .await;
    let (_, email) = app.bootstrap().await;
    let grant = |client: &'static str, username: String, password: &'static str| {
        let http = app.http.clone();
        let url = app.url("/oauth/token");
        async move {
            http.post(url)
                .header("x-forwarded-for", client)
                .form(&[
                    ("grant_type", "password".to_owned()),
                    ("username", username),
                    ("password", password.to_owned()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for n in 0..4 {
        let response = grant(
            "198.51.100.7",
            format!("guess{n}@acme.example"),
            "wrong password!!",
        )
        .await;
        assert_eq!(response.status().as_u16(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{body}");
    }
    // The attacker's address is blocked, even with the right password...
    let response = grant("198.51.100.7", email.clone(), ADMIN_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 429, "blocked address");
    assert!(response.headers().contains_key("retry-after"));
    // ...while another client behind the same proxy passes the password step (on to enrolling
    // a second factor: the administrator has none yet).
    let response = grant("203.0.113.9", email.clone(), ADMIN_PASSWORD).await;
    assert_eq!(response.status().as_u16(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_enrollment_required", "{body}");
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
    // Admin, Finance, HR, Manager, Employee, Sales, Marketing.
    assert_eq!(roles.len(), 7);

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
    assert_eq!(error_reasons(&body), ["PASSWORD_POLICY"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "password");
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
    assert_eq!(error_reasons(&body), ["INVITATION_INVALID"]);

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
            "expense:submit",
            "procurement:request",
            "helpdesk:submit",
            "sop:read"
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
    assert_eq!(error_reasons(&body), ["UNKNOWN_SCOPE"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "permissions");
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
    assert_eq!(error_reasons(&body), ["REFRESH_TOKEN_INVALID"]);
    let body = app.login(&email, "a long enough password").await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"]);
    assert_eq!(error_reasons(&body), ["INVALID_CREDENTIALS"]);

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
    assert_eq!(error_reasons(&body), ["USER_NOT_FOUND"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "userId");
}

#[tokio::test]
async fn key_rotation_keeps_old_tokens_valid_and_new_ones_use_the_new_key() {
    let app = IdentityApp::spawn(|config| config.jwks_cache_ttl = Duration::from_secs(1)).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let old = tokens["accessToken"].as_str().unwrap().to_owned();
    let verifier = kit_verifier(&app);
    verifier.verify(&old).await.unwrap();

    let new_kid = app.identity.rotate_signing_key().await.unwrap();
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
    let signer = app.identity.keys().signing_key().await.unwrap();
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
    assert_eq!(error_reasons(&body), ["MFA_SESSION_INVALID"]);
}

#[tokio::test]
async fn mfa_steps_and_account_rules_answer_with_their_reasons() {
    let app = IdentityApp::spawn(|config| config.invite_ttl = Duration::ZERO).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let admin = tokens["accessToken"].as_str().unwrap().to_owned();
    let admin_id = app.verify_sub(&admin).await;

    // A user with TOTP verifies it: enrolling again, or a security key they do not have, is
    // not a login step.
    let body = app.login(&email, ADMIN_PASSWORD).await;
    let mfa = body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginTotpEnrollment(mfaToken: $t) { secret } }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_codes(&body), ["FORBIDDEN"], "{body}");
    assert_eq!(error_reasons(&body), ["FACTOR_ALREADY_ENROLLED"]);
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginWebauthnLogin(mfaToken: $t) }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["FACTOR_NOT_ENROLLED"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "mfaToken");
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { finishWebauthnLogin(mfaToken: $t, credential: {}) { accessToken } }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["MFA_STEP_NOT_STARTED"]);

    // Administration rules.
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($u: ID!) { deactivateUser(userId: $u) { id } }",
            json!({ "u": admin_id }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["SELF_DEACTIVATION"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "userId");
    let invite =
        "mutation($i: InviteUserInput!) { inviteUser(input: $i) { inviteToken user { id } } }";
    let (_, body) = app
        .graphql(
            Some(&admin),
            invite,
            json!({ "i": { "email": "new@acme.example", "name": "New", "roleId": "rol_nope" } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["ROLE_NOT_FOUND"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "roleId");
    let (_, body) = app
        .graphql(
            Some(&admin),
            "{ roles(first: 10) { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    let employee_role = body["data"]["roles"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["node"]["name"] == "Employee")
        .unwrap()["node"]["id"]
        .clone();
    let (_, body) = app
        .graphql(
            Some(&admin),
            invite,
            json!({ "i": { "email": email, "name": "Twin", "roleId": employee_role } }),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    assert_eq!(error_reasons(&body), ["EMAIL_IN_USE"]);
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation { createRole(input: { name: \"Admin\", permissions: [] }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_codes(&body), ["CONFLICT"], "{body}");
    assert_eq!(error_reasons(&body), ["ROLE_NAME_TAKEN"]);
    let (_, body) = app
        .graphql(
            Some(&admin),
            "mutation($u: ID!) { assignRole(userId: $u, roleId: \"rol_nope\") { id } }",
            json!({ "u": admin_id }),
        )
        .await;
    assert_eq!(error_reasons(&body), ["ROLE_NOT_FOUND"], "{body}");

    // This service's invitations expire at once: accepting one says so.
    let (_, body) = app
        .graphql(
            Some(&admin),
            invite,
            json!({ "i": { "email": format!("late-{}@acme.example", uuid::Uuid::new_v4().simple()), "name": "Late", "roleId": employee_role } }),
        )
        .await;
    let token = body["data"]["inviteUser"]["inviteToken"].clone();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $p: String!) { acceptInvite(inviteToken: $t, password: $p) }",
            json!({ "t": token, "p": "a long enough password" }),
        )
        .await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(error_reasons(&body), ["INVITATION_EXPIRED"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "inviteToken");
}

async fn importing_users_is_batched_idempotent_and_audited(backends: erp_tests::Backends) {
    use erp_identity::{ImportedUser, IMPORT_BATCH};
    use erp_kit::{ErrorCode, TenantId};

    let app = IdentityApp::spawn_on(backends, |_| {}).await;
    let (tenant, admin_email) = app.bootstrap().await;
    let tenant = TenantId::from_claim(&tenant);
    let (tokens, _) = app.login_enrolling_totp(&admin_email, ADMIN_PASSWORD).await;
    let admin = tokens["accessToken"].as_str().unwrap().to_owned();
    let admin_id = app.verify_sub(&admin).await;
    let unique = uuid::Uuid::new_v4().simple().to_string();
    let user = |n: usize, role: &str, password: Option<&str>| ImportedUser {
        email: format!("  Person{n}-{unique}@Acme.example "),
        name: format!("Person {n}"),
        departments: vec!["Engineering".into()],
        role: role.into(),
        password: password.map(str::to_owned),
    };
    let people = vec![
        user(1, "Employee", Some("a long enough password")),
        user(2, "Manager", None),
        user(1, "Employee", Some("a long enough password")),
    ];
    let first = app
        .identity
        .import_users(&tenant, &admin_id, people.clone())
        .await
        .unwrap();
    let email1 = format!("person1-{unique}@acme.example");
    assert_eq!(first[0].email, email1, "normalised");
    assert_eq!(
        first
            .iter()
            .map(|o| (o.created, o.activated))
            .collect::<Vec<_>>(),
        [(true, true), (true, false), (false, false)]
    );
    assert_eq!(first[2].id, first[0].id, "the same email twice is one user");

    // The imported users are the tenant's, with their roles; the active one logs in, the
    // invited one (no password) cannot.
    let (_, body) = app
        .graphql(
            Some(&admin),
            "{ users(first: 10) { edges { node { id email status departments role { name } } } } }",
            json!({}),
        )
        .await;
    let mut listed: Vec<Value> = body["data"]["users"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["email"] != admin_email)
        .collect();
    listed.sort_by_key(|n| n["email"].as_str().unwrap().to_owned());
    assert_eq!(
        listed,
        [
            json!({ "id": first[0].id, "email": email1, "status": "ACTIVE", "departments": ["Engineering"], "role": { "name": "Employee" } }),
            json!({ "id": first[1].id, "email": first[1].email, "status": "INVITED", "departments": ["Engineering"], "role": { "name": "Manager" } }),
        ]
    );
    let body = app.login(&email1, "a long enough password").await;
    assert_eq!(body["data"]["login"]["enrollmentRequired"], true, "{body}");
    let body = app.login(&first[1].email, "a long enough password").await;
    assert_eq!(error_reasons(&body), ["INVALID_CREDENTIALS"]);

    // Again: nothing new, the same ids.
    let again = app
        .identity
        .import_users(&tenant, &admin_id, people)
        .await
        .unwrap();
    assert!(again.iter().all(|o| !o.created && !o.activated));
    assert_eq!(
        again.iter().map(|o| &o.id).collect::<Vec<_>>(),
        first.iter().map(|o| &o.id).collect::<Vec<_>>()
    );

    // More than a batch: one transaction and one audit event per batch.
    let many: Vec<ImportedUser> = (10..10 + IMPORT_BATCH + 1)
        .map(|n| user(n, "Employee", None))
        .collect();
    let outcomes = app
        .identity
        .import_users(&tenant, &admin_id, many)
        .await
        .unwrap();
    assert_eq!(
        outcomes.iter().filter(|o| o.created).count(),
        IMPORT_BATCH + 1
    );
    let imported = outbox_event_types(&app)
        .await
        .into_iter()
        .filter(|t| t == "users.imported")
        .count();
    assert_eq!(
        imported, 3,
        "the first import, and two batches; the repeat created nothing"
    );

    // Another tenant cannot import this tenant's login names, nor name a role it lacks; a
    // refused batch writes nothing.
    let (other, _) = app.bootstrap().await;
    let other = TenantId::from_claim(&other);
    let err = app
        .identity
        .import_users(
            &other,
            "importer",
            vec![user(900, "Employee", None), user(1, "Employee", None)],
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    assert_eq!(err.reason().map(|r| r.name()), Some("EMAIL_IN_USE"));
    assert!(err.message().contains(&email1), "{}", err.message());
    let err = app
        .identity
        .import_users(&other, "importer", vec![user(901, "Astronaut", None)])
        .await
        .unwrap_err();
    assert_eq!(err.reason().map(|r| r.name()), Some("ROLE_NOT_FOUND"));
    assert!(app
        .identity
        .account_by_email(&format!("person900-{unique}@acme.example"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn importing_users_on_postgres() {
    importing_users_is_batched_idempotent_and_audited(erp_tests::Backends::Real).await;
}

#[tokio::test]
async fn importing_users_on_sqlite() {
    importing_users_is_batched_idempotent_and_audited(erp_tests::Backends::Embedded).await;
}

// ----- issue 16: login bounds, lockout that fails closed, MFA guessing, sessions, secrets -----

fn mfa_token_of(body: &Value) -> String {
    body["data"]["login"]["mfaToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no mfaToken: {body}"))
        .to_owned()
}

/// A six-digit code that is not the TOTP code of `secret` anywhere near now (a guess that is
/// surely wrong).
fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-3i64..=3)
        .map(|step| code_at(secret, (now_secs() as i64 + step * 30) as u64).unwrap())
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|code| !near.contains(code))
        .unwrap()
}

/// The keys of the real Redis matching `pattern`.
async fn redis_keys(pattern: &str) -> Vec<String> {
    let client = redis::Client::open(erp_tests::require_env("REDIS_URL")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn login_input_is_bounded_and_lockout_keys_never_hold_the_raw_email() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;

    // A login name of almost 2 MB (the request limit) is refused as malformed, not checked,
    // hashed or counted (it would have been a 12-hour Redis key of 2 MB per request).
    let huge = format!("{}@acme.example", "a".repeat(1_900_000));
    let body = app.login(&huge, "wrong password!!").await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    assert_eq!(
        body["errors"][0]["message"],
        "an email address has at most 254 characters"
    );
    let body = app.login("not an email", "wrong password!!").await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "email");
    let body = app.login(&email, &"x".repeat(100_000)).await;
    assert_eq!(error_codes(&body), ["BAD_USER_INPUT"]);
    assert_eq!(body["errors"][0]["extensions"]["field"], "password");
    assert_eq!(
        body["errors"][0]["message"],
        "a password has at most 256 characters"
    );

    // Failed logins are counted under a hash of the normalised email: the raw login name is
    // in no key, and its spellings share one counter.
    let prefix = app.identity.config().cache_prefix.clone();
    app.login(&email, "wrong password!!").await;
    let keys = redis_keys(&format!("{prefix}:*")).await;
    assert!(!keys.is_empty(), "the failure is counted");
    app.login(&format!("  {}  ", email.to_uppercase()), "wrong password!!")
        .await;
    assert_eq!(
        redis_keys(&format!("{prefix}:*")).await.len(),
        keys.len(),
        "the same counter"
    );
    let local_part = email.split('@').next().unwrap();
    for key in &keys {
        assert!(
            !key.contains(local_part) && !key.contains("acme.example"),
            "{key}"
        );
        assert!(key.len() < 200, "{key}");
    }
    // The malformed attempts above counted nothing: 2 failures, far from the lock.
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn login_is_refused_when_the_lockout_state_cannot_be_read_or_written() {
    use erp_tests::identity::{fresh_kit, real_bus};
    use erp_tests::TcpRelay;

    let redis_url = url::Url::parse(&erp_tests::require_env("REDIS_URL")).unwrap();
    let relay = TcpRelay::start(format!(
        "{}:{}",
        redis_url.host_str().unwrap(),
        redis_url.port().unwrap_or(6379)
    ))
    .await;
    let mut relayed = redis_url.clone();
    relayed.set_port(Some(relay.address().port())).unwrap();
    let cache = std::sync::Arc::new(
        erp_kit::cache::RedisCache::connect(relayed.as_str())
            .await
            .unwrap(),
    );
    let app = IdentityApp::spawn_with(
        fresh_kit(&erp_tests::Backends::Real).await,
        cache,
        real_bus(erp_tests::require_env("KAFKA_BROKERS")),
        |_| {},
    )
    .await;
    let (_, email) = app.bootstrap().await;

    // The lockout's store is down: no password is checked (a wrong one would go uncounted: an
    // unlimited number of guesses), the login is refused with a reason saying why.
    relay.cut();
    for password in ["wrong password!!", ADMIN_PASSWORD] {
        let body = app.login(&email, password).await;
        assert_eq!(error_codes(&body), ["INTERNAL"], "{body}");
        assert_eq!(error_reasons(&body), ["LOCKOUT_UNAVAILABLE"], "{body}");
    }
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", email.as_str()),
            ("password", "wrong password!!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );

    // Back up: logins work again.
    relay.restore();
    let body = erp_tests::eventually(Duration::from_secs(30), || async {
        let body = app.login(&email, ADMIN_PASSWORD).await;
        body["errors"].is_null().then_some(body)
    })
    .await
    .expect("logins work once the cache is back");
    assert_eq!(body["data"]["login"]["enrollmentRequired"], true);
}

#[tokio::test]
async fn an_attacker_with_the_password_gets_a_bounded_number_of_totp_guesses() {
    const FREE: usize = 3;
    let app = IdentityApp::spawn(|config| {
        config.lockout.free_failures = FREE as u32;
        config.lockout.base_wait = Duration::from_secs(600);
    })
    .await;
    let (_, email) = app.bootstrap().await;
    let (_, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let wrong = wrong_code(&secret);

    // Log in again and again, guessing until each attempt ends: only FREE guesses are ever
    // checked (a correct password neither resets the count nor opens a fresh allowance).
    let mut checked = 0;
    let mut refused = 0;
    for _ in 0..4 {
        let body = app.login(&email, ADMIN_PASSWORD).await;
        if body["errors"].is_array() {
            assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
            assert_eq!(error_reasons(&body), ["ACCOUNT_LOCKED"]);
            assert!(body["errors"][0]["extensions"]["retryAfter"].as_u64() > Some(0));
            refused += 1;
            continue;
        }
        let mfa = mfa_token_of(&body);
        for _ in 0..5 {
            let (_, body) = app
                .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": wrong }))
                .await;
            match error_reasons(&body)[0].as_str() {
                "SECOND_FACTOR_REJECTED" => checked += 1,
                "ACCOUNT_LOCKED" | "MFA_SESSION_INVALID" => break,
                other => panic!("{other}: {body}"),
            }
        }
    }
    assert_eq!(checked, FREE, "guesses checked");
    assert!(refused >= 3, "the password step is refused while locked");

    // The OAuth password grant answers the same lock.
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", email.as_str()),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
}

#[tokio::test]
async fn the_account_lock_is_checked_on_every_second_factor_step() {
    const FREE: usize = 3;
    let app = IdentityApp::spawn(|config| {
        config.lockout.free_failures = FREE as u32;
        config.lockout.base_wait = Duration::from_secs(600);
    })
    .await;
    let (_, email) = app.bootstrap().await;
    let (tokens, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let wrong = wrong_code(&secret);
    let mfa = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    for _ in 0..FREE {
        let (_, body) = app
            .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": wrong }))
            .await;
        assert_eq!(error_reasons(&body), ["SECOND_FACTOR_REJECTED"], "{body}");
    }
    // The attempt is not over (5 wrong factors end one) but the account is locked: the right
    // code, a valid recovery code, a security key and the OAuth MFA grants all wait.
    let right = code_at(&secret, now_secs() + 30).unwrap();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": mfa, "c": right }))
        .await;
    assert_eq!(error_codes(&body), ["RATE_LIMITED"], "{body}");
    assert_eq!(error_reasons(&body), ["ACCOUNT_LOCKED"]);
    let recovery = tokens["recoveryCodes"][0].as_str().unwrap();
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": recovery }),
        )
        .await;
    assert_eq!(error_reasons(&body), ["ACCOUNT_LOCKED"], "{body}");
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginWebauthnLogin(mfaToken: $t) }",
            json!({ "t": mfa }),
        )
        .await;
    assert_eq!(error_reasons(&body), ["ACCOUNT_LOCKED"], "{body}");
    for (grant, field, value) in [
        (erp_identity::oidc::GRANT_MFA_OTP, "otp", right.as_str()),
        (
            erp_identity::oidc::GRANT_MFA_RECOVERY,
            "recovery_code",
            recovery,
        ),
    ] {
        let response = app
            .http
            .post(app.url("/oauth/token"))
            .form(&[("grant_type", grant), ("mfa_token", &mfa), (field, value)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 429, "{grant}");
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "temporarily_unavailable"
        );
    }
}

#[tokio::test]
async fn a_new_login_voids_the_previous_mfa_session() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let (_, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    let first = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let second = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let code = code_at(&secret, now_secs() + 30).unwrap();
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": first, "c": code }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert_eq!(error_reasons(&body), ["MFA_SESSION_INVALID"]);
    let (_, body) = app
        .graphql(None, VERIFY_TOTP, json!({ "t": second, "c": code }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_superseded_enrolment_cannot_overwrite_the_enrolled_factor() {
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_authenticator_rs::WebauthnAuthenticator;

    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    const BEGIN: &str = "mutation($t: String!) { beginTotpEnrollment(mfaToken: $t) { secret } }";
    const CONFIRM: &str = "mutation($t: String!, $c: String!) { confirmTotpEnrollment(mfaToken: $t, code: $c) { accessToken recoveryCodes } }";

    // An attacker who knows the password starts an enrolment (and a WebAuthn registration);
    // the owner then logs in and enrols their own authenticator.
    let attacker = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let (_, body) = app.graphql(None, BEGIN, json!({ "t": attacker })).await;
    let attacker_secret = body["data"]["beginTotpEnrollment"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let origin = url::Url::parse("https://localhost").unwrap();
    let mut attacker_key = SoftPasskey::new(true);
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!) { beginWebauthnRegistration(mfaToken: $t) }",
            json!({ "t": attacker }),
        )
        .await;
    let options =
        serde_json::from_value(body["data"]["beginWebauthnRegistration"].clone()).unwrap();
    let attacker_credential = attacker_key.do_registration(origin, options).unwrap();

    let (owner_tokens, owner_secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    assert!(owner_tokens["accessToken"].is_string());

    // The attacker's enrolment, begun earlier, finishes now: refused; the owner's factor stays.
    let code = code_at(&attacker_secret, now_secs()).unwrap();
    let (_, body) = app
        .graphql(None, CONFIRM, json!({ "t": attacker, "c": code }))
        .await;
    assert_eq!(error_codes(&body), ["UNAUTHENTICATED"], "{body}");
    assert_eq!(error_reasons(&body), ["MFA_SESSION_INVALID"]);
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $c: JSON!) { finishWebauthnRegistration(mfaToken: $t, credential: $c) { accessToken } }",
            json!({ "t": attacker, "c": attacker_credential }),
        )
        .await;
    assert_eq!(error_reasons(&body), ["MFA_SESSION_INVALID"], "{body}");
    let body = app.login(&email, ADMIN_PASSWORD).await;
    assert_eq!(
        body["data"]["login"]["methods"],
        json!(["totp", "recovery_code"]),
        "no security key was added"
    );
    let (_, body) = app
        .graphql(
            None,
            VERIFY_TOTP,
            json!({ "t": mfa_token_of(&body), "c": code_at(&owner_secret, now_secs() + 30).unwrap() }),
        )
        .await;
    assert!(
        body["errors"].is_null(),
        "the owner's TOTP still works: {body}"
    );

    // One enrolment confirmed many times at once (the same code, the same attempt): one
    // factor and one set of recovery codes, whatever the interleaving.
    let (_, other) = app.bootstrap().await;
    let mfa = mfa_token_of(&app.login(&other, ADMIN_PASSWORD).await);
    let (_, body) = app.graphql(None, BEGIN, json!({ "t": mfa })).await;
    let secret = body["data"]["beginTotpEnrollment"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_at(&secret, now_secs()).unwrap();
    let answers = futures::future::join_all(
        (0..6).map(|_| app.graphql(None, CONFIRM, json!({ "t": mfa, "c": code }))),
    )
    .await;
    let succeeded: Vec<&Value> = answers
        .iter()
        .map(|(_, body)| body)
        .filter(|body| body["errors"].is_null())
        .collect();
    assert_eq!(succeeded.len(), 1, "{answers:?}");
    for (_, body) in answers.iter().filter(|(_, b)| b["errors"].is_array()) {
        assert!(
            ["MFA_SESSION_INVALID", "ATTEMPT_IN_PROGRESS"]
                .contains(&error_reasons(body)[0].as_str()),
            "{body}"
        );
    }
    // The codes handed out are the ones that work.
    let recovery = succeeded[0]["data"]["confirmTotpEnrollment"]["recoveryCodes"][0]
        .as_str()
        .unwrap();
    let mfa = mfa_token_of(&app.login(&other, ADMIN_PASSWORD).await);
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": recovery }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_token_minted_while_its_session_is_revoked_does_not_survive() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, _) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    // Each session (a recovery-code login) races one refresh against the reuse of an older
    // token (which revokes the session) and a logout.
    let mut sessions = vec![tokens["refreshToken"].as_str().unwrap().to_owned()];
    for n in 0..8 {
        let mfa = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
        let (_, body) = app
            .graphql(
                None,
                "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { refreshToken } }",
                json!({ "t": mfa, "c": tokens["recoveryCodes"][n] }),
            )
            .await;
        sessions.push(
            body["data"]["verifyRecoveryCode"]["refreshToken"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
        );
    }
    let mut minted = 0;
    for (n, first) in sessions.into_iter().enumerate() {
        let (_, body) = app.graphql(None, REFRESH, json!({ "r": first })).await;
        let second = body["data"]["refreshToken"]["refreshToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned();
        let refresh = app.graphql(None, REFRESH, json!({ "r": second }));
        let revoke = async {
            if n % 2 == 0 {
                app.graphql(None, REFRESH, json!({ "r": first })).await
            } else {
                app.graphql(
                    None,
                    "mutation($r: String!) { logout(refreshToken: $r) }",
                    json!({ "r": first }),
                )
                .await
            }
        };
        let ((_, refreshed), (_, revoked)) = tokio::join!(refresh, revoke);
        assert!(
            revoked["errors"].is_null() || error_reasons(&revoked) == ["REFRESH_TOKEN_REUSED"],
            "{revoked}"
        );
        if let Some(third) = refreshed["data"]["refreshToken"]["refreshToken"].as_str() {
            minted += 1;
            let (_, body) = app.graphql(None, REFRESH, json!({ "r": third })).await;
            assert_eq!(
                error_reasons(&body),
                ["REFRESH_TOKEN_INVALID"],
                "session {n}: a token minted beside the revocation survived: {body}"
            );
        } else {
            assert_eq!(
                error_reasons(&refreshed),
                ["REFRESH_TOKEN_INVALID"],
                "{refreshed}"
            );
        }
    }
    // Not an assertion on timing: either order is fine, each was checked above.
    let _ = minted;
}

/// Every row of `table` as JSON text (every column, whatever the schema).
async fn raw_rows(app: &IdentityApp, table: &str) -> Vec<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &app.runtime.db;
    db.query_all(Statement::from_string(
        db.get_database_backend(),
        format!("SELECT row_to_json(t)::text AS row FROM {table} t"),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|row| row.try_get::<String>("", "row").unwrap())
    .collect()
}

/// Asserts that no row of the identity tables holding secrets contains any of `secrets`.
async fn assert_nothing_in_clear(app: &IdentityApp, secrets: &[(&str, String)]) {
    for table in [
        "users",
        "recovery_codes",
        "signing_keys",
        "webauthn_credentials",
        "refresh_tokens",
    ] {
        let rows = raw_rows(app, table).await;
        for row in &rows {
            assert!(!row.contains("PRIVATE KEY"), "{table}: {row}");
            for (what, secret) in secrets {
                assert!(
                    !row.contains(secret.as_str()),
                    "{table} holds a {what} in clear: {row}"
                );
            }
        }
    }
}

#[tokio::test]
async fn signing_keys_totp_secrets_and_recovery_codes_are_not_stored_in_clear() {
    let app = IdentityApp::spawn(|_| {}).await;
    let (_, email) = app.bootstrap().await;
    let (tokens, secret) = app.login_enrolling_totp(&email, ADMIN_PASSWORD).await;
    app.identity.rotate_signing_key().await.unwrap();
    let key = app.identity.keys().signing_key().await.unwrap();
    let mut secrets = vec![
        ("signing key", key.to_pkcs8_base64()),
        ("TOTP secret", secret.clone()),
    ];
    for code in tokens["recoveryCodes"].as_array().unwrap() {
        let code = code.as_str().unwrap().to_owned();
        // Neither the code nor its plain SHA-256 (10 characters from 31: searchable offline).
        secrets.push((
            "recovery code hash",
            erp_identity::domain::secrets::hash_token(&code),
        ));
        secrets.push(("recovery code", code));
    }
    assert_nothing_in_clear(&app, &secrets).await;
    // ...and what is stored works: the sealed factor and codes log in.
    let mfa = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let (_, body) = app
        .graphql(
            None,
            VERIFY_TOTP,
            json!({ "t": mfa, "c": code_at(&secret, now_secs() + 30).unwrap() }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn secrets_written_by_the_previous_version_are_sealed_at_start_and_keep_working() {
    use sea_orm::{ConnectionTrait, Statement, Value as Sql};

    let old = IdentityApp::spawn(|_| {}).await;
    let (_, email) = old.bootstrap().await;
    // What the previous version wrote: a TOTP secret in clear, recovery codes as their plain
    // SHA-256, a signing key's PKCS#8 in clear.
    let secret = erp_identity::domain::totp::new_secret();
    let codes = ["abcde-fghjk", "mnpqr-stuvw"];
    let legacy_key = erp_kit::auth::RsaSigningKey::generate("klegacy").unwrap();
    let db = &old.runtime.db;
    let backend = db.get_database_backend();
    let user_id = old
        .identity
        .account_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .1
        .id;
    let run = |sql: &str, values: Vec<Sql>| {
        db.execute(Statement::from_sql_and_values(backend, sql, values))
    };
    run(
        "UPDATE users SET totp_secret = $1 WHERE id = $2",
        vec![secret.clone().into(), user_id.clone().into()],
    )
    .await
    .unwrap();
    for (n, code) in codes.iter().enumerate() {
        run(
            "INSERT INTO recovery_codes (id, user_id, code_hash, used_at, created_at) VALUES ($1, $2, $3, NULL, 0)",
            vec![
                format!("legacy-{n}").into(),
                user_id.clone().into(),
                erp_identity::domain::secrets::hash_token(code).into(),
            ],
        )
        .await
        .unwrap();
    }
    run(
        "INSERT INTO signing_keys (kid, private_pkcs8, activates_at, retires_at, created_at) VALUES ($1, $2, 0, NULL, 0)",
        vec!["klegacy".into(), legacy_key.to_pkcs8_base64().into()],
    )
    .await
    .unwrap();

    // The new version starts on that database (and its key-encryption key).
    let app = IdentityApp::spawn_with(
        old.runtime.config.clone(),
        erp_tests::identity::real_cache().await,
        erp_tests::identity::real_bus(erp_tests::require_env("KAFKA_BROKERS")),
        |_| {},
    )
    .await;
    drop(old);
    let mut secrets = vec![
        ("signing key", legacy_key.to_pkcs8_base64()),
        ("TOTP secret", secret.clone()),
    ];
    for code in codes {
        secrets.push((
            "recovery code hash",
            erp_identity::domain::secrets::hash_token(code),
        ));
    }
    assert_nothing_in_clear(&app, &secrets).await;

    // Each still works: TOTP, a recovery code (typed as users do), the old key's tokens.
    let mfa = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let (_, body) = app
        .graphql(
            None,
            VERIFY_TOTP,
            json!({ "t": mfa, "c": code_at(&secret, now_secs()).unwrap() }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let mfa = mfa_token_of(&app.login(&email, ADMIN_PASSWORD).await);
    let (_, body) = app
        .graphql(
            None,
            "mutation($t: String!, $c: String!) { verifyRecoveryCode(mfaToken: $t, code: $c) { accessToken } }",
            json!({ "t": mfa, "c": "ABCDE FGHJK" }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let now = chrono::Utc::now().timestamp();
    let claims = erp_kit::auth::Claims {
        sub: user_id,
        name: "Ada Admin".into(),
        email: email.clone(),
        tenant_id: "t".into(),
        role: "Admin".into(),
        departments: vec![],
        permissions: vec![],
        exp: now + 600,
        iat: now,
        iss: app.issuer.clone(),
        aud: erp_kit::auth::Audience::One(AUDIENCE.into()),
        jti: uuid::Uuid::new_v4().to_string(),
    };
    let token = legacy_key.sign(&claims).unwrap();
    let response = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["email"], email);
}
