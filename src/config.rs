//! Typed, layered configuration: defaults → `depot.toml` → environment → flags.
//!
//! Every field has a default, so `depot` runs with nothing configured. Environment
//! variables are `DEPOT_<FIELD>` (for example `DEPOT_MAX_UPLOAD_BYTES`), plus the
//! conventional `DATABASE_URL`, `REDIS_URL` and `SECRET_KEY`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::domain::rate::Rate;
use crate::storage::S3Settings;

/// Where the configuration file is looked for when no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "depot.toml";

/// The effective configuration of one depot process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// What this process serves (`DEPOT_ROLE`, `depot serve --role`): the whole
    /// service (`standalone`), the public API over a storage node (`gateway`),
    /// or only the internal storage API (`storage`).
    pub role: Role,
    /// The storage node a gateway keeps its blobs on, e.g. `http://10.0.0.2:8003`
    /// (`DEPOT_STORAGE_URL`, `depot serve --storage-url`).
    pub storage_url: Option<String>,
    /// The key gateway and storage node share, at least 32 bytes
    /// (`DEPOT_INTERNAL_API_KEY`); sent as `X-Internal-Api-Key`.
    pub internal_api_key: Option<Secret>,
    /// Address the HTTP server listens on (`DEPOT_ADDR`, `--addr`).
    pub addr: String,
    /// Directory for the SQLite database, the blobs and the generated secret
    /// (`DEPOT_DATA_DIR`, `--data-dir`).
    pub data_dir: PathBuf,
    /// Metadata database (`DATABASE_URL`); unset means SQLite at `<data_dir>/depot.db`.
    pub database_url: Option<ServiceUrl>,
    /// Redis for the active-file cache (`REDIS_URL`); unset keeps that cache in process.
    pub redis_url: Option<ServiceUrl>,
    /// Where blobs live (`DEPOT_STORAGE`): unset for `<data_dir>/blobs`, or
    /// `s3://bucket/prefix` for an S3-compatible object store.
    pub storage: Option<String>,
    /// The S3 endpoint, for stores other than AWS (`DEPOT_S3_ENDPOINT`).
    pub s3_endpoint: Option<String>,
    /// The S3 region (`DEPOT_S3_REGION`).
    pub s3_region: String,
    /// Path-style S3 requests, which most self-hosted stores need (`DEPOT_S3_PATH_STYLE`).
    pub s3_path_style: bool,
    /// The slowest a body is expected to go to a store across the network (a
    /// storage node, S3), in bytes per second: each call's deadline is 5 s
    /// plus its bytes at this rate; one that misses it counts the store as
    /// not answering (`DEPOT_STORAGE_MIN_RATE`). Lower it on a slow link.
    pub storage_min_rate: u64,
    /// S3 credentials (`DEPOT_S3_ACCESS_KEY_ID`, `DEPOT_S3_SECRET_ACCESS_KEY`);
    /// unset, the `AWS_*` environment variables are used.
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    /// HS256 signing key for tokens, at least 32 bytes (`SECRET_KEY`). Unset on the
    /// embedded default means: generate one and keep it in `<data_dir>/secret.key`.
    pub secret_key: Option<Secret>,
    /// The key of the audit trail's hash chain, at least 32 bytes
    /// (`DEPOT_AUDIT_KEY`). Unset, it is derived from `secret_key` (or the
    /// generated secret), so changing that secret then breaks verification of
    /// the events written before: set this to keep them apart.
    pub audit_key: Option<Secret>,
    /// Largest accepted upload in bytes (`DEPOT_MAX_UPLOAD_BYTES`); default 10 GiB.
    pub max_upload_bytes: u64,
    /// The storage quota of a user an admin gave none of their own, in bytes
    /// of their files, each counted in full (`DEPOT_QUOTA_BYTES`); 0, the
    /// default, for no limit.
    pub quota_bytes: u64,
    /// How many files such a user may keep (`DEPOT_QUOTA_FILES`); 0, the
    /// default, for no limit.
    pub quota_files: u64,
    /// File extensions accepted for upload, e.g. `csv` or `csv,tsv`
    /// (`DEPOT_ALLOWED_EXTENSIONS`); empty accepts every type.
    pub allowed_extensions: ExtensionAllowList,
    /// How long a resumable upload lives after its last request before it and
    /// its bytes are removed, e.g. `24h` (`DEPOT_UPLOAD_EXPIRY`).
    pub upload_expiry: HumanDuration,
    /// After a deleted file's bytes could not be removed from the store (a
    /// storage node down), how long until the first retry; the pause doubles
    /// with each failure, up to an hour (`DEPOT_CLEANUP_RETRY`).
    pub cleanup_retry: HumanDuration,
    /// How often the `cleanup` job runs (`DEPOT_CLEANUP_INTERVAL`).
    pub cleanup_interval: HumanDuration,
    /// How long stored bytes that no file uses, and staged bytes no upload
    /// finished, are left before cleanup removes them; longer than the longest
    /// upload (`DEPOT_CLEANUP_GRACE`).
    pub cleanup_grace: HumanDuration,
    /// How often the `verify` job re-reads every blob (`DEPOT_VERIFY_INTERVAL`).
    pub verify_interval: HumanDuration,
    /// The most bytes per second `verify` reads; 0 for no limit (`DEPOT_VERIFY_RATE`).
    pub verify_rate: u64,
    /// How often the `report` job runs (`DEPOT_REPORT_INTERVAL`).
    pub report_interval: HumanDuration,
    /// Who may create an account through `/api/v1/auth/register`
    /// (`DEPOT_SIGNUP`): anyone (`open`), whoever has an admin's invite
    /// (`invite`), or nobody (`closed`, the default: admins create accounts).
    /// The deployment's first account, its admin, can always register.
    pub signup: Signup,
    /// Lifetime of tokens issued by `/api/v1/auth/*`, in seconds (`DEPOT_TOKEN_TTL_SECONDS`).
    pub token_ttl_seconds: u64,
    /// How long a session lives after its last use, e.g. `30d` (`DEPOT_SESSION_TTL`).
    pub session_ttl: HumanDuration,
    /// How long a cached active file lives after its last read, e.g. `3600` or `1h`
    /// (`DEPOT_ACTIVE_FILE_TTL`).
    pub active_file_ttl: HumanDuration,
    /// Longest wait for Redis before an answer comes from the database instead, e.g.
    /// `50ms` (`DEPOT_CACHE_TIMEOUT`).
    pub cache_timeout: HumanDuration,
    /// How often expired sessions are removed (`DEPOT_SESSION_SWEEP_INTERVAL`).
    pub session_sweep_interval: HumanDuration,
    /// How long a client has to send a request's head: on a new connection
    /// from its opening, on a kept-alive one from the head's first byte
    /// (`DEPOT_HEADER_TIMEOUT`).
    pub header_timeout: HumanDuration,
    /// How long a connection may stay idle between two requests
    /// (`DEPOT_KEEP_ALIVE_TIMEOUT`).
    pub keep_alive_timeout: HumanDuration,
    /// The span of waiting over which a request body's rate is measured; a
    /// body that delivers less than `min_body_rate` over it is cut off (408
    /// `body_timeout`); `0s` turns the check off (`DEPOT_BODY_TIMEOUT`).
    pub body_timeout: HumanDuration,
    /// The fewest bytes per second a request body must deliver while the
    /// server waits for it (`DEPOT_MIN_BODY_RATE`).
    pub min_body_rate: u64,
    /// How long a response may wait for the client to read it before the
    /// connection is cut (`DEPOT_SEND_TIMEOUT`).
    pub send_timeout: HumanDuration,
    /// Most connections open at once; more are refused with 503. 0: half the
    /// process's open-file limit, at most 4096 (`DEPOT_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Most connections open at once from one client address (an IPv6 /64
    /// counts as one); more are refused with 429. 0: a quarter of
    /// `max_connections` (`DEPOT_MAX_CONNECTIONS_PER_CLIENT`).
    pub max_connections_per_client: usize,
    /// Sign-ins and sign-ups per client address (`DEPOT_RATE_LOGIN`), e.g.
    /// `60/min`; `0` for none.
    pub rate_login: Rate,
    /// Failed sign-ins per username from one client address before further
    /// tries of that pair are refused until a token comes back
    /// (`DEPOT_RATE_LOGIN_FAILURES`); a user signing in from elsewhere is
    /// not held up.
    pub rate_login_failures: Rate,
    /// Upload requests (multipart, `PUT`, tus `POST`/`PATCH`) per user, or
    /// per API key (`DEPOT_RATE_UPLOADS`).
    pub rate_uploads: Rate,
    /// Every other request with a valid credential, per user or API key
    /// (`DEPOT_RATE_REQUESTS`).
    pub rate_requests: Rate,
    /// Requests without a valid credential (the web UI's files, download
    /// links, refused tokens), per client address (`DEPOT_RATE_ANONYMOUS`).
    pub rate_anonymous: Rate,
    /// Reverse proxies whose `X-Forwarded-For` names the client, as
    /// addresses or networks (`DEPOT_TRUSTED_PROXIES=10.0.0.5,10.1.0.0/16`);
    /// from anyone else the header is ignored.
    pub trusted_proxies: TrustedProxies,
    /// The address people reach depot at, e.g. `https://files.example.org`
    /// (`DEPOT_PUBLIC_URL`): the start of every link's URL. Unset, a link's
    /// URL is built from the request's `Host`, over `http`.
    pub public_url: Option<PublicUrl>,
    /// The RPC API of an IPFS node (kubo's `/api/v0`, e.g.
    /// `http://127.0.0.1:5001`) that every stored content is published to
    /// and pinned on, behind the uploads (`DEPOT_IPFS_API`); unset publishes
    /// nothing. A password in it (a proxy's basic auth) is sent, and redacted
    /// wherever the URL is shown.
    pub ipfs_api: Option<ServiceUrl>,
    /// After a failed try of publishing to the IPFS node, how long until the
    /// next; the pause doubles with each failure, up to an hour (`DEPOT_IPFS_RETRY`).
    pub ipfs_retry: HumanDuration,
    /// Where the S3 API listens, e.g. `127.0.0.1:8004` (`DEPOT_S3_API_ADDR`);
    /// unset, depot speaks no S3. Its clients sign with an API key's
    /// `access_key_id` and `secret_access_key`.
    pub s3_api_addr: Option<String>,
    /// The domain of virtual-host-style S3 requests, e.g. `s3.example.org`,
    /// so `ann.s3.example.org` is ann's bucket (`DEPOT_S3_API_DOMAIN`);
    /// unset, only path-style requests (`/ann/key`) name a bucket.
    pub s3_api_domain: Option<String>,
    /// Log filter in `tracing` syntax, e.g. `info` or `depot=debug` (`DEPOT_LOG`).
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            role: Role::Standalone,
            storage_url: None,
            internal_api_key: None,
            addr: "127.0.0.1:8002".to_owned(),
            data_dir: PathBuf::from("./depot-data"),
            database_url: None,
            redis_url: None,
            storage: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_path_style: false,
            storage_min_rate: crate::storage::breaker::DEFAULT_MIN_RATE,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            secret_key: None,
            audit_key: None,
            max_upload_bytes: 10 * 1024 * 1024 * 1024,
            quota_bytes: 0,
            quota_files: 0,
            allowed_extensions: ExtensionAllowList::default(),
            upload_expiry: HumanDuration::from_secs(24 * 3600),
            cleanup_retry: HumanDuration::from_secs(30),
            cleanup_interval: HumanDuration::from_secs(6 * 3600),
            cleanup_grace: HumanDuration::from_secs(48 * 3600),
            verify_interval: HumanDuration::from_secs(24 * 3600),
            verify_rate: 64 * 1024 * 1024,
            report_interval: HumanDuration::from_secs(24 * 3600),
            signup: Signup::Closed,
            token_ttl_seconds: 3600,
            session_ttl: HumanDuration::from_secs(30 * 24 * 3600),
            active_file_ttl: HumanDuration::from_secs(3600),
            cache_timeout: HumanDuration(Duration::from_millis(50)),
            session_sweep_interval: HumanDuration::from_secs(3600),
            // hyper's default; nginx's client_header_timeout is 60 s.
            header_timeout: HumanDuration::from_secs(30),
            // nginx's keepalive_timeout: longer than the 60 s idle timeout of
            // common load balancers, so they never reuse a connection just closed.
            keep_alive_timeout: HumanDuration::from_secs(75),
            // nginx's client_body_timeout, with Apache mod_reqtimeout's MinRate.
            body_timeout: HumanDuration::from_secs(60),
            min_body_rate: 500,
            // nginx's send_timeout.
            send_timeout: HumanDuration::from_secs(60),
            max_connections: 0,
            max_connections_per_client: 0,
            rate_login: Rate::new(60, Duration::from_secs(60)),
            rate_login_failures: Rate::new(5, Duration::from_secs(15 * 60)),
            rate_uploads: Rate::new(3000, Duration::from_secs(1)),
            rate_requests: Rate::new(20_000, Duration::from_secs(1)),
            rate_anonymous: Rate::new(200, Duration::from_secs(1)),
            trusted_proxies: TrustedProxies::default(),
            public_url: None,
            ipfs_api: None,
            ipfs_retry: HumanDuration::from_secs(10),
            s3_api_addr: None,
            s3_api_domain: None,
            log: "info".to_owned(),
        }
    }
}

