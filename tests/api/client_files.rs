//! The client's file commands where they meet what already exists: a file
//! that cannot go up does not stop the others, `--replace`, directories,
//! local files not overwritten, `cat` and `-o -`, a run cut short going on
//! where it stopped, and errors that say which file and what to do.

use std::process::Stdio;
use std::time::Duration;

use crate::client_cli::{client, output, signed_in, text};
use crate::clients::{CuttingProxy, run};
use crate::helpers::{TestApp, sample_bytes};

#[tokio::test]
async fn the_client_goes_on_past_a_failed_file_and_keeps_local_files() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let server = app.address.clone();
    let cli = |args: &[&str]| client(home.path(), &server, args);
    let path = |name: &str| home.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("a.csv"), "x\n1\n").unwrap();
    std::fs::write(path("b.csv"), "y\n2\n").unwrap();
    run(cli(&["upload", &path("a.csv")])).await;

    // a.csv is taken: reported, and b.csv still goes up.
    std::fs::write(path("a.csv"), "x\n1\n2\n").unwrap();
    let both = output(cli(&["upload", &path("a.csv"), &path("b.csv")])).await;
    assert!(!both.status.success());
    let stderr = text(&both.stderr);
    assert!(
        stderr.contains("a.csv: not uploaded") && stderr.contains("file_exists"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 2 files not uploaded"), "{stderr}");
    assert!(
        text(&both.stdout).contains("b.csv (4 bytes"),
        "{}",
        text(&both.stdout)
    );
    let replaced = run(cli(&["upload", "--replace", &path("a.csv")])).await;
    assert!(replaced.contains("a.csv (6 bytes"), "{replaced}");

    let directory = output(cli(&["upload", home.path().to_str().unwrap()])).await;
    assert!(
        text(&directory.stderr).contains("it is a directory"),
        "{}",
        text(&directory.stderr)
    );

    // A local file of that name is kept unless --force.
    let kept = output(cli(&["get", "a.csv", "-o", &path("b.csv")])).await;
    assert!(!kept.status.success());
    assert!(
        text(&kept.stderr).contains("exists; pass --force"),
        "{}",
        text(&kept.stderr)
    );
    assert_eq!(std::fs::read(path("b.csv")).unwrap(), b"y\n2\n");
    run(cli(&["get", "a.csv", "-o", &path("b.csv"), "--force"])).await;
    assert_eq!(std::fs::read(path("b.csv")).unwrap(), b"x\n1\n2\n");

    // To stdout, both ways.
    assert_eq!(run(cli(&["cat", "a.csv"])).await, "x\n1\n2\n");
    assert_eq!(run(cli(&["get", "a.csv", "-o", "-"])).await, "x\n1\n2\n");
    assert!(!home.path().join("-").exists());

    // Errors name the file, and a refused credential says how to get one.
    for args in [["rm", "nope.csv"], ["get", "nope.csv"], ["cat", "nope.csv"]] {
        let missing = output(cli(&args)).await;
        assert!(
            text(&missing.stderr).contains("nope.csv: file not found (not_found, HTTP 404)"),
            "{args:?}: {}",
            text(&missing.stderr)
        );
    }
    let refused = output(cli(&["ls", "--token", "depot_not-a-key"])).await;
    assert!(
        text(&refused.stderr).contains("sign in with `depot login"),
        "{}",
        text(&refused.stderr)
    );
}

/// Starts a resumable upload of `file` through `proxy`, which cuts it, and
/// kills the client during its pause before trying again, as Ctrl-C would.
async fn cut_short(home: &std::path::Path, proxy: &CuttingProxy, file: &str) {
    let mut upload = client(home, &proxy.address, &["upload", file]);
    upload.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = upload.spawn().unwrap();
    for _ in 0..300 {
        if proxy.has_cut() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(proxy.has_cut(), "the upload was not cut");
    child.kill().unwrap();
    tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_resumable_upload_cut_short_goes_on_when_run_again_or_is_aborted() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let content = sample_bytes(70 * 1024 * 1024 + 5);
    let big = home.path().join("big.bin");
    std::fs::write(&big, &content).unwrap();
    let big = big.to_str().unwrap();

    let proxy = CuttingProxy::start(&app.address, 20 * 1024 * 1024).await;
    cut_short(home.path(), &proxy, big).await;
    let sent_before = proxy.forwarded();
    let again = output(client(home.path(), &proxy.address, &["upload", big])).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    let stderr = text(&again.stderr);
    let offset: u64 = stderr
        .split("going on with an earlier upload at byte ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|offset| offset.parse().ok())
        .unwrap_or_else(|| panic!("not resumed: {stderr}"));
    assert!(offset >= 8 * 1024 * 1024, "{offset}");
    assert!(
        proxy.forwarded() - sent_before < content.len() as u64 - offset + 1024 * 1024,
        "only what the server lacked went again"
    );
    let copy = output(client(home.path(), &app.address, &["cat", "big.bin"])).await;
    assert!(copy.stdout == content, "byte-identical");

    // Another cut run, given up: the server's upload ends, the next run starts afresh.
    let other = home.path().join("other.bin");
    std::fs::write(&other, &content[..66 * 1024 * 1024]).unwrap();
    let other = other.to_str().unwrap();
    let proxy = CuttingProxy::start(&app.address, 10 * 1024 * 1024).await;
    cut_short(home.path(), &proxy, other).await;
    // The server may still be writing a request of the killed run (423, as
    // a writer of the test's own makes sure here): the abort waits for it.
    let writer = locked_by_a_slow_writer(&app, home.path()).await;
    let abort = tokio::spawn(output(client(
        home.path(),
        &proxy.address,
        &["upload", "--abort", other],
    )));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!abort.is_finished(), "the abort did not wait for the server");
    assert_eq!(writer.finish().await, reqwest::StatusCode::NO_CONTENT);
    let aborted = abort.await.unwrap();
    assert!(aborted.status.success(), "{}", text(&aborted.stderr));
    assert!(
        text(&aborted.stdout).contains("ended and its bytes removed"),
        "{}",
        text(&aborted.stdout)
    );
    let nothing = run(client(home.path(), &proxy.address, &["upload", "--abort", other])).await;
    assert!(nothing.contains("no unfinished upload"), "{nothing}");
    let fresh = output(client(home.path(), &proxy.address, &["upload", other])).await;
    assert!(fresh.status.success(), "{}", text(&fresh.stderr));
    assert!(
        !text(&fresh.stderr).contains("going on"),
        "{}",
        text(&fresh.stderr)
    );
}

/// A `PATCH` to the client's one kept upload that sends a little and then
/// holds the upload's lock on the server until finished.
struct SlowWriter {
    more: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    sent: tokio::task::JoinHandle<reqwest::StatusCode>,
}

impl SlowWriter {
    async fn finish(self) -> reqwest::StatusCode {
        drop(self.more);
        self.sent.await.unwrap()
    }
}

async fn locked_by_a_slow_writer(app: &TestApp, home: &std::path::Path) -> SlowWriter {
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("uploads.json")).unwrap()).unwrap();
    let upload = app.url(kept["uploads"][0]["upload"].as_str().unwrap());
    let saved = std::fs::read_to_string(home.join("client.toml")).unwrap();
    let key = saved
        .split('"')
        .find(|part| part.starts_with("depot_"))
        .unwrap()
        .to_owned();
    let head = app
        .client
        .head(&upload)
        .bearer_auth(&key)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    let offset = head.headers()["upload-offset"].to_str().unwrap().to_owned();
    let (more, body) = crate::resumable::fed_body();
    more.send(Ok(bytes::Bytes::from(vec![1; 1024]))).await.unwrap();
    let patch = app
        .client
        .patch(&upload)
        .bearer_auth(&key)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset)
        .header("Content-Type", "application/offset+octet-stream")
        .body(body);
    let sent = tokio::spawn(async move { patch.send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    SlowWriter { more, sent }
}

#[tokio::test]
async fn the_client_uploads_lists_moves_and_deletes_folders() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let server = app.address.clone();
    let cli = |args: &[&str]| client(home.path(), &server, args);
    let tree = home.path().join("reports");
    std::fs::create_dir_all(tree.join("2024")).unwrap();
    std::fs::write(tree.join("2024/q1.csv"), "q\n1\n").unwrap();
    std::fs::write(tree.join("2024/q2.csv"), "q\n2\n").unwrap();
    std::fs::write(tree.join("summary.txt"), "two quarters").unwrap();

    let uploaded = run(cli(&["upload", "-r", tree.to_str().unwrap()])).await;
    for name in [
        "reports/2024/q1.csv",
        "reports/2024/q2.csv",
        "reports/summary.txt",
    ] {
        assert!(uploaded.contains(name), "{uploaded}");
    }
    let into = run(cli(&[
        "upload",
        "--into",
        "archive/old",
        tree.join("summary.txt").to_str().unwrap(),
    ]))
    .await;
    assert!(into.contains("archive/old/summary.txt"), "{into}");

    let top = run(cli(&["ls", "/"])).await;
    assert!(
        top.contains("reports/") && top.contains("3 files") && top.contains("archive/"),
        "{top}"
    );
    let level = run(cli(&["ls", "reports/"])).await;
    let lines: Vec<&str> = level.lines().collect();
    assert_eq!(lines.len(), 2, "{level}");
    assert!(
        lines[0].ends_with("reports/2024/") && lines[1].ends_with("reports/summary.txt"),
        "{level}"
    );

    run(cli(&["mv", "reports/summary.txt", "reports/2024/"])).await;
    run(cli(&["mv", "reports/", "done/reports"])).await;
    let moved = run(cli(&["ls", "done/reports/2024/"])).await;
    assert_eq!(moved.lines().count(), 3, "{moved}");
    assert!(moved.contains("done/reports/2024/summary.txt"), "{moved}");
    // A file in a folder downloads under its own name.
    let fetched = run(cli(&[
        "get",
        "done/reports/2024/q1.csv",
        "-o",
        home.path().join("q1.csv").to_str().unwrap(),
    ]))
    .await;
    assert!(fetched.contains("q1.csv"), "{fetched}");
    assert_eq!(std::fs::read(home.path().join("q1.csv")).unwrap(), b"q\n1\n");

    let refused = output(cli(&["rm", "done/"])).await;
    assert!(!refused.status.success());
    let deleted = run(cli(&["rm", "-r", "done/"])).await;
    assert!(deleted.contains("3 files"), "{deleted}");
    let gone = output(cli(&["ls", "done/"])).await;
    assert!(
        !gone.status.success() && text(&gone.stderr).contains("no file of yours"),
        "{}",
        text(&gone.stderr)
    );
}
