//! `TestApp::spawn()` and typed client helpers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use depot::config::{Config, Role, Secret, ServiceUrl, Signup};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use sqlx::Connection;
use tokio::sync::oneshot;

/// Set to a PostgreSQL URL to run the suite against PostgreSQL; each test gets its
/// own database created there (the role needs CREATEDB).
pub const POSTGRES_VAR: &str = "DEPOT_TEST_DATABASE_URL";
/// Where the Redis tests find Redis (default `redis://127.0.0.1:6379`).
pub const REDIS_VAR: &str = "DEPOT_TEST_REDIS_URL";
/// Set to `redis` to run the whole suite with that Redis as the active-file cache
/// (otherwise the in-process cache, the embedded default).
pub const CACHE_VAR: &str = "DEPOT_TEST_CACHE";
/// Set to `s3` to run the whole suite with blobs in the S3-compatible server at
/// `DEPOT_TEST_S3_ENDPOINT` (an s3s-fs, whose data dir `DEPOT_TEST_S3_ROOT`
/// the tests look into), each test under a prefix of its own; to `garage`
/// for the same with `DEPOT_TEST_S3_*` naming a Garage cluster (what looks at
/// blobs as files is skipped there); or to `node` to run each test's depot
/// as a gateway over a storage node of its own.
pub const STORAGE_VAR: &str = "DEPOT_TEST_STORAGE";
/// The key a test's gateway and storage node share.
pub const INTERNAL_KEY: &str = "test-internal-key-test-internal-key!";

pub struct TestApp {
    pub address: String,
    /// The S3 API's address (`http://…`), when the test configured
    /// `s3_api_addr`.
    pub s3_address: Option<String>,
    pub client: reqwest::Client,
    pub config: Config,
    _data_dir: tempfile::TempDir,
    /// Where the blobs are on disk: the data dir's `blobs`, or this test's
    /// prefix inside the S3 server's data dir; none on Garage, whose blocks
    /// are not files named by key.
    blob_root: Option<PathBuf>,
    postgres: Option<PostgresDatabase>,
    /// The storage node a gateway test runs over.
    _node: Option<TestNode>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A storage node served in the test's process, with a data dir of its own.
pub struct TestNode {
    pub url: String,
    pub data_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestNode {
    pub async fn start() -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        let config = Config {
            role: Role::Storage,
            addr: "127.0.0.1:0".into(),
            data_dir: data_dir.path().to_owned(),
            internal_api_key: Some(Secret::new(INTERNAL_KEY)),
            ..Config::default()
        };
        let node = depot::startup::build_node(&config)
            .await
            .expect("the storage node failed to start");
        let listener = tokio::net::TcpListener::bind(&config.addr).await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let limits = depot::server::Limits::node(&config);
        tokio::spawn(depot::server::run_node(listener, node, limits, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            data_dir,
            shutdown: Some(shutdown),
        }
    }

    /// Makes `config` a gateway over this node.
    pub fn serve_as_gateway(&self, config: &mut Config) {
        config.role = Role::Gateway;
        config.storage_url = Some(self.url.clone());
        config.internal_api_key = Some(Secret::new(INTERNAL_KEY));
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A deployment's parts, made for a test but not served yet.
pub struct Unstarted {
    pub config: Config,
    data_dir: tempfile::TempDir,
    postgres: Option<PostgresDatabase>,
    node: Option<TestNode>,
}

/// A database of its own for one test, dropped with the test.
pub struct PostgresDatabase {
    admin_url: String,
    name: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts depot with the test defaults, adjusted by `configure`.
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::start(Self::prepare(configure).await).await
    }

    /// A deployment as [`Self::spawn_with`] makes it — a data dir, and a
    /// database, store prefix or storage node of its own — not started yet.
    pub async fn prepare(configure: impl FnOnce(&mut Config)) -> Unstarted {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            addr: "127.0.0.1:0".into(),
            data_dir: data_dir.path().to_owned(),
            log: "warn".into(),
            // The suite signs up many users; the closed default has its own test.
            signup: Signup::Open,
            ..Config::default()
        };
        let postgres = match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.is_empty() => {
                let database = PostgresDatabase::create(&url).await;
                config.database_url = Some(ServiceUrl::new(database.url()));
                // Nodes over PostgreSQL share a configured secret.
                config.secret_key = Some(Secret::new("test-secret-test-secret-test-secret!"));
                Some(database)
            }
            _ => None,
        };
        if std::env::var(CACHE_VAR).is_ok_and(|cache| cache == "redis") {
            config.redis_url = Some(ServiceUrl::new(redis_url()));
        }
        let storage = std::env::var(STORAGE_VAR).unwrap_or_default();
        if storage == "s3" || storage == "garage" {
            use_test_s3(&mut config);
        }
        let node = match storage.as_str() {
            "node" => Some(TestNode::start().await),
            _ => None,
        };
        if let Some(node) = &node {
            node.serve_as_gateway(&mut config);
        }
        configure(&mut config);
        Unstarted {
            config,
            data_dir,
            postgres,
            node,
        }
    }

