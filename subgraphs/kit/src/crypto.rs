//! Field-level encryption with envelope keys.
//!
//! - Each tenant has a data key (AES-256-GCM) per version and an index key (HMAC-SHA256), both
//!   stored WRAPPED by a key-encryption key (KEK) in the domain's `<domain>_data_keys` table.
//! - The KEK comes from a [`KeyEncryptionKey`]: a local key file by default ([`LocalKek`]), a
//!   KMS in production (implement the trait; the key never leaves the KMS).
//! - A value is sealed with AAD = `tenant|table|column|row|version`, so a ciphertext copied to
//!   another row, column or tenant does not decrypt.
//! - A searchable field also gets a blind index: HMAC-SHA256 of the normalised value under the
//!   tenant's index key (equality search without the plaintext).
//! - KEK rotation re-wraps the data keys; no row is re-encrypted.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, FromQueryResult};
use tokio::sync::RwLock;
use zeroize::Zeroizing;

use crate::error::{ApiError, ApiResult};
use crate::tenant::TenantId;

const DATA: &str = "data";
const INDEX: &str = "index";

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    bytes
}

fn seal(key: &[u8], aad: &[u8], plaintext: &[u8]) -> ApiResult<Vec<u8>> {
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| ApiError::internal("bad key length"))?,
    );
    let nonce_bytes = random::<NONCE_LEN>();
    let mut buffer = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut buffer,
    )
    .map_err(|_| ApiError::internal("seal failed"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buffer);
    Ok(out)
}

fn open(key: &[u8], aad: &[u8], sealed: &[u8]) -> ApiResult<Zeroizing<Vec<u8>>> {
    if sealed.len() < NONCE_LEN + 16 {
        return Err(ApiError::internal("ciphertext too short"));
    }
    let key = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| ApiError::internal("bad key length"))?,
    );
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce =
        Nonce::try_assume_unique_for_key(nonce).map_err(|_| ApiError::internal("bad nonce"))?;
    let mut buffer = Zeroizing::new(body.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut buffer)
        .map_err(|_| ApiError::internal("a sealed value failed authentication"))?
        .len();
    buffer.truncate(plain_len);
    Ok(buffer)
}

/// Wraps and unwraps data keys. Implement it over a KMS for production.
#[async_trait::async_trait]
pub trait KeyEncryptionKey: Send + Sync + 'static {
    /// Names the key (stored beside every wrapped key, so rotation knows what to re-wrap).
    fn id(&self) -> &str;
    async fn wrap(&self, key: &[u8], aad: &[u8]) -> ApiResult<Vec<u8>>;
    async fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> ApiResult<Zeroizing<Vec<u8>>>;
}

/// A KEK kept in a local file (base64 of 32 random bytes): for development and small
/// single-machine installs. Created with mode 0600 when missing.
pub struct LocalKek {
    id: String,
    key: Zeroizing<Vec<u8>>,
}

impl LocalKek {
    pub fn from_bytes(id: impl Into<String>, key: Vec<u8>) -> ApiResult<Self> {
        if key.len() != 32 {
            return Err(ApiError::internal("a KEK is 32 bytes"));
        }
        Ok(Self {
            id: id.into(),
            key: Zeroizing::new(key),
        })
    }

    pub fn generate(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            key: Zeroizing::new(random::<32>().to_vec()),
        }
    }

    /// Loads the key file, creating it first if it does not exist. The file name is the key id.
    pub fn load_or_create(path: &std::path::Path) -> anyhow::Result<Self> {
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local-kek".into());
        if !path.exists() {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let key = Self::generate(id.clone());
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            use std::io::Write;
            options
                .open(path)?
                .write_all(STANDARD.encode(&*key.key).as_bytes())?;
            return Ok(key);
        }
        let encoded = Zeroizing::new(std::fs::read_to_string(path)?);
        let bytes = STANDARD.decode(encoded.trim())?;
        Self::from_bytes(id, bytes).map_err(|e| anyhow::anyhow!(e.message()))
    }
}

#[async_trait::async_trait]
impl KeyEncryptionKey for LocalKek {
    fn id(&self) -> &str {
        &self.id
    }

    async fn wrap(&self, key: &[u8], aad: &[u8]) -> ApiResult<Vec<u8>> {
        seal(&self.key, aad, key)
    }

    async fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> ApiResult<Zeroizing<Vec<u8>>> {
        open(&self.key, aad, wrapped)
    }
}

