//! The one piece of shared state, cheap to clone, handed to every handler.

use std::sync::Arc;

use crate::auth::Keys;
use crate::cache::ActiveFileCache;
use crate::config::{ExtensionAllowList, Role, Signup};
use crate::db::Db;
use crate::pipeline::audit::AuditWriter;
use crate::pipeline::credentials::Credentials;
use crate::pipeline::group_commit::GroupCommit;
use crate::pipeline::health::Gauges;
use crate::pipeline::limits::Limits;
use crate::pipeline::maintenance::Maintenance;
use crate::pipeline::multipart::Assemblies;
use crate::pipeline::readiness::Readiness;
use crate::pipeline::resumable::{OpenUploads, WarmProfiles};
use crate::pipeline::session::SessionPolicy;
use crate::storage::BlobStore;

/// What every handler and job works with, behind one `Arc`: a request's
/// layers and handlers each clone the state, and one count to bump is
/// cheaper than one per service.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

#[derive(Debug)]
pub struct Services {
    /// What this process serves (standalone or gateway), as file tracking records it.
    pub role: Role,
    pub db: Db,
    pub blobs: Arc<dyn BlobStore>,
    pub keys: Keys,
    /// Resolves bearer tokens and API keys to callers.
    pub credentials: Arc<Credentials>,
    /// Who may create an account through `/api/v1/auth/register`.
    pub signup: Signup,
    pub policy: Arc<UploadPolicy>,
    pub sessions: Arc<SessionPolicy>,
    pub cache: ActiveFileCache,
    /// Profilers of resumable uploads between their requests, on this node.
    pub warm_profiles: Arc<WarmProfiles>,
    /// Resumable uploads this node is in the middle of.
    pub open_uploads: Arc<OpenUploads>,
    /// Multipart uploads whose parts this node streams as they arrive.
    pub assemblies: Arc<Assemblies>,
    /// Commits the audit events of reads and refusals, many at a time.
    pub audit: AuditWriter,
    /// Commits stored uploads, many at a time.
    pub commits: GroupCommit,
    /// This node's maintenance jobs: their schedule, lease name and stop signal.
    pub maintenance: Arc<Maintenance>,
    /// Whether the database and blob store take writes, probed on demand.
    pub readiness: Arc<Readiness>,
    /// When `/metrics` last read its gauges from the database.
    pub gauges: Arc<Gauges>,
    /// Rate limits, and who a request's client is.
    pub limits: Arc<Limits>,
    /// Where people reach depot, if configured: the start of link URLs.
    pub public_url: Option<crate::config::PublicUrl>,
    /// The IPFS node stored content is published to, if configured.
    pub ipfs: Option<Arc<crate::pipeline::publish::Publishing>>,
}

/// What an upload must satisfy.
#[derive(Debug, Clone)]
pub struct UploadPolicy {
    pub max_upload_bytes: u64,
    pub allowed_extensions: ExtensionAllowList,
    /// How long a resumable upload lives after its last request.
    pub upload_expiry: std::time::Duration,
    /// The first pause before a deleted file's bytes are removed again, when
    /// the store could not remove them at once.
    pub cleanup_retry: std::time::Duration,
    /// The storage quota of every user an admin gave none of their own.
    pub quota: crate::pipeline::quota::Quota,
}
