//! Object storage for SOP files and e-mail attachments: the bytes live outside the documents,
//! addressed by tenant and SHA-256 (`<tenant>/<hash>`), so a version's bytes never change and a
//! document only holds the hash. The embedded mode keeps them as files under the state
//! directory; a deployment keeps them in an S3-compatible bucket ([`S3BlobStore`], the
//! `object_store` crate) or, on MongoDB without a bucket, in their own collection
//! (`ops_sop_files`, one document per file).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use erp_kit::{ApiError, ApiResult, TenantId};

use crate::domain::sop::ContentHash;

/// Where SOP files are kept.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` under (tenant, hash of the bytes). Idempotent: the same bytes land on the
    /// same key, and a key's bytes never change.
    async fn put(&self, tenant: &TenantId, bytes: &[u8]) -> ApiResult<ContentHash>;
    /// The bytes under (tenant, hash), if any.
    async fn get(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Option<Vec<u8>>>;
    fn kind(&self) -> &'static str;
}

pub type SharedBlobStore = Arc<dyn BlobStore>;

/// Files under a directory: `<root>/<tenant>/<hash>`, written to a temporary name and renamed,
/// so a reader never sees half a file.
pub struct LocalBlobStore {
    root: PathBuf,
}

impl LocalBlobStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<PathBuf> {
        Ok(self.root.join(plain_tenant(tenant)?).join(hash.as_str()))
    }
}

/// The tenant id as a path segment. Tenant ids come from verified tokens (or a signed URL's
/// path, checked after this); still, nothing but a plain name becomes a path or a key.
fn plain_tenant(tenant: &TenantId) -> ApiResult<&str> {
    let tenant = tenant.as_str();
    let plain = !tenant.is_empty()
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !plain {
        return Err(ApiError::internal("a tenant id that is not a plain name"));
    }
    Ok(tenant)
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, tenant: &TenantId, bytes: &[u8]) -> ApiResult<ContentHash> {
        let hash = ContentHash::of(bytes);
        let path = self.path(tenant, &hash)?;
        if tokio::fs::try_exists(&path).await.unwrap_or(false) {
            return Ok(hash);
        }
        let dir = path
            .parent()
            .ok_or_else(|| ApiError::internal("a blob path without a directory"))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(ApiError::internal)?;
        let temporary = dir.join(format!(
            ".{}.{}",
            hash.as_str(),
            uuid::Uuid::new_v4().simple()
        ));
        tokio::fs::write(&temporary, bytes)
            .await
            .map_err(ApiError::internal)?;
        // Readable by this user only, like every file of the state directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for (path, mode) in [(temporary.as_path(), 0o600), (dir, 0o700)] {
                tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .await
                    .map_err(ApiError::internal)?;
            }
        }
        if let Err(err) = tokio::fs::rename(&temporary, &path).await {
            let _ = tokio::fs::remove_file(&temporary).await;
            return Err(ApiError::internal(err));
        }
        Ok(hash)
    }

    async fn get(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(tenant, hash)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(ApiError::internal(err)),
        }
    }

    fn kind(&self) -> &'static str {
        "filesystem"
    }
}

/// Files in a MongoDB collection (`_id` = `<tenant>/<hash>`), for deployments on MongoDB
/// without a shared filesystem.
pub struct MongoBlobStore {
    files: mongodb::Collection<mongodb::bson::Document>,
}

/// The collection of [`MongoBlobStore`].
pub const MONGO_COLLECTION: &str = "ops_sop_files";

impl MongoBlobStore {
    /// Connects to `url` (its default database, or `erp_ops`, like the document store).
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let options = mongodb::options::ClientOptions::parse(url).await?;
        let client = mongodb::Client::with_options(options)?;
        let db = client
            .default_database()
            .unwrap_or_else(|| client.database("erp_ops"));
        Ok(Self {
            files: db.collection(MONGO_COLLECTION),
        })
    }

    fn key(tenant: &TenantId, hash: &ContentHash) -> String {
        format!("{}/{}", tenant.as_str(), hash.as_str())
    }
}