/// An `http` or `https` URL without query or fragment, kept without a
/// trailing slash, so that a path can follow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct PublicUrl(String);

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text.trim()).map_err(|err| format!("public_url {text:?}: {err}"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(format!("public_url {text:?} is not an http or https URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("public_url {text:?} has a query or fragment"));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<PublicUrl> for String {
    fn from(url: PublicUrl) -> Self {
        url.0
    }
}

impl<'de> Deserialize<'de> for PublicUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Values given on the command line; `None` leaves the lower layers in charge.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_url: Option<String>,
}

impl Config {
    /// Loads the layers in order. An explicit `config_file` must exist; the default
    /// `depot.toml` is read only when present.
    pub fn load(config_file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let file = match config_file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} does not exist", path.display());
                Some(path)
            }
            None => Some(Path::new(DEFAULT_CONFIG_FILE)).filter(|path| path.exists()),
        };
        if let Some(path) = file {
            refuse_unknown_keys(path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        figment
            .merge(Env::prefixed("DEPOT_").ignore(&["CONFIG"]))
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL", "SECRET_KEY"]))
            .merge(Serialized::defaults(flags))
            .extract()
            .context("invalid configuration")
    }

    /// The configuration as TOML, with secrets redacted, for `depot config`.
    pub fn to_redacted_toml(&self) -> anyhow::Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The S3 store `storage` names, if it names one; an error if `storage`
    /// is set to anything else.
    pub fn s3(&self) -> anyhow::Result<Option<S3Settings>> {
        let Some(storage) = self.storage.as_deref().filter(|storage| !storage.is_empty()) else {
            return Ok(None);
        };
        let settings = self
            .s3_at(storage)
            .with_context(|| format!("DEPOT_STORAGE must be unset or s3://bucket/prefix, not {storage:?}"))?;
        Ok(Some(settings))
    }

    /// `s3://bucket/prefix` (any, not only the store's) reached with the
    /// configured `s3_*` settings; `None` if `url` is not such a URL.
    pub fn s3_at(&self, url: &str) -> Option<S3Settings> {
        let mut settings = S3Settings::from_url(url)?;
        settings.endpoint = self.s3_endpoint.clone();
        settings.region = self.s3_region.clone();
        settings.path_style = self.s3_path_style;
        settings.min_rate = self.storage_min_rate;
        settings.access_key_id = self.s3_access_key_id.clone();
        settings.secret_access_key = self
            .s3_secret_access_key
            .as_ref()
            .map(|secret| secret.expose().to_owned());
        Some(settings)
    }

    pub fn backend(&self) -> Backend {
        match &self.database_url {
            Some(url) if url.is_postgres() => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// Refuses a config file with keys no setting has, naming them: a typo would
/// otherwise leave its setting at the default without a word. (Unknown
/// `DEPOT_*` variables are left alone: the client's share the prefix.)
fn refuse_unknown_keys(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?;
    let settings = serde_json::to_value(Config::default())?;
    let settings = settings.as_object().context("settings are not a map")?;
    let unknown: Vec<String> = table
        .keys()
        .filter(|key| !settings.contains_key(*key))
        .map(|key| {
            let closest = settings
                .keys()
                .map(|setting| (strsim::jaro_winkler(key, setting), setting))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(likeness, _)| *likeness >= 0.85);
            match closest {
                Some((_, setting)) => format!("`{key}` (did you mean `{setting}`?)"),
                None => format!("`{key}`"),
            }
        })
        .collect();
    anyhow::ensure!(
        unknown.is_empty(),
        "{}: no such setting: {}; `depot config` prints every setting",
        path.display(),
        unknown.join(", ")
    );
    Ok(())
}

/// What one depot process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The public API and UI with blobs on local disk or S3: one process does it all.
    #[default]
    Standalone,
    /// The public API and UI, streaming every blob to and from a storage node and
    /// keeping no file bytes on its own disk.
    Gateway,
    /// Only the internal storage API (`/internal/storage/...`), for gateways.
    Storage,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Gateway => "gateway",
            Self::Storage => "storage",
        }
    }
}

