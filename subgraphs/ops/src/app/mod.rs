//! The operations use cases, on [`Ops`]: one function per mutation, each a transaction script
//! written once for both stores: read the facts, apply the domain's rule, commit the writes
//! with their events (one atomic commit of the store), wake the outbox relay. A commit that
//! finds a document changed since it was read ([`Commit::Stale`]) sends the script back to
//! read again (the kit's `erp_kit::retry::Attempts`). Knows nothing of GraphQL.

pub mod assets;
pub mod helpdesk;
pub mod inbound_mail;
pub mod inventory;
pub mod leavers;
pub mod macros;
pub mod maintenance;
pub mod procurement;
pub mod rfq;
pub mod sop_files;
pub mod sops;
pub mod teams;

/// The retry loop of a transaction script is the kit's.
use erp_kit::retry::Attempts;

use erp_kit::events::Wake;

use crate::domain::procurement::ApprovalPolicy;
use crate::store::{Commit, SharedStore};

/// Tunables of the use cases.
#[derive(Debug, Clone)]
pub struct OpsOptions {
    /// How many distinct approvers a purchase order needs by its total, until a tenant sets
    /// its own thresholds.
    pub approval_policy: ApprovalPolicy,
    /// Where SOP files are kept (`ERP_OPS_BLOB_DIR` when unset; in memory when neither).
    pub blob_dir: Option<std::path::PathBuf>,
    /// An S3-compatible bucket for SOP files and attachments (`ERP_OPS_S3_*` when unset);
    /// a `blob_dir` wins over it (the one-process mode keeps its files on disk).
    pub s3: Option<crate::store::blobs::S3Config>,
    /// The event consumers to run (`employee.left`); None runs none (tests on a shared broker:
    /// a consumer group is the deployment's, and a new one reads the topics' whole history).
    pub consumers: Option<erp_kit::events::ConsumerOptions>,
}

impl Default for OpsOptions {
    fn default() -> Self {
        Self {
            // Two approvers from 10,000.00 (in the order's minor units) on, one below.
            approval_policy: ApprovalPolicy::new(vec![(0, 1), (1_000_000, 2)]).unwrap_or_default(),
            blob_dir: None,
            s3: None,
            consumers: None,
        }
    }
}

/// The operations use cases over a store, the outbox relay's wake, the SLA breach timer's and
/// the live channels' pub/sub.
#[derive(Clone)]
pub struct Ops {
    pub store: SharedStore,
    pub options: OpsOptions,
    wake: Wake,
    breach_timer: std::sync::Arc<tokio::sync::Notify>,
    /// The runtime's pub/sub (Redis across replicas): the live ticket queue.
    live: erp_kit::cache::SharedCache,
    /// Object storage of SOP files (and of e-mail attachments) and the key of their download
    /// URLs.
    pub files: sop_files::SopFiles,
    /// The key-encryption key that seals the tenants' inbound e-mail secrets.
    kek: std::sync::Arc<dyn erp_kit::crypto::KeyEncryptionKey>,
}

impl Ops {
    pub fn new(
        store: SharedStore,
        wake: Wake,
        options: OpsOptions,
        live: erp_kit::cache::SharedCache,
        files: sop_files::SopFiles,
        kek: std::sync::Arc<dyn erp_kit::crypto::KeyEncryptionKey>,
    ) -> Self {
        Self {
            store,
            options,
            wake,
            breach_timer: Default::default(),
            live,
            files,
            kek,
        }
    }

    /// Tells the outbox relay that events were committed.
    fn wake(&self) {
        self.wake.wake();
    }
}

/// What a script does with a commit's answer: done, or read again (stale); a duplicate is the
/// caller's to word.
enum Outcome {
    Done,
    Retry,
    Duplicate,
}

fn outcome(commit: Commit) -> Outcome {
    match commit {
        Commit::Written => Outcome::Done,
        Commit::Stale => Outcome::Retry,
        Commit::Duplicate(_) => Outcome::Duplicate,
    }
}