fn mongo_err(err: mongodb::error::Error) -> ApiError {
    ApiError::internal(format!("mongodb: {err}"))
}

#[async_trait::async_trait]
impl BlobStore for MongoBlobStore {
    async fn put(&self, tenant: &TenantId, bytes: &[u8]) -> ApiResult<ContentHash> {
        use mongodb::bson::{doc, spec::BinarySubtype, Binary};
        let hash = ContentHash::of(bytes);
        let file = doc! {
            "_id": Self::key(tenant, &hash),
            "tenant_id": tenant.as_str(),
            "hash": hash.as_str(),
            "bytes": Binary { subtype: BinarySubtype::Generic, bytes: bytes.to_vec() },
        };
        match self.files.insert_one(file).await {
            Ok(_) => Ok(hash),
            // The same key holds the same bytes (content-addressed): already stored.
            Err(err) if super::mongo::is_duplicate_key(&err) => Ok(hash),
            Err(err) => Err(mongo_err(err)),
        }
    }

    async fn get(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Option<Vec<u8>>> {
        use mongodb::bson::doc;
        let found = self
            .files
            .find_one(doc! { "_id": Self::key(tenant, hash), "tenant_id": tenant.as_str() })
            .await
            .map_err(mongo_err)?;
        match found {
            None => Ok(None),
            Some(file) => file
                .get_binary_generic("bytes")
                .map(|bytes| Some(bytes.clone()))
                .map_err(|_| ApiError::internal("a stored SOP file without bytes")),
        }
    }

    fn kind(&self) -> &'static str {
        "mongodb"
    }
}

/// Where an S3-compatible bucket is and how to sign in to it (`ERP_OPS_S3_*`).
#[derive(Clone)]
pub struct S3Config {
    /// `scheme://host:port` of an S3-compatible server; None: AWS S3 of the region.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    /// Static keys; None: the AWS credential chain (`AWS_*` variables, web identity, instance
    /// metadata), as `object_store` reads it.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Plain HTTP to a non-loopback endpoint (`ERP_OPS_S3_ALLOW_HTTP=true`); a loopback
    /// endpoint may always use it.
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

/// The variable naming the bucket; set, SOP files and attachments go to S3.
pub const S3_BUCKET_ENV: &str = "ERP_OPS_S3_BUCKET";

impl S3Config {
    /// The bucket named by `ERP_OPS_S3_BUCKET` (None when unset), at `ERP_OPS_S3_ENDPOINT`,
    /// in `ERP_OPS_S3_REGION` (default `us-east-1`), with `ERP_OPS_S3_ACCESS_KEY_ID` and
    /// `ERP_OPS_S3_SECRET_ACCESS_KEY` (both or neither).
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let Some(bucket) = var(S3_BUCKET_ENV) else {
            return Ok(None);
        };
        let access_key_id = var("ERP_OPS_S3_ACCESS_KEY_ID");
        let secret_access_key = var("ERP_OPS_S3_SECRET_ACCESS_KEY");
        anyhow::ensure!(
            access_key_id.is_some() == secret_access_key.is_some(),
            "ERP_OPS_S3_ACCESS_KEY_ID and ERP_OPS_S3_SECRET_ACCESS_KEY are set together"
        );
        Ok(Some(Self {
            endpoint: var("ERP_OPS_S3_ENDPOINT"),
            bucket,
            region: var("ERP_OPS_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
            access_key_id,
            secret_access_key,
            allow_http: var("ERP_OPS_S3_ALLOW_HTTP").is_some_and(|v| v == "true" || v == "1"),
        }))
    }

    /// Whether the endpoint is plain HTTP to this machine (a local server, as in tests).
    fn loopback_http(&self) -> bool {
        let Some(rest) = self
            .endpoint
            .as_deref()
            .and_then(|e| e.strip_prefix("http://"))
        else {
            return false;
        };
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.split_once(']'))
            .map(|(h, _)| h)
            .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h));
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Files in an S3-compatible bucket under `ops/<tenant>/<hash>`.
pub struct S3BlobStore {
    store: Arc<dyn object_store::ObjectStore>,
    bucket: String,
}