/// Who may create an account through `/api/v1/auth/register`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone who can reach depot.
    Open,
    /// Whoever has an invite an admin made (`POST /api/v1/admin/invites`).
    Invite,
    /// Nobody but the first account of a deployment, which becomes its admin.
    #[default]
    Closed,
}

/// The metadata database a configuration selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A secret value: never printed, logged or serialized in clear.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The environment layer turns digit-only values into numbers; a secret is text.
        Ok(Self(scalar_to_string(deserializer)?))
    }
}

/// A service URL (database, Redis) whose password is redacted wherever it is shown.
#[derive(Clone)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some("***"));
                url.to_string()
            }
            Ok(url) => url.to_string(),
            Err(_) => "[unparseable, redacted]".to_owned(),
        }
    }
}

impl fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ServiceUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ServiceUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(String::deserialize(deserializer)?))
    }
}

/// A duration written as whole seconds (`3600`) or in humantime form (`1h`, `30d`,
/// `50ms`); shown in humantime form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(Duration::from_secs(secs))
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_to_string(deserializer)?;
        let text = text.trim();
        let duration = match text.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => humantime::parse_duration(text).map_err(|err| {
                serde::de::Error::custom(format!(
                    "{text:?} is not a duration (seconds, or e.g. `50ms`, `1h`, `30d`): {err}"
                ))
            })?,
        };
        Ok(Self(duration))
    }
}

