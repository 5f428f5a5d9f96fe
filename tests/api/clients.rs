//! Real clients run beside the suite — js libraries under node
//! (`tests/clients`, installed by `npm ci --prefix tests/clients`) and Python
//! packages — and a network that fails them on purpose.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// `tests/clients` with its node modules installed; `None` (the test is
/// skipped, saying why) when they are not — except under `CI=true`, where
/// that fails the test.
pub fn js_clients() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    if dir.join("node_modules").is_dir() {
        return Some(dir);
    }
    missing("tests/clients/node_modules is missing: run `npm ci --prefix tests/clients`");
    None
}

/// Whether python3 can import `module` (installed with `pip install {package}`);
/// under `CI=true` its absence fails the test.
pub fn python_module(module: &str, package: &str) -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        missing(&format!(
            "python3 cannot import {module}: run `pip install {package}`"
        ));
    }
    found
}

/// Whether `program` runs (`program ARG` succeeds; `apt-get install
/// {package}` installs it); under `CI=true` its absence fails the test.
pub fn program(program: &str, arg: &str, package: &str) -> bool {
    let found = std::process::Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|output| output.status.success());
    if !found {
        missing(&format!(
            "{program} is missing: `apt-get install {package}` (.ci/test does)"
        ));
    }
    found
}

/// `NODE_OPTIONS` for js-ipfs and Helia, whose dependencies call
/// `Promise.withResolvers`: Node.js 20 needs it defined.
pub fn node_options() -> String {
    let shim = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/with-resolvers.cjs");
    format!("--require {}", shim.display())
}

pub fn missing(what: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{what}");
    eprintln!("skipped: {what}");
}

/// Runs a client command to its end, off the runtime; its stdout, or a
/// failure with everything it printed.
pub async fn run(mut command: std::process::Command) -> String {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the client failed:\n{stdout}{stderr}");
    stdout
}

/// A TCP proxy in front of a server that cuts the connection (both ways, no
/// response) once it has carried `cut_after` bytes towards the server: a
/// network that fails mid-request, once. Later connections pass.
#[derive(Debug, Clone)]
pub struct CuttingProxy {
    pub address: String,
    /// Bytes passed on to the server, over every connection.
    forwarded: Arc<AtomicU64>,
    connections: Arc<AtomicUsize>,
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    pub async fn start(server: &str, cut_after: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Self {
            address: format!("http://{}", listener.local_addr().unwrap()),
            forwarded: Arc::default(),
            connections: Arc::default(),
            cut: Arc::default(),
        };
        let server = server.trim_start_matches("http://").to_owned();
        let accepting = proxy.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let upstream = TcpStream::connect(&server).await.unwrap();
                accepting.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(accepting.clone().pass(client, upstream, cut_after));
            }
        });
        proxy
    }

    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::Relaxed)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn has_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    async fn pass(self, client: TcpStream, upstream: TcpStream, cut_after: u64) {
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = upstream.into_split();
        let cut = CancellationToken::new();
        let up = async {
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let read = match from_client.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                let total = self.forwarded.fetch_add(read as u64, Ordering::Relaxed) + read as u64;
                if total > cut_after && !self.cut.swap(true, Ordering::Relaxed) {
                    cut.cancel();
                    return;
                }
                if to_server.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
            }
            let _ = to_server.shutdown().await;
        };
        let down = async {
            tokio::select! {
                _ = tokio::io::copy(&mut from_server, &mut to_client) => {}
                () = cut.cancelled() => {}
            }
        };
        tokio::join!(up, down);
    }
}