/// The key prefix of every object this store writes (a bucket may be shared).
const S3_PREFIX: &str = "ops";

impl S3BlobStore {
    /// Builds the client and checks the bucket answers (listing under the prefix): a missing
    /// bucket, refused credentials or an unreachable endpoint fail here, at start, with what
    /// is wrong, rather than on the first upload.
    pub async fn connect(config: &S3Config) -> anyhow::Result<Self> {
        use object_store::aws::AmazonS3Builder;
        let plain_http = config
            .endpoint
            .as_deref()
            .is_some_and(|e| e.starts_with("http://"));
        anyhow::ensure!(
            !plain_http || config.allow_http || config.loopback_http(),
            "ERP_OPS_S3_ENDPOINT {} is plain HTTP to another machine: use https, or set \
             ERP_OPS_S3_ALLOW_HTTP=true",
            config.endpoint.as_deref().unwrap_or_default()
        );
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_allow_http(plain_http)
            // A few quick retries: a start against a wrong endpoint fails in seconds, not
            // after the default three minutes of backoff.
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(15),
                ..Default::default()
            });
        if let Some(endpoint) = &config.endpoint {
            // Path-style requests (`endpoint/bucket/key`): what S3-compatible servers take.
            builder = builder
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        let store = Arc::new(builder.build().map_err(|err| {
            anyhow::anyhow!("S3 configuration of bucket `{}`: {err}", config.bucket)
        })?);
        let probe = object_store::path::Path::from(S3_PREFIX);
        let where_ = config.endpoint.as_deref().unwrap_or("AWS S3");
        if let Err(err) =
            object_store::ObjectStore::list_with_delimiter(store.as_ref(), Some(&probe)).await
        {
            match ProbeFailure::of(&err) {
                ProbeFailure::NoBucket => anyhow::bail!(
                    "S3 bucket `{}` does not exist at {where_} (create it, or fix \
                     ERP_OPS_S3_BUCKET)",
                    config.bucket
                ),
                ProbeFailure::Credentials => anyhow::bail!(
                    "S3 at {where_} refused the credentials for bucket `{}` (check \
                     ERP_OPS_S3_ACCESS_KEY_ID and ERP_OPS_S3_SECRET_ACCESS_KEY)",
                    config.bucket
                ),
                ProbeFailure::Other => anyhow::bail!(
                    "S3 bucket `{}` at {where_} did not answer: {err}",
                    config.bucket
                ),
            }
        }
        Ok(Self {
            store,
            bucket: config.bucket.clone(),
        })
    }

    fn key(tenant: &TenantId, hash: &ContentHash) -> ApiResult<object_store::path::Path> {
        Ok(object_store::path::Path::from_iter([
            S3_PREFIX,
            plain_tenant(tenant)?,
            hash.as_str(),
        ]))
    }

    fn error(&self, doing: &str, err: object_store::Error) -> ApiError {
        ApiError::internal(format!("S3 bucket `{}`: {doing}: {err}", self.bucket))
    }
}

/// Why the start's probe of the bucket failed. A listing's error reaches us as a generic
/// error carrying the server's answer (`object_store` maps statuses to variants for object
/// requests only), so the S3 error code in it tells.
#[derive(Debug, PartialEq, Eq)]
enum ProbeFailure {
    NoBucket,
    Credentials,
    Other,
}

impl ProbeFailure {
    fn of(err: &object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => return Self::NoBucket,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => return Self::Credentials,
            _ => {}
        }
        let text = err.to_string();
        if text.contains("<Code>NoSuchBucket</Code>") {
            Self::NoBucket
        } else if [
            "<Code>InvalidAccessKeyId</Code>",
            "<Code>SignatureDoesNotMatch</Code>",
            "<Code>AccessDenied</Code>",
            "403 Forbidden",
            "401 Unauthorized",
        ]
        .iter()
        .any(|code| text.contains(code))
        {
            Self::Credentials
        } else {
            Self::Other
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, tenant: &TenantId, bytes: &[u8]) -> ApiResult<ContentHash> {
        use object_store::ObjectStoreExt;
        let hash = ContentHash::of(bytes);
        let key = Self::key(tenant, &hash)?;
        // A PUT is atomic (a reader sees the whole object or none), and the key names its
        // bytes, so writing the same file twice writes the same object.
        self.store
            .put(&key, object_store::PutPayload::from(bytes.to_vec()))
            .await
            .map_err(|err| self.error("storing a file", err))?;
        Ok(hash)
    }

