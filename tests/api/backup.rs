//! `depot backup`, `depot backup verify` and `depot restore`, run as the
//! binary against the suite's deployment (SQLite or PostgreSQL; local disk,
//! S3 or a storage node), while it serves.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::{depot_on, stderr_of};
use crate::clients::program;
use crate::helpers::{TestApp, TestS3, TestUser, hex_sha256, sample_bytes};

/// A file as it was stored: its bytes' SHA-256 and its CID.
#[derive(Debug, Clone, PartialEq)]
struct Stored {
    sha256: String,
    cid: String,
}

async fn put(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> Stored {
    let response = app.put_file(user, name, bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{name}");
    stored(&response.json().await.unwrap())
}

fn stored(file: &Value) -> Stored {
    Stored {
        sha256: file["sha256"].as_str().unwrap().to_owned(),
        cid: file["cid"].as_str().unwrap().to_owned(),
    }
}

/// Every file `user` has in `app`, each downloaded and checked against the
/// SHA-256 its metadata gives.
async fn every_file_whole(app: &TestApp, user: &TestUser) -> BTreeMap<String, Stored> {
    let listing: Value = app
        .get(user, "/api/v1/files/?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let mut files = BTreeMap::new();
    for file in listing.as_array().unwrap() {
        let name = file["file_name"].as_str().unwrap().to_owned();
        let body = app.download(user, &name).await;
        assert_eq!(body.status(), StatusCode::OK, "{name} downloads");
        let bytes = body.bytes().await.unwrap();
        assert_eq!(
            hex_sha256(&bytes),
            file["sha256"].as_str().unwrap(),
            "{name} is whole"
        );
        files.insert(name, stored(file));
    }
    files
}

/// A command's output, run off the runtime (which may serve the storage node it uses).
async fn output(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

/// [`output`], of a command that must succeed.
async fn run(command: Command) -> Output {
    let output = output(command).await;
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        stderr_of(&output)
    );
    output
}

fn stdout_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `command` run under strace, each rename it makes held back `delay`
/// first; `None` (the test is skipped) without strace, except under `CI=true`.
fn with_slow_renames(command: &Command, delay: Duration) -> Option<Command> {
    if !program("strace", "-V", "strace") {
        return None;
    }
    let calls = "rename,renameat,renameat2";
    let mut slowed = Command::new("strace");
    slowed
        .args(["-f", "-qq", "-o", "/dev/null", "-e", &format!("trace={calls}")])
        .arg("-e")
        .arg(format!("inject={calls}:delay_enter={}", delay.as_micros()))
        .arg(command.get_program())
        .args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => slowed.env(name, value),
            None => slowed.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        slowed.current_dir(dir);
    }
    Some(slowed)
}

/// Whether the backup in `dir` is copying content (a copy is staged).
fn copying(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("blobs/tmp")).is_ok_and(|mut entries| entries.next().is_some())
}

/// Uploads and deletes go on during a backup: files stored before it and
/// files deleted while its content is copied are restored whole, with their
/// SHA-256 and CID; files stored during it are restored whole or not at all;
/// the restored deployment's audit chain verifies; a second backup copies
/// nothing it has.
#[tokio::test]
async fn a_backup_taken_while_files_come_and_go_restores_every_file_whole() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let mut before = BTreeMap::new();
    for i in 0..12 {
        let bytes = match i {
            0 => sample_bytes(3 * 1024 * 1024 + 11), // several CID leaves
            1 | 2 => b"the same bytes twice".to_vec(),
            _ => format!("file {i}\n").repeat(i * 100).into_bytes(),
        };
        let name = format!("kept-{i}.txt");
        before.insert(name.clone(), put(&app, &ann, &name, bytes).await);
    }
    for i in 0..6 {
        let name = format!("doomed-{i}.bin");
        before.insert(name.clone(), put(&app, &ann, &name, sample_bytes(5000 + i)).await);
    }

    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().join("nightly");
    let backup = depot_on(&app.config, &["backup", "--to", dir.to_str().unwrap()]);
    let Some(mut slowed) = with_slow_renames(&backup, Duration::from_millis(300)) else {
        return;
    };
    let uploading = Arc::new(AtomicBool::new(true));
    let uploader = {
        let (app_url, token, going) = (app.address.clone(), ann.token.clone(), uploading.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut acknowledged = Vec::new();
            for j in 0.. {
                if !going.load(Ordering::SeqCst) {
                    break;
                }
                let name = format!("during-{j}.txt");
                let sent = client
                    .put(format!("{app_url}/api/v1/files/{name}/content"))
                    .bearer_auth(&token)
                    .body(format!("stored during the backup, {j}\n").repeat(j + 1))
                    .send()
                    .await;
                if sent.is_ok_and(|response| response.status() == StatusCode::CREATED) {
                    acknowledged.push(name);
                }
            }
            acknowledged
        })
    };
    let running = slowed
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once content is being copied, the snapshot is taken: deletions now
    // must leave the bytes its files need.
    let began = tokio::time::Instant::now();
    while !copying(&dir) {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the backup never began copying"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for i in 0..6 {
        let deleted = app.delete_file(&ann, &format!("doomed-{i}.bin")).await;
        assert_eq!(deleted.status(), StatusCode::OK);
    }
    let finished = tokio::task::spawn_blocking(move || running.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    uploading.store(false, Ordering::SeqCst);
    let during = uploader.await.unwrap();
    assert!(
        finished.status.success(),
        "{}{}",
        stdout_of(&finished),
        stderr_of(&finished)
    );
    assert!(
        stdout_of(&finished).contains("0 already there"),
        "{}",
        stdout_of(&finished)
    );

    let verified = run(depot_on(
        &app.config,
        &["backup", "verify", dir.to_str().unwrap()],
    ))
    .await;
    assert!(
        stdout_of(&verified).contains("is whole"),
        "{}",
        stdout_of(&verified)
    );
    // The next backup copies only what came since: all of the first
    // snapshot's content is there but the six deleted files'.
    let first: Value = serde_json::from_str(
        &std::fs::read_to_string(
            dir.join("snapshots")
                .join(&snapshot_ids(&dir)[0])
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let again = run(depot_on(&app.config, &["backup", "--to", dir.to_str().unwrap()])).await;
    let kept = first["content"]["blobs"].as_u64().unwrap() - 6;
    assert!(
        stdout_of(&again).contains(&format!(" {kept} already there")),
        "{}",
        stdout_of(&again)
    );

    let target = TestApp::prepare(|_| {}).await;
    let restored = run(depot_on(
        &target.config,
        &[
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--snapshot",
            &snapshot_ids(&dir)[0],
        ],
    ))
    .await;
    assert!(
        stdout_of(&restored).contains("restored snapshot"),
        "{}",
        stdout_of(&restored)
    );
    let restored_app = TestApp::start(target).await;
    let files = every_file_whole(&restored_app, &ann).await;
    for (name, stored) in &before {
        assert_eq!(
            files.get(name),
            Some(stored),
            "{name}, stored before the backup, is restored as it was"
        );
    }
    for name in files.keys().filter(|name| name.starts_with("during-")) {
        assert!(
            during.contains(name),
            "{name} is restored, but its upload was never acknowledged"
        );
    }
    let chain = run(depot_on(&restored_app.config, &["audit", "verify"])).await;
    assert!(
        stdout_of(&chain).contains("the chain is whole"),
        "{}",
        stdout_of(&chain)
    );
}

/// The snapshots in a backup directory, oldest first, as `depot backup list` shows them.
fn snapshot_ids(dir: &Path) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    ids
}

fn content_file(dir: &Path, sha256: &str) -> PathBuf {
    dir.join("blobs/sha256").join(&sha256[..2]).join(sha256)
}

/// `verify` names damaged and missing content (`--quick` sees only what is
/// missing or of the wrong size); the next backup copies back what the
/// directory lacks; a restore refuses a deployment that has data, and a
/// backup refuses a URL.
#[tokio::test]
async fn verify_names_damage_and_restore_wants_an_empty_deployment() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let rotting = put(&app, &ann, "rotting.txt", b"these bytes will rot".to_vec()).await;
    let vanishing = put(&app, &ann, "vanishing.txt", b"these bytes will go".to_vec()).await;
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap();
    run(depot_on(&app.config, &["backup", "--to", dir])).await;

    std::fs::write(
        content_file(backups.path(), &rotting.sha256),
        b"these bytes have rot",
    )
    .unwrap();
    let quick = run(depot_on(&app.config, &["backup", "verify", "--quick", dir])).await;
    assert!(
        stdout_of(&quick).contains("is whole"),
        "the size is unchanged: {}",
        stdout_of(&quick)
    );
    let deep = output(depot_on(&app.config, &["backup", "verify", dir])).await;
    assert!(!deep.status.success());
    assert!(
        stdout_of(&deep).contains(&format!(
            "content {}: its bytes do not match their SHA-256",
            rotting.sha256
        )),
        "{}",
        stdout_of(&deep)
    );

    std::fs::remove_file(content_file(backups.path(), &vanishing.sha256)).unwrap();
    let quick = output(depot_on(&app.config, &["backup", "verify", "--quick", dir])).await;
    assert!(!quick.status.success());
    assert!(
        stdout_of(&quick).contains(&format!("content {}: missing", vanishing.sha256)),
        "{}",
        stdout_of(&quick)
    );
    let metadata = backups
        .path()
        .join("snapshots")
        .join(&snapshot_ids(backups.path())[0]);
    let manifest = std::fs::read_to_string(metadata.join("manifest.json")).unwrap();
    let metadata_file = serde_json::from_str::<Value>(&manifest).unwrap()["metadata"]["file"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::OpenOptions::new()
        .append(true)
        .open(metadata.join(&metadata_file))
        .map(|mut file| std::io::Write::write_all(&mut file, b"junk"))
        .unwrap()
        .unwrap();
    let damaged = output(depot_on(&app.config, &["backup", "verify", "--quick", dir])).await;
    assert!(
        stdout_of(&damaged).contains(&format!("{metadata_file}: ")),
        "a changed metadata file is named: {}",
        stdout_of(&damaged)
    );

    let next = run(depot_on(&app.config, &["backup", "--to", dir])).await;
    assert!(
        stdout_of(&next).contains("1 copied") && stdout_of(&next).contains("1 already there"),
        "only the missing content is copied back (the rotten copy has the right size): {}",
        stdout_of(&next)
    );

    let refused = output(depot_on(&app.config, &["restore", "--from", dir])).await;
    assert!(!refused.status.success());
    assert!(
        stderr_of(&refused).contains("a restore goes into an empty"),
        "{}",
        stderr_of(&refused)
    );
    let url = output(depot_on(&app.config, &["backup", "--to", "ftp://host/backups"])).await;
    assert!(!url.status.success());
    assert!(
        stderr_of(&url).contains("a backup goes into a directory or s3://bucket/prefix"),
        "{}",
        stderr_of(&url)
    );
}

/// A backup into an S3 bucket (the suite's S3 server) lists, verifies and
/// restores like a directory, and a second one copies nothing it has.
#[tokio::test]
async fn a_backup_in_s3_restores_every_file_whole() {
    let Some(s3) = TestS3::from_env() else { return };
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let mut stored = BTreeMap::new();
    for (name, bytes) in [
        ("big.bin", sample_bytes(9 * 1024 * 1024 + 3)),
        ("small.txt", b"small".to_vec()),
        ("again.txt", b"small".to_vec()),
    ] {
        stored.insert(name.to_owned(), put(&app, &ann, name, bytes).await);
    }
    let target = s3.storage(&format!("backups-{}", uuid::Uuid::new_v4().simple()));
    let in_s3 = |config: &depot::config::Config, args: &[&str]| {
        let mut command = depot_on(config, args);
        command.envs(s3.env());
        command
    };
    let first = run(in_s3(&app.config, &["backup", "--to", &target])).await;
    assert!(stdout_of(&first).contains("2 content"), "{}", stdout_of(&first));
    let second = run(in_s3(&app.config, &["backup", "--to", &target])).await;
    assert!(stdout_of(&second).contains(" 0 copied"), "{}", stdout_of(&second));
    let listed = run(in_s3(&app.config, &["backup", "list", &target])).await;
    assert_eq!(stdout_of(&listed).lines().count(), 2, "{}", stdout_of(&listed));
    let verified = run(in_s3(&app.config, &["backup", "verify", &target])).await;
    assert!(
        stdout_of(&verified).contains("is whole"),
        "{}",
        stdout_of(&verified)
    );

    let fresh = TestApp::prepare(|_| {}).await;
    run(in_s3(&fresh.config, &["restore", "--from", &target])).await;
    let restored = TestApp::start(fresh).await;
    assert_eq!(every_file_whole(&restored, &ann).await, stored);
}

/// A restore killed while it copies content leaves no metadata behind, so
/// running it again is allowed, copies only what is missing, and restores
/// every file.
#[tokio::test]
async fn a_restore_cut_short_goes_on_where_it_stopped() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    let mut stored = BTreeMap::new();
    for i in 0..12 {
        let name = format!("f{i}.bin");
        stored.insert(
            name.clone(),
            put(&app, &ann, &name, sample_bytes(10_000 + i)).await,
        );
    }
    let backups = tempfile::tempdir().unwrap();
    let dir = backups.path().to_str().unwrap();
    run(depot_on(&app.config, &["backup", "--to", dir])).await;

    // Into the local store, whatever the suite's, to see the content arrive.
    let target = TestApp::prepare(|config| {
        config.role = depot::config::Role::Standalone;
        config.storage = None;
    })
    .await;
    let restore = depot_on(&target.config, &["restore", "--from", dir]);
    let Some(mut slowed) = with_slow_renames(&restore, Duration::from_millis(300)) else {
        return;
    };
    let mut running = slowed
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let copied = target.config.data_dir.join("blobs/sha256");
    let began = tokio::time::Instant::now();
    while walk_count(&copied) == 0 {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "the restore never copied anything"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The restore itself, strace's child: killed, strace ends with it.
    let children = Command::new("pgrep")
        .args(["-P", &running.id().to_string()])
        .output()
        .unwrap();
    let restore_pid = String::from_utf8_lossy(&children.stdout).trim().to_owned();
    assert!(!restore_pid.is_empty(), "the restore runs under strace");
    Command::new("kill")
        .args(["-KILL", &restore_pid])
        .status()
        .unwrap();
    running.wait().unwrap();
    assert!(
        !target.config.data_dir.join("depot.db").exists(),
        "no metadata yet"
    );

    let again = run(depot_on(&target.config, &["restore", "--from", dir])).await;
    let already = stdout_of(&again)
        .split(" already there")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|count| count.parse::<u64>().ok())
        .unwrap_or_default();
    assert!(
        already >= 1,
        "content the first run copied is not copied again: {}",
        stdout_of(&again)
    );
    let restored = TestApp::start(target).await;
    assert_eq!(every_file_whole(&restored, &ann).await, stored);
}

/// Files under `dir`, at any depth.
fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|entry| entry.unwrap().path())
            .map(|path| if path.is_dir() { walk_count(&path) } else { 1 })
            .sum()
    })
}