/// Lower-case extensions without dots; empty means every extension is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionAllowList(Vec<String>);

impl ExtensionAllowList {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(extensions: I) -> Self {
        Self(
            extensions
                .into_iter()
                .map(|ext| ext.as_ref().trim().trim_start_matches('.').to_ascii_lowercase())
                .filter(|ext| !ext.is_empty())
                .collect(),
        )
    }

    pub fn allows_everything(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a file named `name` may be stored: its last extension must be listed.
    pub fn allows(&self, name: &str) -> bool {
        if self.allows_everything() {
            return true;
        }
        extension_of(name).is_some_and(|ext| self.0.contains(&ext))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

/// The lower-cased text after the last dot of `name`, if any.
pub fn extension_of(name: &str) -> Option<String> {
    Path::new(name)
        .extension()
        .and_then(|ext| ext.to_str())
        .map(str::to_ascii_lowercase)
}

impl Serialize for ExtensionAllowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ExtensionAllowList {
    /// Accepts a list (`["csv", "tsv"]` in TOML) or a comma-separated string
    /// (`DEPOT_ALLOWED_EXTENSIONS=csv,tsv`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        list_or_commas(deserializer).map(Self::new)
    }
}

/// A list (from TOML) or a comma-separated string (from the environment).
fn list_or_commas<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::List(list) => list,
        Raw::Text(text) => text.split(',').map(str::to_owned).collect(),
    })
}