    /// Serves a prepared deployment.
    pub async fn start(unstarted: Unstarted) -> Self {
        let Unstarted {
            config,
            data_dir,
            postgres,
            node,
        } = unstarted;
        let blob_root = match (&node, config.s3().unwrap()) {
            (Some(node), _) if config.role == Role::Gateway => Some(node.data_dir.path().join("blobs")),
            (_, Some(_)) if on_garage() => None,
            (_, Some(settings)) => Some(s3_root().join(&settings.bucket).join(&settings.prefix)),
            _ => Some(config.data_dir.join("blobs")),
        };
        depot::telemetry::init(&config.log);

        let state = depot::startup::build_server_state(&config)
            .await
            .expect("depot failed to start");
        let listener = tokio::net::TcpListener::bind(&config.addr).await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let limits = depot::server::Limits::public(&config);
        let s3_address = match &config.s3_api_addr {
            Some(s3_addr) => {
                let router = depot::s3::router(state.clone(), config.s3_api_domain.as_deref()).unwrap();
                let s3_listener = tokio::net::TcpListener::bind(s3_addr).await.unwrap();
                let s3_address = format!("http://{}", s3_listener.local_addr().unwrap());
                // Served until the test's runtime ends.
                tokio::spawn(depot::server::run_s3(
                    s3_listener,
                    router,
                    limits.clone(),
                    std::future::pending(),
                ));
                Some(s3_address)
            }
            None => None,
        };
        tokio::spawn(depot::server::run(listener, state, limits, async move {
            let _ = stopped.await;
        }));
        Self {
            address,
            s3_address,
            client: reqwest::Client::new(),
            config,
            _data_dir: data_dir,
            blob_root,
            postgres,
            _node: node,
            shutdown: Some(shutdown),
        }
    }

    /// Another node of this one's deployment: its settings — the same
    /// database, data dir, store and Redis — and a process state of its own.
    pub async fn second_node(&self) -> TestApp {
        TestApp::spawn_with(|config| {
            *config = Config {
                addr: "127.0.0.1:0".into(),
                ..self.config.clone()
            };
        })
        .await
    }