    async fn get(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Option<Vec<u8>>> {
        use object_store::ObjectStoreExt;
        let key = Self::key(tenant, hash)?;
        let found = match self.store.get(&key).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(self.error("reading a file", err)),
        };
        let bytes = found
            .bytes()
            .await
            .map_err(|err| self.error("reading a file", err))?;
        Ok(Some(bytes.to_vec()))
    }

    fn kind(&self) -> &'static str {
        "s3"
    }
}

/// (tenant, hash) -> bytes.
type BlobMap = HashMap<(String, String), Arc<Vec<u8>>>;

/// Files in memory (no state directory configured): lost at exit.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: parking_lot::RwLock<BlobMap>,
}

#[async_trait::async_trait]
impl BlobStore for MemoryBlobStore {
    async fn put(&self, tenant: &TenantId, bytes: &[u8]) -> ApiResult<ContentHash> {
        let hash = ContentHash::of(bytes);
        self.blobs
            .write()
            .entry((tenant.as_str().to_owned(), hash.as_str().to_owned()))
            .or_insert_with(|| Arc::new(bytes.to_vec()));
        Ok(hash)
    }

    async fn get(&self, tenant: &TenantId, hash: &ContentHash) -> ApiResult<Option<Vec<u8>>> {
        Ok(self
            .blobs
            .read()
            .get(&(tenant.as_str().to_owned(), hash.as_str().to_owned()))
            .map(|bytes| bytes.as_ref().clone()))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_content_addressed_per_tenant() {
        let root = std::env::temp_dir().join(format!("ops-blobs-{}", uuid::Uuid::new_v4()));
        let store = LocalBlobStore::new(&root);
        let a = TenantId::from_claim("tnt_a");
        let b = TenantId::from_claim("tnt_b");
        let hash = store.put(&a, b"# Fire drill").await.unwrap();
        assert_eq!(hash, ContentHash::of(b"# Fire drill"));
        assert_eq!(store.put(&a, b"# Fire drill").await.unwrap(), hash);
        assert_eq!(
            store.get(&a, &hash).await.unwrap().as_deref(),
            Some(&b"# Fire drill"[..])
        );
        assert_eq!(
            store.get(&b, &hash).await.unwrap(),
            None,
            "another tenant's"
        );
        let odd = TenantId::from_claim("../etc");
        assert!(store.put(&odd, b"x").await.is_err());
        let _ = std::fs::remove_dir_all(root);
    }

    fn s3_at(endpoint: Option<&str>, allow_http: bool) -> S3Config {
        S3Config {
            endpoint: endpoint.map(str::to_owned),
            bucket: "b".into(),
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            allow_http,
        }
    }

    #[test]
    fn plain_http_is_for_loopback_unless_allowed() {
        for local in [
            "http://127.0.0.1:59900",
            "http://localhost:9000/",
            "http://[::1]:9000",
        ] {
            assert!(s3_at(Some(local), false).loopback_http(), "{local}");
        }
        for remote in [
            "http://s3.internal:9000",
            "http://10.0.0.5",
            "https://127.0.0.1:9000",
        ] {
            assert!(!s3_at(Some(remote), false).loopback_http(), "{remote}");
        }
        assert!(!s3_at(None, false).loopback_http());
    }

    #[tokio::test]
    async fn plain_http_to_another_machine_is_refused_at_start() {
        let err = S3BlobStore::connect(&s3_at(Some("http://s3.internal:9000"), false))
            .await
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(err.contains("plain HTTP to another machine"), "{err}");
    }
}
