//! deploy/nginx and deploy/systemd, for real: Debian's nginx runs the
//! shipped proxy configuration in front of a depot, and `systemd-analyze
//! verify` checks the unit files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use depot::config::{PublicUrl, TrustedProxies};
use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;

use crate::clients::program;
use crate::helpers::{TestApp, free_port, hex_sha256, sample_bytes};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");

/// nginx serving deploy/nginx/depot-proxy.conf, as shipped, on a port of
/// its own, in front of a depot.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Nginx {
    /// Whether nginx is here (the test is skipped without it, except under `CI=true`).
    fn available() -> bool {
        program("nginx", "-v", "nginx")
    }

    fn start(port: u16, upstream: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let config = format!(
            "daemon off;\npid {pid};\nerror_log {log} info;\nevents {{ worker_connections 256; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {body};\n  proxy_temp_path {proxy};\n\
             fastcgi_temp_path {proxy}-fastcgi;\n  uwsgi_temp_path {proxy}-uwsgi;\n  scgi_temp_path {proxy}-scgi;\n\
             upstream depot {{ server {upstream}; keepalive 8; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    location / {{ include {proxy_conf}; }}\n  }}\n}}\n",
            pid = path("nginx.pid"),
            log = path("error.log"),
            body = path("client_body"),
            proxy = path("proxy"),
            proxy_conf = Path::new(DEPLOY).join("nginx/depot-proxy.conf").display(),
        );
        std::fs::write(dir.path().join("nginx.conf"), config).unwrap();
        let child = Command::new("nginx")
            .args(["-e", &path("error.log"), "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Stopped by `Drop` whatever happens next.
        let nginx = Self { child, dir, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not start: {}", nginx.error_log());
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// What nginx wrote of request bodies to its own disk.
    fn buffered_bodies(&self) -> Vec<PathBuf> {
        walk(&self.dir.path().join("client_body"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flat_map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path) } else { vec![path] }
        })
        .collect()
}

/// A depot that trusts 127.0.0.1 (where nginx connects from) as its proxy,
/// and names the proxy's address in its links; and nginx in front of it.
async fn behind_nginx() -> Option<(TestApp, Nginx)> {
    if !Nginx::available() {
        return None;
    }
    let port = free_port();
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = TrustedProxies::new(vec!["127.0.0.1/32".parse().unwrap()]);
        config.public_url = Some(PublicUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    })
    .await;
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let nginx = Nginx::start(port, &upstream);
    Some((app, nginx))
}

/// The client address the newest audit event names.
async fn last_client_ip(app: &TestApp) -> String {
    let db = app.db().await;
    sqlx::query_scalar("SELECT client_ip FROM audit_events ORDER BY id DESC LIMIT 1")
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// A client from `address` (127.0.0.x), as another host would be.
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Through nginx, a large upload streams to depot without nginx keeping it
/// on its own disk, and comes back whole, by range too; the web UI loads; a
/// link carries the proxy's URL and works through it; depot sees the
/// client's address from the proxy, and a client's own X-Forwarded-For
/// elsewhere is not believed.
#[tokio::test]
async fn nginx_streams_uploads_and_downloads_and_passes_on_who_asked() {
    let Some((app, nginx)) = behind_nginx().await else {
        return;
    };
    let ann = app.user("ann").await;
    let client = client_from("127.0.0.2");
    let bytes = sample_bytes(96 * 1024 * 1024 + 5);
    let stored = client
        .put(nginx.url("/api/v1/files/big.bin/content"))
        .bearer_auth(&ann.token)
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    assert!(nginx.buffered_bodies().is_empty(), "nginx kept a body on disk");
    assert!(
        !nginx.error_log().contains("buffered to a temporary file"),
        "{}",
        nginx.error_log()
    );
    assert_eq!(
        last_client_ip(&app).await,
        "127.0.0.2",
        "the address nginx was reached from"
    );

    let whole = client
        .get(nginx.url("/api/v1/files/big.bin/content"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(hex_sha256(&whole.bytes().await.unwrap()), hex_sha256(&bytes));
    let range = client
        .get(nginx.url("/api/v1/files/big.bin/content"))
        .bearer_auth(&ann.token)
        .header("Range", "bytes=70000000-70000999")
        .send()
        .await
        .unwrap();
    assert_eq!(range.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        range.bytes().await.unwrap().as_ref(),
        &bytes[70_000_000..70_001_000]
    );
    assert!(
        !nginx.error_log().contains("buffered to a temporary file"),
        "{}",
        nginx.error_log()
    );

    let page = client.get(nginx.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page loads a script");
    let asset = client
        .get(nginx.url(&format!("/{}", script.trim_start_matches('/'))))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK, "{script}");

    let made = client
        .post(nginx.url("/api/v1/files/big.bin/links"))
        .bearer_auth(&ann.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let link: serde_json::Value = made.json().await.unwrap();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with(&nginx.url("/s/")), "{url}");
    let fetched = client.get(url).header("Range", "bytes=0-9").send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &bytes[..10]);

    let forged = client_from("127.0.0.3")
        .get(app.url("/api/v1/files/big.bin"))
        .bearer_auth(&ann.token)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::OK);
    assert_eq!(
        last_client_ip(&app).await,
        "127.0.0.3",
        "a client that is not the proxy names nobody else"
    );
}

/// A tus upload whose connection is cut at the proxy mid-`PATCH` goes on
/// from the offset depot made durable, through the proxy, and is whole.
#[tokio::test]
async fn a_tus_upload_cut_at_nginx_resumes_through_it() {
    let Some((app, nginx)) = behind_nginx().await else {
        return;
    };
    let ann = app.user("ann").await;
    let bytes = sample_bytes(24 * 1024 * 1024);
    let client = reqwest::Client::new();
    let created = client
        .post(nginx.url("/api/v1/uploads/"))
        .bearer_auth(&ann.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header("Upload-Metadata", "filename Y3V0LmJpbg==")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = created.headers()["location"].to_str().unwrap().to_owned();

    // Half the body, then the client is gone.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", nginx.port))
        .await
        .unwrap();
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        ann.token,
        bytes.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&bytes[..bytes.len() / 2]).await.unwrap();
    socket.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(socket);

    // The server settles the cut request under the upload's lock (423 meanwhile).
    let mut offset = None;
    for _ in 0..100 {
        let head = client
            .head(nginx.url(&location))
            .bearer_auth(&ann.token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .unwrap();
        if head.status() == StatusCode::OK {
            offset = Some(
                head.headers()["upload-offset"]
                    .to_str()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap(),
            );
            let rest = client
                .patch(nginx.url(&location))
                .bearer_auth(&ann.token)
                .header("Tus-Resumable", "1.0.0")
                .header("Upload-Offset", offset.unwrap().to_string())
                .header("Content-Type", "application/offset+octet-stream")
                .body(bytes[offset.unwrap()..].to_vec())
                .send()
                .await
                .unwrap();
            if rest.status() == StatusCode::NO_CONTENT {
                break;
            }
            assert_eq!(
                rest.status(),
                StatusCode::LOCKED,
                "only a held lock may refuse it"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let offset = offset.expect("the upload's offset was never reported");
    assert!(offset <= bytes.len() / 2, "no byte past what was sent: {offset}");
    let mut downloaded = Vec::new();
    let mut response = client
        .get(nginx.url("/api/v1/files/cut.bin/content"))
        .bearer_auth(&ann.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    while let Some(chunk) = response.chunk().await.unwrap() {
        downloaded.extend_from_slice(&chunk);
    }
    assert_eq!(
        hex_sha256(&downloaded),
        hex_sha256(&bytes),
        "resumed from byte {offset}, whole"
    );
}

/// The shipped site configuration (TLS, the redirect, /metrics kept to the
/// monitoring network) passes `nginx -t` with a certificate in place.
#[test]
fn the_shipped_nginx_site_passes_nginx_t() {
    if !Nginx::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=files.example.org",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let site = std::fs::read_to_string(Path::new(DEPLOY).join("nginx/depot.conf"))
        .unwrap()
        .replace(
            "/etc/letsencrypt/live/files.example.org/fullchain.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/letsencrypt/live/files.example.org/privkey.pem",
            &key.display().to_string(),
        )
        .replace(
            "/etc/nginx/depot-proxy.conf",
            &Path::new(DEPLOY)
                .join("nginx/depot-proxy.conf")
                .display()
                .to_string(),
        );
    std::fs::write(dir.path().join("depot.conf"), site).unwrap();
    let main = format!(
        "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{ include {0}/depot.conf; }}\n",
        dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
    let checked = Command::new("nginx")
        .arg("-t")
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

/// The unit files pass `systemd-analyze verify` without a warning (with the
/// binary's path pointed at this build: verify wants it to exist).
#[test]
fn the_systemd_units_pass_systemd_analyze_verify() {
    if !program("systemd-analyze", "--version", "systemd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for entry in std::fs::read_dir(Path::new(DEPLOY).join("systemd")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("/usr/local/bin/depot", env!("CARGO_BIN_EXE_depot"));
        let copy = dir.path().join(path.file_name().unwrap());
        std::fs::write(&copy, text).unwrap();
        units.push(copy);
    }
    assert!(units.len() >= 5, "{units:?}");
    let verified = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&units)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(verified.status.success(), "{said}");
    let about_ours: Vec<&str> = said.lines().filter(|line| line.contains("depot")).collect();
    assert!(about_ours.is_empty(), "warnings: {about_ours:?}");
}
