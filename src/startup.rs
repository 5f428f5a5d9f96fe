//! From a configuration to a ready [`AppState`], failing fast with one clear line
//! when the data dir is not writable, the secret is weak or the database is down.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use tracing::instrument::WithSubscriber;

use crate::auth::Keys;
use crate::cache::buckets::Buckets;
use crate::cache::{ActiveFileCache, CacheBackend, LocalCache, RedisCache};
use crate::config::{Backend, Config, Role, SECRET_FILE, Secret, create_private_file};
use crate::db::Db;
use crate::db::audit::ChainKey;
use crate::http::NodeState;
use crate::ipfs::node::IpfsNode;
use crate::pipeline::audit::AuditWriter;
use crate::pipeline::credentials::Credentials;
use crate::pipeline::group_commit::GroupCommit;
use crate::pipeline::limits::{Limits, Rates};
use crate::pipeline::maintenance::{self, Maintenance};
use crate::pipeline::publish::Publishing;
use crate::pipeline::quota::Quota;
use crate::pipeline::resumable;
use crate::pipeline::session::SessionPolicy;
use crate::pipeline::state::{AppState, Services, UploadPolicy};
use crate::pipeline::storage_node::StorageNode;
use crate::storage::{BlobStore, LocalBlobStore, MAX_OBJECT_COPY, RemoteBlobStore, S3BlobStore};

/// HS256 keys shorter than this are refused (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The state a server serves with: as [`build_state`] gives it, and — on
/// SQLite, where there is one node — with the upload locks an earlier
/// process held released, since whoever held them is gone.
pub async fn build_server_state(config: &Config) -> anyhow::Result<AppState> {
    let state = build_state(config).await?;
    if config.backend() == Backend::Sqlite {
        resumable::release_all_locks(&state).await?;
    }
    Ok(state)
}

/// The deployment's state, for a server or for a command that works beside
/// running servers (`depot admin …`, `depot user …`), which must leave
/// their uploads' locks alone.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    prepare_data_dir(config)?;
    let secret = signing_secret(config)?;
    let audit_key = chain_key(config, || Ok(secret.secret.clone()))?;
    let ipfs = publishing(config)?;
    let (blobs, max_upload_bytes) = blob_store(config).await?;
    let db = Db::connect(config).await?;
    let cache = active_file_cache(config).await?;
    let limits = rate_limits(config, &db).await?;
    // Only now, with every part answering, does a new deployment keep its secret.
    secret.keep()?;
    let audit = AuditWriter::start(db.clone(), audit_key.clone());
    let keys = Keys::new(&secret.secret, config.token_ttl_seconds);
    let state = AppState::new(Services {
        role: config.role,
        db: db.clone(),
        blobs,
        credentials: Arc::new(Credentials::new(keys.clone(), db.clone())),
        keys,
        signup: config.signup,
        policy: Arc::new(UploadPolicy {
            max_upload_bytes,
            allowed_extensions: config.allowed_extensions.clone(),
            upload_expiry: config.upload_expiry.0,
            cleanup_retry: config.cleanup_retry.0,
            quota: Quota {
                bytes: config.quota_bytes,
                files: config.quota_files,
            },
        }),
        sessions: Arc::new(SessionPolicy {
            ttl: config.session_ttl.0,
            sweep_interval: config.session_sweep_interval.0,
        }),
        cache,
        warm_profiles: Arc::default(),
        open_uploads: Arc::default(),
        assemblies: Arc::default(),
        audit,
        commits: GroupCommit::start(db.clone(), audit_key),
        maintenance: Arc::new(Maintenance::new(maintenance::Settings {
            cleanup_interval: config.cleanup_interval.0,
            verify_interval: config.verify_interval.0,
            report_interval: config.report_interval.0,
            cleanup_grace: config.cleanup_grace.0,
            verify_rate: config.verify_rate,
        })),
        readiness: Arc::default(),
        gauges: Arc::default(),
        limits: Arc::new(limits),
        public_url: config.public_url.clone(),
        ipfs,
    });
    Ok(state)
}

/// Where stored content is published, when `ipfs_api` names an IPFS node.
fn publishing(config: &Config) -> anyhow::Result<Option<Arc<Publishing>>> {
    let Some(url) = config
        .ipfs_api
        .as_ref()
        .filter(|url| !url.expose().trim().is_empty())
    else {
        return Ok(None);
    };
    let node = IpfsNode::new(url.expose())
        .map_err(|err| anyhow::anyhow!("{}", err.replace(url.expose(), &url.redacted())))?;
    Ok(Some(Arc::new(Publishing {
        node,
        retry: config.ipfs_retry.0,
    })))
}

