//! Publishing to a real IPFS node: js-ipfs daemons on loopback (kubo's RPC
//! API; `tests/ipfs-node`, installed by `.ci/test` into the tools dir) get
//! every stored content through `dag/import` of depot's CAR, pinned; a
//! second node connected only to the first fetches it over bitswap; the last
//! delete unpins it; a node that is down fails no upload and gets the content
//! once it is back; `depot admin ipfs-sync` publishes what the node lacks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use depot::config::HumanDuration;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::cli::depot_on;
use crate::clients::{missing, node_options, run};
use crate::helpers::{TestApp, TestUser, free_port};

/// The `jsipfs` command (`DEPOT_TEST_JSIPFS`, by default where `.ci/test`
/// installs it); `None` (skipped, or a failure under `CI=true`) without it.
fn jsipfs() -> Option<PathBuf> {
    let path = std::env::var_os("DEPOT_TEST_JSIPFS").map_or_else(
        || PathBuf::from("/var/tmp/depot-tools/ipfs-node/node_modules/.bin/jsipfs"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    missing(&format!(
        "no js-ipfs at {}: set DEPOT_TEST_JSIPFS, or install tests/ipfs-node \
         (`cp tests/ipfs-node/package*.json /var/tmp/depot-tools/ipfs-node && npm ci --prefix /var/tmp/depot-tools/ipfs-node`; .ci/test does)",
        path.display()
    ));
    None
}

/// A js-ipfs daemon of its own repo, on loopback only: no bootstrap peers,
/// no local discovery — it meets only the peers a test connects it to.
struct IpfsNode {
    jsipfs: PathBuf,
    repo: tempfile::TempDir,
    api_port: u16,
    swarm_port: u16,
    daemon: Option<Child>,
    client: reqwest::Client,
}

impl IpfsNode {
    /// A node, initialised but not started.
    async fn init(jsipfs: &Path) -> Self {
        let repo = tempfile::tempdir().unwrap();
        let node = Self {
            jsipfs: jsipfs.to_owned(),
            repo,
            api_port: free_port(),
            swarm_port: free_port(),
            daemon: None,
            client: reqwest::Client::new(),
        };
        let status = node
            .command()
            .args(["init", "--empty-repo"])
            .stdout(Stdio::null())
            .status()
            .await
            .unwrap();
        assert!(status.success(), "jsipfs init");
        let path = node.repo.path().join("config");
        let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["Addresses"]["API"] = format!("/ip4/127.0.0.1/tcp/{}", node.api_port).into();
        config["Addresses"]["Gateway"] = format!("/ip4/127.0.0.1/tcp/{}", free_port()).into();
        config["Addresses"]["RPC"] = format!("/ip4/127.0.0.1/tcp/{}", free_port()).into();
        config["Addresses"]["Swarm"] = serde_json::json!([format!("/ip4/127.0.0.1/tcp/{}", node.swarm_port)]);
        config["Addresses"]["Delegates"] = serde_json::json!([]);
        config["Bootstrap"] = serde_json::json!([]);
        config["Discovery"]["MDNS"]["Enabled"] = false.into();
        config["Discovery"]["webRTCStar"]["Enabled"] = false.into();
        std::fs::write(&path, config.to_string()).unwrap();
        node
    }

    /// A node, started.
    async fn start(jsipfs: &Path) -> Self {
        let mut node = Self::init(jsipfs).await;
        node.run().await;
        node
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.jsipfs);
        command
            .env("IPFS_PATH", self.repo.path())
            .env("NODE_OPTIONS", node_options())
            .kill_on_drop(true);
        command
    }

    /// Starts the daemon and waits until it says it is ready.
    async fn run(&mut self) {
        let mut daemon = self
            .command()
            .arg("daemon")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(daemon.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Daemon is ready") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "the js-ipfs daemon started");
        // Keep reading its output, so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.daemon = Some(daemon);
    }

    async fn stop(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            daemon.kill().await.ok();
        }
    }

    fn api(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// `POST /api/v0/{call}`, answered within 30 s.
    async fn rpc(&self, call: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v0/{call}", self.api()))
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .unwrap_or_else(|err| panic!("{call}: {err}"))
    }

    /// The content of `cid`, as the node finds it (in its store or from its peers).
    async fn cat(&self, cid: &str) -> Vec<u8> {
        let response = self.rpc(&format!("cat?arg={cid}")).await;
        assert_eq!(response.status(), StatusCode::OK, "cat {cid}");
        response.bytes().await.unwrap().to_vec()
    }

    async fn pins(&self, cid: &str) -> bool {
        self.rpc(&format!("pin/ls?arg={cid}&type=recursive"))
            .await
            .status()
            == StatusCode::OK
    }

    /// The address other nodes dial it at.
    async fn swarm_address(&self) -> String {
        let id: Value = self.rpc("id").await.json().await.unwrap();
        format!(
            "/ip4/127.0.0.1/tcp/{}/p2p/{}",
            self.swarm_port,
            id["ID"].as_str().unwrap()
        )
    }
}

fn publishing_to(node: &IpfsNode) -> impl FnOnce(&mut depot::config::Config) + use<> {
    let api = node.api();
    move |config| {
        config.ipfs_api = Some(depot::config::ServiceUrl::new(api));
        config.ipfs_retry = HumanDuration(Duration::from_millis(500));
    }
}

/// Byte i of a file of several 256 KiB blocks.
fn content(size: usize, seed: u8) -> Vec<u8> {
    (0..size).map(|i| (i % 253) as u8 ^ seed).collect()
}

/// Waits up to `seconds` for the file's pin state to be `state`; its `ipfs` field.
async fn pin_state(app: &TestApp, user: &TestUser, name: &str, state: &str, seconds: u64) -> Value {
    let mut pin = Value::Null;
    for _ in 0..seconds * 10 {
        pin = app.metadata(user, name).await["ipfs"].clone();
        if pin["state"] == state {
            return pin;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} is not {state} after {seconds} s: {pin}");
}

async fn eventually_unpinned(node: &IpfsNode, cid: &str) -> bool {
    for _ in 0..100 {
        if !node.pins(cid).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn stored_content_reaches_an_ipfs_node_and_its_peers_and_goes_with_the_last_file() {
    let Some(jsipfs) = jsipfs() else { return };
    let (node, peer) = tokio::join!(IpfsNode::start(&jsipfs), IpfsNode::start(&jsipfs));
    let app = TestApp::spawn_with(publishing_to(&node)).await;
    let ann = app.user("ann").await;

    // Three leaves and a dag-pb root: the node must hold depot's own DAG.
    let bytes = content(700_000, 7);
    let stored: Value = app
        .put_file(&ann, "scan.bin", bytes.clone())
        .await
        .json()
        .await
        .unwrap();
    let cid = stored["cid"].as_str().unwrap().to_owned();
    assert!(cid.starts_with("bafy"), "{cid}");
    assert_eq!(stored["ipfs"]["state"], "pending");
    let pin = pin_state(&app, &ann, "scan.bin", "pinned", 30).await;
    assert_eq!(pin["error"], Value::Null);

    assert!(node.pins(&cid).await, "pinned recursively on the node");
    assert_eq!(node.cat(&cid).await, bytes, "the node serves the bytes by CID");

    // A peer that knows only the first node fetches it from there.
    let address = node.swarm_address().await;
    let connected = peer.rpc(&format!("swarm/connect?arg={address}")).await;
    assert_eq!(connected.status(), StatusCode::OK);
    assert_eq!(peer.cat(&cid).await, bytes, "fetched over bitswap");

    // Two files with the content: it stays until the last goes.
    assert_eq!(
        app.put_file(&ann, "copy.bin", bytes.clone()).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.delete_file(&ann, "scan.bin").await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(node.pins(&cid).await, "still pinned: copy.bin has the content");
    assert_eq!(app.metadata(&ann, "copy.bin").await["ipfs"]["state"], "pinned");
    assert_eq!(app.delete_file(&ann, "copy.bin").await.status(), StatusCode::OK);
    assert!(
        eventually_unpinned(&node, &cid).await,
        "unpinned with the last file"
    );

    // The node answers `pin/rm` a moment before depot records it.
    let counted = app
        .eventually_async(|| async {
            let metrics = app.metrics().await;
            ["pinned", "unpinned"].iter().all(|outcome| {
                let line = format!("depot_ipfs_publish_total{{outcome=\"{outcome}\"}}");
                metrics
                    .lines()
                    .any(|l| l.starts_with(&line) && !l.ends_with(" 0"))
            })
        })
        .await;
    assert!(counted, "tries counted:\n{}", app.metrics().await);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("depot_ipfs_pins{want=\"pin\",state=\"pending\"} 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipfs_node_that_is_down_fails_no_upload_and_gets_the_content_when_back() {
    let Some(jsipfs) = jsipfs() else { return };
    let mut node = IpfsNode::init(&jsipfs).await;
    let app = TestApp::spawn_with(publishing_to(&node)).await;
    let ann = app.user("ann").await;

    let bytes = content(300_000, 3);
    let started = std::time::Instant::now();
    let response = app.put_file(&ann, "while-down.bin", bytes.clone()).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "the upload does not wait for the node"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let cid = response.json::<Value>().await.unwrap()["cid"]
        .as_str()
        .unwrap()
        .to_owned();
    let pin = pin_state(&app, &ann, "while-down.bin", "failed", 20).await;
    assert!(
        pin["error"].as_str().unwrap().contains("did not answer"),
        "the reason is shown: {pin}"
    );
    assert!(pin["attempts"].as_i64().unwrap() >= 1);

    node.run().await;
    pin_state(&app, &ann, "while-down.bin", "pinned", 60).await;
    assert_eq!(node.cat(&cid).await, bytes);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ipfs_sync_publishes_content_stored_before_and_content_the_node_lost() {
    let Some(jsipfs) = jsipfs() else { return };
    let node = IpfsNode::start(&jsipfs).await;
    // The deployment stored its file before it published anything.
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let bytes = content(400_000, 9);
    let stored: Value = app
        .put_file(&ann, "old.bin", bytes.clone())
        .await
        .json()
        .await
        .unwrap();
    let cid = stored["cid"].as_str().unwrap().to_owned();
    assert!(!node.pins(&cid).await);

    let mut config = app.config.clone();
    publishing_to(&node)(&mut config);
    let sync = |args: &'static [&'static str]| {
        let command = depot_on(&config, args);
        async move { run(command).await }
    };
    let output = sync(&["admin", "ipfs-sync"]).await;
    assert!(
        output.contains("1 queued (never published), 0 missing on the node, 1 tried, 0 failed"),
        "{output}"
    );
    assert!(node.pins(&cid).await);
    assert_eq!(node.cat(&cid).await, bytes);

    // The node loses it (unpinned by hand): the next sync finds it missing.
    assert_eq!(
        node.rpc(&format!("pin/rm?arg={cid}")).await.status(),
        StatusCode::OK
    );
    let report: Value = serde_json::from_str(&sync(&["admin", "ipfs-sync", "--json"]).await).unwrap();
    assert_eq!(report["missing_on_node"], 1, "{report}");
    assert_eq!(report["tried"], 1);
    assert!(node.pins(&cid).await, "pinned again");

    // Without a node to publish to, it says what to set.
    let output = tokio::task::spawn_blocking({
        let mut command = depot_on(&app.config, &["admin", "ipfs-sync"]);
        move || command.output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEPOT_IPFS_API"));
}
