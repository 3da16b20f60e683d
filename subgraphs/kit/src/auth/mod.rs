//! Who is calling: the verified claims of an RS256 access token.
//!
//! The router verifies tokens at the edge; every subgraph verifies them again (defence in depth)
//! with [`JwksVerifier`], which knows only the identity service's published JWKS.

mod jwks;
pub mod revocation;
mod signing;

pub use jwks::{JwksVerifier, TokenRules, VerifierConfig, VerifyError};
pub use signing::{Jwk, JwkSet, RsaSigningKey, SigningError};

use serde::{Deserialize, Serialize};

use crate::tenant::TenantId;

/// Selects aws-lc-rs as jsonwebtoken's crypto provider for the process. Needed because a
/// workspace build also compiles hive-router, which enables jsonwebtoken's `rust_crypto`
/// feature; with both features on, jsonwebtoken refuses to guess. Idempotent.
pub fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
            &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
        );
    });
}

/// The claims of an access token, as the spec describes them plus the registered JWT claims.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    pub tenant_id: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub departments: Vec<String>,
    /// The scopes granted to this token (`task:start`, `leave:apply`, ...).
    #[serde(default)]
    pub permissions: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    pub iss: String,
    pub aud: Audience,
    #[serde(default)]
    pub jti: String,
}

/// The `aud` claim: one string or a list of strings (RFC 7519 allows both).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The caller of one request: anonymous, or a user with verified claims.
#[derive(Debug, Clone, Default)]
pub enum Identity {
    #[default]
    Anonymous,
    User(Box<Claims>),
}

impl Identity {
    pub fn claims(&self) -> Option<&Claims> {
        match self {
            Identity::Anonymous => None,
            Identity::User(claims) => Some(claims),
        }
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self, Identity::User(_))
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.claims()
            .is_some_and(|claims| claims.permissions.iter().any(|granted| granted == scope))
    }

    /// `@requiresScopes` semantics: the outer list is OR, each inner list is AND.
    /// An empty requirement is satisfied by anybody.
    pub fn satisfies<S: AsRef<str>>(&self, any_of: &[Vec<S>]) -> bool {
        any_of.is_empty()
            || any_of
                .iter()
                .any(|all_of| all_of.iter().all(|scope| self.has_scope(scope.as_ref())))
    }

    pub fn tenant(&self) -> Option<TenantId> {
        self.claims()
            .map(|claims| TenantId::from_claim(&claims.tenant_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(scopes: &[&str]) -> Identity {
        Identity::User(Box::new(Claims {
            sub: "usr_1".into(),
            name: String::new(),
            email: String::new(),
            tenant_id: "tnt_1".into(),
            role: "Employee".into(),
            departments: vec![],
            permissions: scopes.iter().map(|s| s.to_string()).collect(),
            exp: 0,
            iat: 0,
            iss: "i".into(),
            aud: Audience::One("a".into()),
            jti: String::new(),
        }))
    }

    #[test]
    fn requires_scopes_is_or_of_ands() {
        let rule = vec![vec!["a", "b"], vec!["c"]];
        assert!(user(&["a", "b"]).satisfies(&rule));
        assert!(user(&["c"]).satisfies(&rule));
        assert!(!user(&["a"]).satisfies(&rule));
        assert!(!user(&[]).satisfies(&rule));
        assert!(!Identity::Anonymous.satisfies(&rule));
        assert!(Identity::Anonymous.satisfies::<&str>(&[]));
    }
}