/// The rate limits, their buckets in Redis when the deployment has one,
/// under the deployment's name.
async fn rate_limits(config: &Config, db: &Db) -> anyhow::Result<Limits> {
    let buckets = match &config.redis_url {
        Some(url) => {
            let prefix = format!("depot:{}:rate:", db.deployment_name().await?);
            Buckets::redis(url.expose(), prefix, config.cache_timeout.0)
                .await
                .with_context(|| format!("invalid REDIS_URL {}", url.redacted()))?
        }
        None => Buckets::in_process(),
    };
    let rates = Rates {
        login: config.rate_login,
        login_failures: config.rate_login_failures,
        uploads: config.rate_uploads,
        requests: config.rate_requests,
        anonymous: config.rate_anonymous,
    };
    Ok(Limits::new(rates, buckets, config.trusted_proxies.clone()))
}

/// A storage node: its blob store (local or S3, as standalone) behind the
/// internal API. It will not start without a strong shared key.
pub async fn build_node(config: &Config) -> anyhow::Result<NodeState> {
    let key = internal_api_key(config)?;
    prepare_data_dir(config)?;
    let (blobs, _) = blob_store(config).await?;
    let node = StorageNode::open(blobs, &config.data_dir)
        .await
        .context("cannot open the storage node's staging area")?;
    Ok(NodeState::new(node, &key))
}

/// The audit chain's key, for commands that check the chain: `audit_key`,
/// or derived from the configured or kept secret (never a new one).
pub fn audit_key(config: &Config) -> anyhow::Result<ChainKey> {
    chain_key(config, || match (&config.secret_key, config.backend()) {
        (Some(secret), _) => Ok(secret.clone()),
        (None, Backend::Sqlite) => {
            let path = config.data_dir.join(SECRET_FILE);
            read_kept_secret(&path)?
                .with_context(|| format!("no secret at {} for the audit key to derive from", path.display()))
        }
        (None, Backend::Postgres) => bail!("SECRET_KEY or DEPOT_AUDIT_KEY must be set with PostgreSQL"),
    })
}

/// `audit_key` if set (at least 32 bytes), else a key derived from `secret()`.
fn chain_key(config: &Config, secret: impl FnOnce() -> anyhow::Result<Secret>) -> anyhow::Result<ChainKey> {
    let key = match &config.audit_key {
        Some(key) => {
            check_length(key, "DEPOT_AUDIT_KEY")?;
            key.clone()
        }
        None => secret()?,
    };
    Ok(ChainKey::derive(key.expose().as_bytes()))
}

/// The key gateway and storage node share: set, and at least 32 bytes.
fn internal_api_key(config: &Config) -> anyhow::Result<Secret> {
    let key = config.internal_api_key.clone().with_context(|| {
        format!(
            "DEPOT_INTERNAL_API_KEY must be set (at least {MIN_SECRET_BYTES} bytes) for the {} role",
            config.role.as_str()
        )
    })?;
    check_length(&key, "DEPOT_INTERNAL_API_KEY")?;
    Ok(key)
}

/// The blob store `config` selects: a gateway's storage node, the S3 store
/// `storage` names, or the local store under the data dir. A remote store is
/// checked at once — the node answers and takes the key — and so is S3, by
/// writing and removing a probe object, so a wrong URL, endpoint, bucket or
/// key stops startup. Returns the largest upload the store can take.
pub async fn blob_store(config: &Config) -> anyhow::Result<(Arc<dyn BlobStore>, u64)> {
    if config.role == Role::Gateway {
        let url = config
            .storage_url
            .as_deref()
            .context("a gateway needs the storage node's URL: --storage-url or DEPOT_STORAGE_URL")?;
        let store = RemoteBlobStore::new(url, &internal_api_key(config)?, config.storage_min_rate)?;
        check_store(&store)
            .await
            .with_context(|| format!("storage node {url} is unreachable or refuses the internal API key"))?;
        return Ok((Arc::new(store), config.max_upload_bytes));
    }
    let Some(settings) = config.s3()? else {
        let store = LocalBlobStore::open(&config.data_dir.join("blobs"))
            .await
            .with_context(|| format!("cannot open the blob store in {}", config.data_dir.display()))?;
        return Ok((Arc::new(store), config.max_upload_bytes));
    };
    let shown = config.storage.clone().unwrap_or_default();
    let store = S3BlobStore::open(&settings).with_context(|| format!("invalid S3 settings for {shown}"))?;
    check_store(&store)
        .await
        .with_context(|| format!("S3 store {shown} is unreachable or refuses writes"))?;
    let mut max_upload_bytes = config.max_upload_bytes;
    if max_upload_bytes > MAX_OBJECT_COPY {
        tracing::warn!(
            configured = max_upload_bytes,
            limit = MAX_OBJECT_COPY,
            "max_upload_bytes lowered: S3 copies an upload to its content address in one request of at most 5 GiB"
        );
        max_upload_bytes = MAX_OBJECT_COPY;
    }
    Ok((Arc::new(store), max_upload_bytes))
}

