//! Object storage for SOP files: the bytes live outside the documents, addressed by tenant and
//! SHA-256 (`<tenant>/<hash>`), so a version's bytes never change and a document only holds
//! the hash. The embedded mode keeps them as files under the state directory; a deployment on
//! MongoDB without a directory keeps them in their own collection (`ops_sop_files`, one
//! document per file: SOP files are at most 1 MiB); an S3-compatible bucket behind the same
//! trait is planned (not built yet).

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
        // Tenant ids come from verified tokens; still, nothing but a plain name becomes a path.
        let tenant = tenant.as_str();
        let plain = !tenant.is_empty()
            && tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !plain {
            return Err(ApiError::internal("a tenant id that is not a plain name"));
        }
        Ok(self.root.join(tenant).join(hash.as_str()))
    }
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
}
