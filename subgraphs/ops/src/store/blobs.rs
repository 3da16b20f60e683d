//! Object storage for SOP files: the bytes live outside the documents, addressed by tenant and
//! SHA-256 (`<tenant>/<hash>`), so a version's bytes never change and a document only holds
//! the hash. The embedded mode keeps them as files under the state directory; production
//! plans an S3-compatible bucket behind the same trait (not built yet).

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

/// Files in memory (no state directory configured): lost at exit.
#[derive(Default)]
pub struct MemoryBlobStore {
    blobs: parking_lot::RwLock<HashMap<(String, String), Arc<Vec<u8>>>>,
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
