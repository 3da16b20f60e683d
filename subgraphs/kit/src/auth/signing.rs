//! RS256 signing keys and their public JWKs.
//!
//! The identity service signs with these; tests use them to mint tokens that subgraphs verify
//! through the published JWKS only.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// A public key as published in a JWKS document (RFC 7517), RSA only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    pub n: String,
    pub e: String,
}

/// A JWKS document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// An RSA private key with its key id.
pub struct RsaSigningKey {
    kid: String,
    pair: RsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("could not generate an RSA key")]
    Generate,
    #[error("not a valid PKCS#8 RSA private key: {0}")]
    Parse(String),
    #[error("signing failed")]
    Sign,
    #[error("claims could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl RsaSigningKey {
    /// A fresh 2048-bit key.
    pub fn generate(kid: impl Into<String>) -> Result<Self, SigningError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| SigningError::Generate)?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| SigningError::Generate)?
            .as_ref()
            .to_vec();
        Ok(Self {
            kid: kid.into(),
            pair,
            pkcs8,
        })
    }

    /// Loads a key stored as base64 PKCS#8 DER (what [`Self::to_pkcs8_base64`] writes).
    pub fn from_pkcs8_base64(kid: impl Into<String>, encoded: &str) -> Result<Self, SigningError> {
        let pkcs8 = STANDARD
            .decode(encoded.trim())
            .map_err(|e| SigningError::Parse(e.to_string()))?;
        let pair =
            RsaKeyPair::from_pkcs8(&pkcs8).map_err(|e| SigningError::Parse(e.to_string()))?;
        Ok(Self {
            kid: kid.into(),
            pair,
            pkcs8,
        })
    }

    pub fn to_pkcs8_base64(&self) -> String {
        STANDARD.encode(&self.pkcs8)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, as a JWK.
    pub fn jwk(&self) -> Jwk {
        let public = self.pair.public_key();
        Jwk {
            kty: "RSA".into(),
            kid: self.kid.clone(),
            use_: Some("sig".into()),
            alg: Some("RS256".into()),
            n: URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            e: URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        }
    }

    /// The key that verifies this key's signatures.
    pub fn decoding_key(&self) -> Result<jsonwebtoken::DecodingKey, SigningError> {
        super::install_crypto_provider();
        let jwk = self.jwk();
        jsonwebtoken::DecodingKey::from_rsa_components(&jwk.n, &jwk.e)
            .map_err(|e| SigningError::Parse(e.to_string()))
    }

    /// Signs `claims` as a compact RS256 JWT with this key's `kid` in the header.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, SigningError> {
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": self.kid });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SigningError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}