#[derive(Debug, FromQueryResult)]
struct KeyRow {
    tenant_id: String,
    purpose: String,
    version: i32,
    wrapped: String,
    kek_id: String,
}

/// How every sealed value begins (for a query that looks for values not sealed yet).
pub const SEALED_PREFIX: &str = "v1.";

/// A sealed value as stored: `v1.<key version>.<base64(nonce | ciphertext | tag)>`.
fn encode_sealed(version: i32, sealed: &[u8]) -> String {
    format!("{SEALED_PREFIX}{version}.{}", STANDARD.encode(sealed))
}

fn decode_sealed(stored: &str) -> ApiResult<(i32, Vec<u8>)> {
    let mut parts = stored.splitn(3, '.');
    let (Some("v1"), Some(version), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ApiError::internal("not a sealed value"));
    };
    let version = version
        .parse()
        .map_err(|_| ApiError::internal("bad key version"))?;
    let sealed = STANDARD
        .decode(body)
        .map_err(|_| ApiError::internal("bad sealed value"))?;
    Ok((version, sealed))
}

/// How a value sealed for another domain in an event payload begins.
pub const IN_TRANSIT_PREFIX: &str = "t1.";

/// Seals `plaintext` for the payload of an event another domain reads (e.g. an employee's pay
/// for finance's payroll): AEAD under the key-encryption key itself (a KMS `Encrypt` in
/// production, which both domains are granted), with `context` (event type, tenant, subject)
/// as associated data, so a sealed value copied to another event does not open. The reader
/// re-seals it under its own data keys with [`FieldCipher::encrypt`]; the bus never carries
/// the plaintext.
pub async fn seal_in_transit(
    kek: &dyn KeyEncryptionKey,
    context: &str,
    plaintext: &str,
) -> ApiResult<String> {
    let sealed = kek
        .wrap(
            plaintext.as_bytes(),
            format!("transit|{context}").as_bytes(),
        )
        .await?;
    Ok(format!("{IN_TRANSIT_PREFIX}{}", STANDARD.encode(sealed)))
}

/// Opens a value sealed by [`seal_in_transit`] with the same `context`.
pub async fn open_in_transit(
    kek: &dyn KeyEncryptionKey,
    context: &str,
    sealed: &str,
) -> ApiResult<Zeroizing<String>> {
    let body = sealed
        .strip_prefix(IN_TRANSIT_PREFIX)
        .ok_or_else(|| ApiError::internal("not a value sealed in transit"))?;
    let bytes = STANDARD
        .decode(body)
        .map_err(|_| ApiError::internal("bad sealed value"))?;
    let plain = kek
        .unwrap(&bytes, format!("transit|{context}").as_bytes())
        .await?;
    String::from_utf8(plain.to_vec())
        .map(Zeroizing::new)
        .map_err(ApiError::internal)
}

/// Whether `stored` is a value sealed by [`FieldCipher::encrypt`] (and not, say, a secret an
/// earlier version stored in clear: base32, base64 and hex have no dots).
pub fn is_sealed(stored: &str) -> bool {
    decode_sealed(stored).is_ok()
}