    /// A scrape of `/metrics`, as text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `GET path` as `user`, answered 200 with JSON.
    pub async fn get_json(&self, user: &TestUser, path: &str) -> Value {
        let response = self.get(user, path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.unwrap()
    }

    /// `PATCH /api/v1/admin/users/{id}` with `body`, as `admin`.
    pub async fn admin_change(&self, admin: &TestUser, id: i64, body: Value) -> Response {
        self.client
            .patch(self.url(&format!("/api/v1/admin/users/{id}")))
            .bearer_auth(&admin.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Sends `request` as written over a new connection (no client normalises
    /// it) and reads the answer until the server closes the connection.
    pub async fn raw_exchange(&self, request: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.address.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    }

    pub fn data_dir(&self) -> &Path {
        &self.config.data_dir
    }

    /// The signing secret the server uses (configured, or generated in the data dir).
    pub fn secret(&self) -> String {
        match &self.config.secret_key {
            Some(secret) => secret.expose().to_owned(),
            None => std::fs::read_to_string(self.data_dir().join("secret.key")).unwrap(),
        }
    }

    /// Registers a fresh user and returns it with its token.
    pub async fn user(&self, username: &str) -> TestUser {
        let response = self
            .post_json(
                "/api/v1/auth/register",
                &serde_json::json!({ "username": username, "password": "correct horse battery" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        TestUser {
            token: body["access_token"].as_str().unwrap().to_owned(),
            id: body["user_id"].as_i64().unwrap(),
        }
    }

    pub async fn put_file(&self, user: &TestUser, name: &str, bytes: impl Into<reqwest::Body>) -> Response {
        self.client
            .put(self.url(&format!("/api/v1/files/{}/content", encode(name))))
            .bearer_auth(&user.token)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// A raw upload in the session named by `X-Session-Id`.
    pub async fn put_file_in(
        &self,
        user: &TestUser,
        session: &str,
        name: &str,
        bytes: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .put(self.url(&format!("/api/v1/files/{}/content", encode(name))))
            .bearer_auth(&user.token)
            .header("x-session-id", session)
            .body(bytes)
            .send()
            .await
            .unwrap()
    }

    /// Seed 2's `POST /api/v1/files/active/{session}`.
    pub async fn set_active(&self, user: &TestUser, session: &str, file_name: &str) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/files/active/{session}")))
            .bearer_auth(&user.token)
            .json(&serde_json::json!({ "file_name": file_name }))
            .send()
            .await
            .unwrap()
    }

    /// Seed 2's `GET /api/v1/files/active/{session}`: the file, or the error code.
    pub async fn active_file(&self, user: &TestUser, session: &str) -> Result<Value, String> {
        let response = self.get(user, &format!("/api/v1/files/active/{session}")).await;
        if response.status() == StatusCode::OK {
            Ok(response.json().await.unwrap())
        } else {
            Err(error_code(response).await)
        }
    }

    /// The name of the session's active file, or the error code.
    pub async fn active_name(&self, user: &TestUser, session: &str) -> Result<String, String> {
        let file = self.active_file(user, session).await?;
        Ok(file["file_name"].as_str().unwrap().to_owned())
    }

    /// `GET /api/ingestion/history?{query}` in `session`; the body of a 200.
    pub async fn history(&self, user: &TestUser, session: &str, query: &str) -> Value {
        let response = self
            .get_with(
                user,
                &format!("/api/ingestion/history?{query}"),
                &[("x-session-id", session)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "history?{query}");
        response.json().await.unwrap()
    }

    /// The metadata database, for tests that must look under the API.
    pub async fn db(&self) -> depot::db::Db {
        depot::db::Db::connect(&self.config).await.unwrap()
    }

    /// Seed 2's upload form: `file_name`, `session_id`, `description`, `file`.
    pub async fn post_form(&self, user: &TestUser, form: reqwest::multipart::Form) -> Response {
        self.client
            .post(self.url("/api/v1/files/"))
            .bearer_auth(&user.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn get(&self, user: &TestUser, path: &str) -> Response {
        self.get_with(user, path, &[]).await
    }

    /// A GET with extra request headers (`Range`, `If-None-Match`, …).
    pub async fn get_with(&self, user: &TestUser, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = self.client.get(self.url(path)).bearer_auth(&user.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    /// An unauthenticated JSON POST (the auth endpoints).
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.unwrap()
    }

    /// A refused upload must leave nothing: no file row, no blob, no temp file.
    pub async fn assert_nothing_stored(&self, user: &TestUser, name: &str) {
        let meta = self.get(user, &format!("/api/v1/files/{}", encode(name))).await;
        assert_eq!(
            meta.status(),
            StatusCode::NOT_FOUND,
            "a file row for {name:?} exists"
        );
        let db = self.db().await;
        let blobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(blobs, 0, "a blob row was left");
        if self.blob_root.is_some() {
            assert!(self.blob_files().is_empty(), "a blob was left");
            assert!(
                self.eventually(|| self.staged_files().is_empty()).await,
                "a temp file was left"
            );
        }
    }

    /// A file's metadata (`GET /api/v1/files/{name}`) as JSON.
    pub async fn metadata(&self, user: &TestUser, name: &str) -> Value {
        self.get(user, &format!("/api/v1/files/{}", encode(name)))
            .await
            .json()
            .await
            .unwrap()
    }

    pub async fn delete_file(&self, user: &TestUser, name: &str) -> Response {
        self.client
            .delete(self.url(&format!("/api/v1/files/{}", encode(name))))
            .bearer_auth(&user.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn download(&self, user: &TestUser, name: &str) -> Response {
        self.get(user, &format!("/api/v1/files/{}/content", encode(name)))
            .await
    }

    /// How `storage_uri` begins.
    pub fn storage_scheme(&self) -> &'static str {
        match self.config.role {
            Role::Gateway => "node://",
            _ if self.on_s3() => "s3://",
            _ => "local://",
        }
    }

    /// Whether this depot is a gateway over a storage node.
    pub fn on_node(&self) -> bool {
        self.config.role == Role::Gateway
    }

    /// Whether the blobs are in the S3 server.
    pub fn on_s3(&self) -> bool {
        self.config.storage.is_some() && !self.on_node()
    }

    /// Where the blobs are on disk: the data dir's `blobs`, the storage node's,
    /// or this test's prefix in the S3 server's data dir.
    pub fn blob_root(&self) -> &Path {
        self.blob_root
            .as_deref()
            .expect("blobs on Garage are not files: guard the test with `blobs_on_disk()`")
    }

    /// Whether this test's blobs can be looked at as files (not on Garage).
    pub fn blobs_on_disk(&self) -> bool {
        if self.blob_root.is_none() {
            eprintln!("on Garage: what looks at the stored blobs as files is skipped");
        }
        self.blob_root.is_some()
    }

    /// Every committed blob, as a file on disk (the local store's, or the S3
    /// server's copy of the object).
    pub fn blob_files(&self) -> Vec<PathBuf> {
        entries(&self.blob_root().join("sha256"))
            .iter()
            .flat_map(|fan_out| entries(fan_out))
            .collect()
    }

    /// Every staged (uncommitted) one-shot write on disk. An S3 upload stages
    /// its first 8 MiB in memory, so only larger ones show here.
    pub fn staged_files(&self) -> Vec<PathBuf> {
        entries(&self.blob_root().join("tmp"))
    }

    /// Every resumable upload whose bytes are staged on disk (the S3 server
    /// keeps an upload's emptied directory; it does not count).
    pub fn staged_uploads(&self) -> Vec<PathBuf> {
        let mut uploads = entries(&self.blob_root().join("uploads"));
        uploads.retain(|upload| upload.is_file() || !entries(upload).is_empty());
        uploads
    }

    /// Waits until an upload of the user's is receiving bytes (its processing
    /// record says `processing`); false if none does within five seconds.
    pub async fn upload_under_way(&self, user: &TestUser) -> bool {
        self.eventually_async(|| async {
            let page = self
                .history(user, &new_session(), "scope=user&status=processing")
                .await;
            page["total"].as_u64().unwrap_or_default() > 0
        })
        .await
    }

    /// Waits up to five seconds for `condition`; false if it never held.
    pub async fn eventually(&self, mut condition: impl FnMut() -> bool) -> bool {
        for _ in 0..100 {
            if condition() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        condition()
    }

    /// [`Self::eventually`] for a condition that needs requests.
    pub async fn eventually_async<F: std::future::Future<Output = bool>>(
        &self,
        mut condition: impl FnMut() -> F,
    ) -> bool {
        for _ in 0..100 {
            if condition().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        condition().await
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a test's runtime; a thread of its own may block.
        let _ = std::thread::spawn(move || drop_database(&admin_url, &name)).join();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        drop(self.postgres.take());
    }
}

impl PostgresDatabase {
    /// A database for the test when the suite runs on PostgreSQL.
    pub async fn for_test() -> Option<Self> {
        match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.is_empty() => Some(Self::create(&url).await),
            _ => None,
        }
    }

    async fn create(admin_url: &str) -> Self {
        let name = format!("depot_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|err| panic!("cannot reach PostgreSQL at {POSTGRES_VAR}={admin_url}: {err}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Self {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    pub fn url(&self) -> String {
        let mut url = url::Url::parse(&self.admin_url).unwrap();
        url.set_path(&self.name);
        url.to_string()
    }
}

fn drop_database(admin_url: &str, name: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        if let Ok(mut admin) = sqlx::PgConnection::connect(admin_url).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    });
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub token: String,
    pub id: i64,
}

/// A directory's entries, none if it does not exist (yet).
fn entries(dir: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(read) => read.map(|entry| entry.unwrap().path()).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => panic!("cannot list {}: {err}", dir.display()),
    }
}

/// The test S3 server (`DEPOT_TEST_S3_ENDPOINT`, `DEPOT_TEST_S3_BUCKET`,
/// `DEPOT_TEST_S3_ACCESS_KEY`, `DEPOT_TEST_S3_SECRET_KEY`; `.ci/test` starts one).
#[derive(Debug, Clone)]
pub struct TestS3 {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl TestS3 {
    /// The server, or `None` (the test is skipped, saying why) without
    /// `DEPOT_TEST_S3_ENDPOINT` — except under `CI=true`, where that fails.
    pub fn from_env() -> Option<Self> {
        let Some(endpoint) = std::env::var("DEPOT_TEST_S3_ENDPOINT")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "set DEPOT_TEST_S3_ENDPOINT to an S3-compatible server (.ci/test starts one)"
            );
            eprintln!("skipped: set DEPOT_TEST_S3_ENDPOINT to test with S3");
            return None;
        };
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Some(Self {
            endpoint,
            bucket: env("DEPOT_TEST_S3_BUCKET", "depot-test"),
            access_key: env("DEPOT_TEST_S3_ACCESS_KEY", "depot-test"),
            secret_key: env("DEPOT_TEST_S3_SECRET_KEY", "depot-test-secret-key"),
        })
    }

    pub fn storage(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// Points `config` at this server, under `prefix`.
    pub fn configure(&self, config: &mut Config, prefix: &str) {
        config.storage = Some(self.storage(prefix));
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_path_style = true;
        config.s3_access_key_id = Some(self.access_key.clone());
        config.s3_secret_access_key = Some(Secret::new(self.secret_key.clone()));
    }

    /// The `s3_*` settings (not `DEPOT_STORAGE`) as `depot`'s environment.
    pub fn env(&self) -> [(&'static str, String); 4] {
        [
            ("DEPOT_S3_ENDPOINT", self.endpoint.clone()),
            ("DEPOT_S3_PATH_STYLE", "true".to_owned()),
            ("DEPOT_S3_ACCESS_KEY_ID", self.access_key.clone()),
            ("DEPOT_S3_SECRET_ACCESS_KEY", self.secret_key.clone()),
        ]
    }
}

/// Points `config` at the test S3 server, under a prefix of its own.
fn use_test_s3(config: &mut Config) {
    let s3 = TestS3::from_env().expect("DEPOT_TEST_STORAGE=s3 needs DEPOT_TEST_S3_ENDPOINT");
    s3.configure(config, &format!("test-{}", uuid::Uuid::new_v4().simple()));
}

/// Whether the suite's S3 server is a Garage cluster (`DEPOT_TEST_STORAGE=garage`,
/// with `DEPOT_TEST_S3_*` naming it).
fn on_garage() -> bool {
    std::env::var(STORAGE_VAR).is_ok_and(|storage| storage == "garage")
}

/// The S3 server's data dir, where its objects are files
/// (`DEPOT_TEST_S3_ROOT`, by default where `.ci/test` keeps it).
fn s3_root() -> PathBuf {
    PathBuf::from(std::env::var("DEPOT_TEST_S3_ROOT").unwrap_or_else(|_| "/var/tmp/depot-s3".to_owned()))
}

/// Percent-encodes a file name for a path segment.
pub fn encode(name: &str) -> String {
    percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Reads an error body and returns its stable code.
pub async fn error_code(response: Response) -> String {
    let body: Value = response.json().await.unwrap();
    body["error"]["code"]
        .as_str()
        .expect("error body has a code")
        .to_owned()
}

/// A multipart file part with the given file name.
pub fn file_part(bytes: Vec<u8>, filename: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(filename.to_owned())
}

/// Redis for the tests: `DEPOT_TEST_REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var(REDIS_VAR)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned())
}

/// A fresh session id, as a client of seed 2's session service would make up.
pub fn new_session() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Deterministic bytes of a given length that no two offsets of share a pattern.
/// The SHA-256 of `bytes` as depot shows it (lower-case hex).
pub fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

pub fn sample_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