fn scalar_to_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Unsigned(u64),
        Signed(i64),
    }
    Ok(match Scalar::deserialize(deserializer)? {
        Scalar::Text(text) => text,
        Scalar::Unsigned(n) => n.to_string(),
        Scalar::Signed(n) => n.to_string(),
    })
}

/// The reverse proxies whose `X-Forwarded-For` is believed: addresses
/// (`10.0.0.5`) or networks (`10.1.0.0/16`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<ipnet::IpNet>) -> Self {
        Self(networks)
    }

    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn parse(text: &str) -> Result<ipnet::IpNet, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| format!("{text:?} is not an address or a network such as 10.0.0.0/8"))
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    /// A list (`["10.0.0.5", "10.1.0.0/16"]` in TOML) or a comma-separated
    /// string (`DEPOT_TRUSTED_PROXIES=10.0.0.5,10.1.0.0/16`).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        list_or_commas(deserializer)?
            .iter()
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| Self::parse(entry))
            .collect::<Result<_, _>>()
            .map(Self)
            .map_err(serde::de::Error::custom)
    }
}

/// The file, inside the data dir, that keeps the generated secret of the embedded default.
pub const SECRET_FILE: &str = "secret.key";

/// Creates a file only its owner may read (a secret), failing if it exists.
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_password_is_redacted() {
        let url = ServiceUrl::new("postgres://depot:hunter2@db:5432/depot");
        assert_eq!(url.redacted(), "postgres://depot:***@db:5432/depot");
        assert!(!format!("{url:?}").contains("hunter2"));
    }

    #[test]
    fn secret_is_redacted_in_debug_and_toml() {
        let config = Config {
            secret_key: Some(Secret::new("super-secret-value-that-is-long-enough")),
            ..Config::default()
        };
        assert!(!format!("{config:?}").contains("super-secret"));
        let toml = config.to_redacted_toml().unwrap();
        assert!(!toml.contains("super-secret"));
        assert!(toml.contains("[redacted]"));
    }

    #[test]
    fn durations_read_seconds_or_humantime_and_show_humantime() {
        let read = |text: &str| -> HumanDuration {
            Figment::from(Serialized::default("d", text))
                .extract_inner("d")
                .unwrap()
        };
        assert_eq!(read("3600").0, Duration::from_secs(3600));
        assert_eq!(read("50ms").0, Duration::from_millis(50));
        assert_eq!(read("30d").0, Duration::from_secs(30 * 24 * 3600));
        let toml = Config::default().to_redacted_toml().unwrap();
        assert!(toml.contains("session_ttl = \"30days\""), "{toml}");
        let bad: Result<HumanDuration, _> =
            Figment::from(Serialized::default("d", "soon")).extract_inner("d");
        assert!(bad.unwrap_err().to_string().contains("not a duration"));
    }

    #[test]
    fn trusted_proxies_read_addresses_and_networks_from_a_list_or_commas() {
        fn read<T: Serialize>(value: T) -> Result<TrustedProxies, String> {
            Figment::from(Serialized::default("p", value))
                .extract_inner("p")
                .map_err(|err| err.to_string())
        }
        let proxies = read("10.0.0.5, 10.1.0.0/16").unwrap();
        assert!(proxies.contains("10.0.0.5".parse().unwrap()));
        assert!(proxies.contains("10.1.200.3".parse().unwrap()));
        assert!(!proxies.contains("10.0.0.6".parse().unwrap()));
        assert!(read(vec!["::1"]).unwrap().contains("::1".parse().unwrap()));
        let bad = read("10.0.0.5,proxy.example").unwrap_err();
        assert!(bad.contains("\"proxy.example\" is not an address"), "{bad}");
    }

    #[test]
    fn allow_list_matches_last_extension_case_insensitively() {
        let list = ExtensionAllowList::new(["csv", ".TSV"]);
        assert!(list.allows("sales.CSV"));
        assert!(list.allows("a.b.tsv"));
        assert!(!list.allows("sales.csv.exe"));
        assert!(!list.allows("sales"));
        assert!(ExtensionAllowList::default().allows("anything"));
    }
}