/// Unwrapped keys by (tenant, purpose, version).
type KeyCache = HashMap<(String, &'static str, i32), Arc<Zeroizing<Vec<u8>>>>;

/// Encrypts and decrypts a domain's sensitive fields.
#[derive(Clone)]
pub struct FieldCipher {
    db: DatabaseConnection,
    table: String,
    kek: Arc<dyn KeyEncryptionKey>,
    /// Unwrapped keys by (tenant, purpose, version); the newest data version seals.
    keys: Arc<RwLock<KeyCache>>,
}

impl FieldCipher {
    /// `domain` names the key table (`employee` -> `employee_data_keys`, created by the domain's
    /// migrations).
    pub fn new(db: DatabaseConnection, domain: &str, kek: Arc<dyn KeyEncryptionKey>) -> Self {
        Self {
            db,
            table: format!("{domain}_data_keys"),
            kek,
            keys: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    fn wrap_aad(tenant: &str, purpose: &str, version: i32) -> Vec<u8> {
        format!("data-key|{tenant}|{purpose}|{version}").into_bytes()
    }

    fn purpose(name: &str) -> &'static str {
        if name == INDEX {
            INDEX
        } else {
            DATA
        }
    }

    async fn rows<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Option<&str>,
    ) -> ApiResult<Vec<KeyRow>> {
        let mut select = Query::select();
        select
            .columns([
                Alias::new("tenant_id"),
                Alias::new("purpose"),
                Alias::new("version"),
                Alias::new("wrapped"),
                Alias::new("kek_id"),
            ])
            .from(Alias::new(&self.table));
        if let Some(tenant) = tenant {
            select.and_where(Expr::col(Alias::new("tenant_id")).eq(tenant));
        }
        Ok(
            KeyRow::find_by_statement(conn.get_database_backend().build(&select))
                .all(conn)
                .await?,
        )
    }

    /// The tenant's newest key of `purpose`, created on first use.
    async fn current(
        &self,
        tenant: &TenantId,
        purpose: &'static str,
    ) -> ApiResult<(i32, Arc<Zeroizing<Vec<u8>>>)> {
        {
            let keys = self.keys.read().await;
            if let Some((version, key)) = keys
                .iter()
                .filter(|((t, p, _), _)| t == tenant.as_str() && *p == purpose)
                .max_by_key(|((_, _, v), _)| *v)
                .map(|((_, _, v), k)| (*v, k.clone()))
            {
                return Ok((version, key));
            }
        }
        self.load(tenant).await?;
        if let Some(found) = self
            .keys
            .read()
            .await
            .iter()
            .filter(|((t, p, _), _)| t == tenant.as_str() && *p == purpose)
            .max_by_key(|((_, _, v), _)| *v)
            .map(|((_, _, v), k)| (*v, k.clone()))
        {
            return Ok(found);
        }
        self.create(tenant, purpose, 1).await
    }

    async fn create(
        &self,
        tenant: &TenantId,
        purpose: &'static str,
        version: i32,
    ) -> ApiResult<(i32, Arc<Zeroizing<Vec<u8>>>)> {
        let key = Zeroizing::new(random::<32>().to_vec());
        let wrapped = self
            .kek
            .wrap(&key, &Self::wrap_aad(tenant.as_str(), purpose, version))
            .await?;
        let insert = Query::insert()
            .into_table(Alias::new(&self.table))
            .columns([
                Alias::new("tenant_id"),
                Alias::new("purpose"),
                Alias::new("version"),
                Alias::new("wrapped"),
                Alias::new("kek_id"),
                Alias::new("created_at"),
            ])
            .values_panic([
                tenant.as_str().into(),
                purpose.into(),
                version.into(),
                STANDARD.encode(&wrapped).into(),
                self.kek.id().into(),
                chrono::Utc::now().timestamp_millis().into(),
            ])
            .to_owned();
        if let Err(err) = self
            .db
            .execute(self.db.get_database_backend().build(&insert))
            .await
        {
            // Another replica created it first: use theirs.
            tracing::debug!(error = %err, "data key insert lost a race, reloading");
            self.load(tenant).await?;
            return self
                .keys
                .read()
                .await
                .get(&(tenant.as_str().to_owned(), purpose, version))
                .map(|k| (version, k.clone()))
                .ok_or_else(|| ApiError::internal("data key missing after a race"));
        }
        let key = Arc::new(key);
        self.keys
            .write()
            .await
            .insert((tenant.as_str().to_owned(), purpose, version), key.clone());
        Ok((version, key))
    }

    async fn load(&self, tenant: &TenantId) -> ApiResult<()> {
        let rows = self.rows(&self.db, Some(tenant.as_str())).await?;
        let mut keys = self.keys.write().await;
        for row in rows {
            let wrapped = STANDARD.decode(&row.wrapped).map_err(ApiError::internal)?;
            let key = self
                .kek
                .unwrap(
                    &wrapped,
                    &Self::wrap_aad(&row.tenant_id, &row.purpose, row.version),
                )
                .await?;
            keys.insert(
                (row.tenant_id, Self::purpose(&row.purpose), row.version),
                Arc::new(key),
            );
        }
        Ok(())
    }

    fn value_aad(tenant: &TenantId, table: &str, column: &str, row: &str, version: i32) -> Vec<u8> {
        format!("{tenant}|{table}|{column}|{row}|{version}").into_bytes()
    }

    /// Seals `plaintext` for one cell.
    pub async fn encrypt(
        &self,
        tenant: &TenantId,
        table: &str,
        column: &str,
        row: &str,
        plaintext: &str,
    ) -> ApiResult<String> {
        let (version, key) = self.current(tenant, DATA).await?;
        let sealed = seal(
            &key,
            &Self::value_aad(tenant, table, column, row, version),
            plaintext.as_bytes(),
        )?;
        Ok(encode_sealed(version, &sealed))
    }

    /// Opens a cell sealed by [`Self::encrypt`] for the same tenant, table, column and row.
    pub async fn decrypt(
        &self,
        tenant: &TenantId,
        table: &str,
        column: &str,
        row: &str,
        stored: &str,
    ) -> ApiResult<String> {
        let (version, sealed) = decode_sealed(stored)?;
        let key = {
            let cached = self
                .keys
                .read()
                .await
                .get(&(tenant.as_str().to_owned(), DATA, version))
                .cloned();
            match cached {
                Some(key) => key,
                None => {
                    self.load(tenant).await?;
                    self.keys
                        .read()
                        .await
                        .get(&(tenant.as_str().to_owned(), DATA, version))
                        .cloned()
                        .ok_or_else(|| ApiError::internal("no data key for this value"))?
                }
            }
        };
        let plain = open(
            &key,
            &Self::value_aad(tenant, table, column, row, version),
            &sealed,
        )?;
        String::from_utf8(plain.to_vec()).map_err(ApiError::internal)
    }

    /// A blind index of `value` for equality search on `column` (the value is normalised by the
    /// caller).
    pub async fn blind_index(
        &self,
        tenant: &TenantId,
        column: &str,
        value: &str,
    ) -> ApiResult<String> {
        let (_, key) = self.current(tenant, INDEX).await?;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
        let tag = hmac::sign(&key, format!("{column}|{value}").as_bytes());
        Ok(STANDARD.encode(tag.as_ref()))
    }

    /// Starts a new data-key version for `tenant`: new values are sealed with it, old ones stay
    /// readable with theirs.
    pub async fn rotate_data_key(&self, tenant: &TenantId) -> ApiResult<i32> {
        self.load(tenant).await?;
        let next = self
            .keys
            .read()
            .await
            .keys()
            .filter(|(t, p, _)| t == tenant.as_str() && *p == DATA)
            .map(|(_, _, v)| *v)
            .max()
            .unwrap_or(0)
            + 1;
        self.create(tenant, DATA, next).await.map(|(v, _)| v)
    }

    /// Re-wraps every data and index key under `new_kek` (KEK rotation): one transaction, no row
    /// of data is touched. Returns how many keys were re-wrapped.
    pub async fn rewrap_all(&self, new_kek: &dyn KeyEncryptionKey) -> ApiResult<usize> {
        let txn = crate::db::begin_write(&self.db).await?;
        let rows = self.rows(&txn, None).await?;
        let count = rows.len();
        for row in rows {
            let aad = Self::wrap_aad(&row.tenant_id, &row.purpose, row.version);
            let wrapped = STANDARD.decode(&row.wrapped).map_err(ApiError::internal)?;
            if row.kek_id != self.kek.id() {
                return Err(ApiError::internal(format!(
                    "key of tenant {} is wrapped by {}, not by the current KEK {}",
                    row.tenant_id,
                    row.kek_id,
                    self.kek.id()
                )));
            }
            let key = self.kek.unwrap(&wrapped, &aad).await?;
            let rewrapped = new_kek.wrap(&key, &aad).await?;
            let update = Query::update()
                .table(Alias::new(&self.table))
                .value(Alias::new("wrapped"), STANDARD.encode(&rewrapped))
                .value(Alias::new("kek_id"), new_kek.id())
                .and_where(Expr::col(Alias::new("tenant_id")).eq(row.tenant_id.as_str()))
                .and_where(Expr::col(Alias::new("purpose")).eq(row.purpose.as_str()))
                .and_where(Expr::col(Alias::new("version")).eq(row.version))
                .to_owned();
            txn.execute(txn.get_database_backend().build(&update))
                .await?;
        }
        txn.commit().await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_binds_the_aad() {
        let key = random::<32>();
        let sealed = seal(&key, b"t1|employees|salary|row1|1", b"120000").unwrap();
        assert_eq!(
            &*open(&key, b"t1|employees|salary|row1|1", &sealed).unwrap(),
            b"120000"
        );
        assert!(
            open(&key, b"t1|employees|salary|row2|1", &sealed).is_err(),
            "another row"
        );
        assert!(
            open(&key, b"t2|employees|salary|row1|1", &sealed).is_err(),
            "another tenant"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(open(&key, b"t1|employees|salary|row1|1", &tampered).is_err());
        assert!(is_sealed(&encode_sealed(1, &sealed)));
        assert_eq!(
            decode_sealed(&encode_sealed(3, &sealed)).unwrap(),
            (3, sealed)
        );
        assert!(decode_sealed("plain text").is_err());
        assert!(!is_sealed("JBSWY3DPEHPK3PXP"), "a base32 TOTP secret");
    }
}