/// Whether a store answers and takes writes, within [`STORE_CHECK_TIMEOUT`].
/// What the store logs meanwhile (its retries, its breaker opening) is left
/// out, and of its error only the root cause is told (S3 clients repeat the
/// whole request in every layer): a failed start says it in one short line.
async fn check_store(store: &dyn BlobStore) -> anyhow::Result<()> {
    let check = tokio::time::timeout(STORE_CHECK_TIMEOUT, store.check())
        .with_subscriber(tracing::subscriber::NoSubscriber::default());
    match check.await {
        Err(_) => bail!("timed out"),
        Ok(Err(err)) => {
            let err = anyhow::Error::from(err);
            let cause = err.chain().last().map(ToString::to_string).unwrap_or_default();
            bail!("{cause}")
        }
        Ok(Ok(())) => Ok(()),
    }
}

/// How long startup waits for the object store.
const STORE_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Redis when `REDIS_URL` is set (depot starts while Redis is down, and connects
/// when it answers), otherwise the in-process cache.
async fn active_file_cache(config: &Config) -> anyhow::Result<ActiveFileCache> {
    let backend: Box<dyn CacheBackend> = match &config.redis_url {
        Some(url) => Box::new(
            RedisCache::new(url.expose(), config.cache_timeout.0)
                .with_context(|| format!("invalid REDIS_URL {}", url.redacted()))?,
        ),
        None => Box::new(LocalCache::new()),
    };
    let cache = ActiveFileCache::new(backend, config.active_file_ttl.0, config.cache_timeout.0);
    cache.connect().await;
    Ok(cache)
}

/// Creates the data dir, proves it writable, and returns the signing secret,
/// keeping a newly made one at once (`depot token`).
pub fn prepare_data_dir_and_secret(config: &Config) -> anyhow::Result<Secret> {
    prepare_data_dir(config)?;
    let secret = signing_secret(config)?;
    secret.keep()?;
    Ok(secret.secret)
}

fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    ensure_writable(dir).with_context(|| format!("data dir {} is not writable", dir.display()))
}

/// The secret tokens are signed with, and where a newly made one is to be kept.
struct SigningSecret {
    secret: Secret,
    /// Set for a secret made now: it is written here by [`Self::keep`] once
    /// startup has succeeded, so a failed first start leaves no secret
    /// behind in a new data dir.
    unkept: Option<std::path::PathBuf>,
}

/// `SECRET_KEY`, or the secret kept in the data dir, or (SQLite, first start)
/// a new one.
fn signing_secret(config: &Config) -> anyhow::Result<SigningSecret> {
    let kept = |secret| SigningSecret { secret, unkept: None };
    match (&config.secret_key, config.backend()) {
        (Some(secret), _) => {
            check_length(secret, "SECRET_KEY")?;
            Ok(kept(secret.clone()))
        }
        (None, Backend::Sqlite) => {
            let path = config.data_dir.join(SECRET_FILE);
            if let Some(secret) = read_kept_secret(&path)? {
                return Ok(kept(secret));
            }
            let mut bytes = [0u8; 32];
            argon2::password_hash::rand_core::RngCore::fill_bytes(
                &mut argon2::password_hash::rand_core::OsRng,
                &mut bytes,
            );
            Ok(SigningSecret {
                secret: Secret::new(hex::encode(bytes)),
                unkept: Some(path),
            })
        }
        (None, Backend::Postgres) => {
            bail!("SECRET_KEY must be set with PostgreSQL, so every node signs tokens with the same key")
        }
    }
}

impl SigningSecret {
    /// Writes a new secret (mode 0600). If another process starting on the
    /// same new data dir kept its own first, tokens signed here would not
    /// verify there: startup stops, and the next start reads that one.
    fn keep(&self) -> anyhow::Result<()> {
        let Some(path) = &self.unkept else {
            return Ok(());
        };
        let mut file = match create_private_file(path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!(
                    "another depot made {} while this one started; start again",
                    path.display()
                )
            }
            Err(err) => return Err(err).with_context(|| format!("cannot create {}", path.display())),
        };
        file.write_all(self.secret.expose().as_bytes())?;
        file.sync_all()?;
        tracing::info!(path = %path.display(), "generated a signing secret");
        Ok(())
    }
}

fn ensure_writable(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".write-probe-{}", uuid::Uuid::new_v4()));
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(&probe)?;
    Ok(())
}

fn check_length(secret: &Secret, what: &str) -> anyhow::Result<()> {
    let len = secret.expose().len();
    ensure!(
        len >= MIN_SECRET_BYTES,
        "{what} must be at least {MIN_SECRET_BYTES} bytes (it has {len})"
    );
    Ok(())
}

/// The secret kept at `path`, checked for length; `None` if there is none yet.
fn read_kept_secret(path: &Path) -> anyhow::Result<Option<Secret>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let secret = Secret::new(text.trim());
            check_length(&secret, &path.display().to_string())?;
            Ok(Some(secret))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}
