//! The command-line client (`depot login|logout|whoami|key|upload|ls|get|rm|info`) end to end
//! against a real server: byte-identical round trips, the server's errors as
//! its own, and interrupted transfers resumed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::clients::{CuttingProxy, run};
use crate::helpers::{TestApp, hex_sha256, sample_bytes};
use crate::process::{depot, depot_at_a_terminal};

/// The client against `server`, with its own config file in `home`.
pub(crate) fn client(home: &Path, server: &str, args: &[&str]) -> Command {
    let mut command = depot(home);
    command
        .args(args)
        .arg("--server")
        .arg(server)
        .env("DEPOT_CLIENT_CONFIG", home.join("client.toml"));
    command
}

pub(crate) async fn output(command: Command) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output().unwrap()
    })
    .await
    .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Signs `name` up on the server and in with the client.
pub(crate) async fn signed_in(app: &TestApp, home: &Path, name: &str) {
    app.user(name).await;
    let mut login = client(home, &app.address, &["login", "--username", name]);
    login
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Off the runtime: the server answering the login runs on it.
    let done = tokio::task::spawn_blocking(move || {
        let mut child = login.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"correct horse battery\n").unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(done.status.success(), "{}", text(&done.stderr));
    assert!(text(&done.stdout).contains(&format!("as {name}")));
}

#[tokio::test]
async fn the_client_uploads_lists_downloads_and_removes_files() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.path().join("client.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the saved token is private");
    }
    let server = app.address.clone();
    let cli = |args: &[&str]| client(home.path(), &server, args);

    let csv = home.path().join("sales.csv");
    std::fs::write(&csv, "date,sales\n2024-01-01,3.5\n").unwrap();
    let notes = home.path().join("notes.bin");
    std::fs::write(&notes, sample_bytes(100_000)).unwrap();
    let csv_arg = csv.to_str().unwrap();
    let notes_arg = notes.to_str().unwrap();
    let stored = run(cli(&[
        "upload",
        csv_arg,
        notes_arg,
        "--description",
        "Q1 — first",
    ]))
    .await;
    assert!(stored.contains("sales.csv (26 bytes"), "{stored}");

    let listed = run(cli(&["ls"])).await;
    assert!(
        listed.contains("sales.csv") && listed.contains("notes.bin"),
        "{listed}"
    );
    let searched: Vec<Value> =
        serde_json::from_str(&run(cli(&["ls", "--search", "SALES", "--json"])).await).unwrap();
    assert_eq!(searched.len(), 1);
    assert_eq!(searched[0]["description"], "Q1 — first");

    let info = run(cli(&["info", "sales.csv"])).await;
    assert!(info.contains("content_type  text/csv"), "{info}");
    assert!(
        info.contains("**sales**: `float64`"),
        "the dataset summary: {info}"
    );

    let copy = home.path().join("copy.bin");
    run(cli(&["get", "notes.bin", "-o", copy.to_str().unwrap()])).await;
    assert_eq!(std::fs::read(&copy).unwrap(), sample_bytes(100_000));

    run(cli(&["rm", "notes.bin"])).await;
    let missing = output(cli(&["get", "notes.bin", "-o", "gone.bin"])).await;
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("notes.bin: file not found (not_found, HTTP 404)"),
        "{}",
        text(&missing.stderr)
    );

    let again = output(cli(&["upload", csv_arg])).await;
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists (file_exists, HTTP 409)"),
        "{}",
        text(&again.stderr)
    );

    let anonymous = output(client(tempfile::tempdir().unwrap().path(), &server, &["ls"])).await;
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous.stderr).contains("not signed in"),
        "{}",
        text(&anonymous.stderr)
    );
}

/// `depot login` keeps an API key, not the password or a one-hour token;
/// `whoami` and `key` use it; `logout` revokes it.
/// The client's help lists its own flags, not the server's.
#[test]
fn client_help_leaves_out_the_servers_flags() {
    let help = |args: &[&str]| {
        let output = depot(std::env::temp_dir().as_path()).args(args).output().unwrap();
        text(&output.stdout)
    };
    let upload = help(&["upload", "--help"]);
    assert!(
        upload.contains("--server") && !upload.contains("--data-dir") && !upload.contains("--addr"),
        "{upload}"
    );
    let serve = help(&["serve", "--help"]);
    assert!(
        serve.contains("--data-dir") && serve.contains("--addr"),
        "{serve}"
    );
    assert!(help(&["user", "add", "--help"]).contains("--data-dir"));
}

/// At a terminal, `depot login` asks for the password and does not show it.
#[tokio::test]
async fn login_at_a_terminal_asks_for_the_password_without_showing_it() {
    let app = TestApp::spawn().await;
    app.user("ann").await;
    let home = tempfile::tempdir().unwrap();
    let mut login = depot_at_a_terminal(
        home.path(),
        &["login", "--username", "ann", "--server", &app.address],
    );
    login
        .env("DEPOT_CLIENT_CONFIG", home.path().join("client.toml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let shown = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut child = login.spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut shown = Vec::new();
        let mut byte = [0; 1];
        // Typed once asked, as a person would: a terminal echoes what
        // arrives before the prompt has turned its echo off.
        while !String::from_utf8_lossy(&shown).contains("Password: ") {
            assert_eq!(stdout.read(&mut byte).unwrap(), 1, "no prompt: {}", text(&shown));
            shown.push(byte[0]);
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        child
            .stdin
            .as_mut()
            .unwrap()
            .write_all(b"correct horse battery\n")
            .unwrap();
        stdout.read_to_end(&mut shown).unwrap();
        assert!(child.wait().unwrap().success(), "{}", text(&shown));
        text(&shown)
    })
    .await
    .unwrap();
    assert!(shown.contains("signed in to"), "{shown}");
    assert!(
        !shown.contains("correct horse"),
        "the password was shown: {shown}"
    );
}

#[tokio::test]
async fn the_client_signs_in_with_a_key_that_logout_revokes() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let saved = std::fs::read_to_string(home.path().join("client.toml")).unwrap();
    let key = saved
        .split('"')
        .find(|part| part.starts_with("depot_"))
        .unwrap_or_else(|| panic!("no API key saved: {saved}"))
        .to_owned();
    let server = app.address.clone();
    let cli = |args: &[&str]| client(home.path(), &server, args);

    let me = run(cli(&["whoami"])).await;
    assert!(
        me.contains("ann") && me.contains("API key") && me.contains("read and write"),
        "{me}"
    );

    // A read-only key for a script: printed once, listed without its secret.
    let secret = run(cli(&["key", "create", "nightly", "--scope", "read"])).await;
    let secret = secret.trim();
    assert!(secret.starts_with("depot_"), "{secret}");
    let listed = run(cli(&["key", "list"])).await;
    assert!(
        listed.contains("nightly") && listed.contains("depot login on"),
        "{listed}"
    );
    assert!(!listed.contains(&secret[6..]), "{listed}");
    let csv = home.path().join("x.csv");
    std::fs::write(&csv, "a\n1\n").unwrap();
    let refused = output(cli(&["upload", csv.to_str().unwrap(), "--token", secret])).await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("insufficient_scope, HTTP 403"),
        "{}",
        text(&refused.stderr)
    );
    let keys: Vec<Value> = serde_json::from_str(&run(cli(&["key", "list", "--json"])).await).unwrap();
    let nightly = keys.iter().find(|key| key["name"] == "nightly").unwrap();
    run(cli(&["key", "revoke", &nightly["id"].to_string()])).await;
    let gone = output(cli(&["ls", "--token", secret])).await;
    assert!(text(&gone.stderr).contains("HTTP 401"), "{}", text(&gone.stderr));

    run(cli(&["logout"])).await;
    let after = output(cli(&["ls"])).await;
    assert!(
        text(&after.stderr).contains("not signed in"),
        "{}",
        text(&after.stderr)
    );
    let old = app
        .client
        .get(app.url("/api/v1/files/"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "the saved key is revoked"
    );
}

/// A 70 MiB upload whose connection is cut at 20 MiB goes on from the
/// server's durable offset; a download with half its bytes on disk fetches
/// only the rest.
#[tokio::test]
async fn the_client_resumes_interrupted_uploads_and_downloads() {
    let app = TestApp::spawn().await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let content = sample_bytes(70 * 1024 * 1024 + 5);
    let big = home.path().join("big.bin");
    std::fs::write(&big, &content).unwrap();

    let proxy = CuttingProxy::start(&app.address, 20 * 1024 * 1024).await;
    let upload = output(client(
        home.path(),
        &proxy.address,
        &["upload", big.to_str().unwrap()],
    ))
    .await;
    assert!(upload.status.success(), "{}", text(&upload.stderr));
    assert!(proxy.has_cut(), "the connection was cut");
    assert!(
        text(&upload.stderr).contains("big.bin: resuming at byte"),
        "{}",
        text(&upload.stderr)
    );
    assert!(
        proxy.forwarded() < 90 * 1024 * 1024,
        "only the lost chunk went again"
    );
    let meta: Value =
        serde_json::from_str(&run(client(home.path(), &app.address, &["ls", "--json"])).await).unwrap();
    assert_eq!(meta[0]["sha256"], hex_sha256(&content));

    let target = home.path().join("back.bin");
    std::fs::write(home.path().join("back.bin.part"), &content[..30 * 1024 * 1024]).unwrap();
    let get = output(client(
        home.path(),
        &app.address,
        &["get", "big.bin", "-o", target.to_str().unwrap()],
    ))
    .await;
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert!(text(&get.stderr).contains(&format!("resuming at byte {}", 30 * 1024 * 1024)));
    assert!(std::fs::read(&target).unwrap() == content, "byte-identical");
    assert!(!home.path().join("back.bin.part").exists());
}

#[tokio::test]
async fn the_client_waits_out_a_rate_limit_and_goes_on() {
    let app = TestApp::spawn_with(|config| {
        config.rate_requests = depot::config::Rate::parse("2/2s").unwrap();
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    signed_in(&app, home.path(), "ann").await;
    let started = std::time::Instant::now();
    let mut waited = 0;
    for _ in 0..4 {
        let listed = output(client(home.path(), &app.address, &["ls"])).await;
        assert!(listed.status.success(), "{}", text(&listed.stderr));
        if text(&listed.stderr).contains("rate limit is reached; trying again in 1 s") {
            waited += 1;
        }
    }
    assert!(waited >= 1, "no request was refused and sent again");
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
}

/// `depot share`, `ls --shared`, `get --from` and `depot link`, as two users
/// and someone with only a URL would use them.
#[tokio::test]
async fn the_client_shares_files_and_makes_links() {
    let app = TestApp::spawn().await;
    let (ann_home, bob_home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    signed_in(&app, ann_home.path(), "ann").await;
    signed_in(&app, bob_home.path(), "bob").await;
    let server = app.address.clone();
    let ann = |args: &[&str]| client(ann_home.path(), &server, args);
    let bob = |args: &[&str]| client(bob_home.path(), &server, args);
    let report = ann_home.path().join("report.bin");
    std::fs::write(&report, sample_bytes(50_000)).unwrap();
    run(ann(&["upload", report.to_str().unwrap()])).await;

    // A server given as people type it: host and port, no scheme.
    let bare = server.trim_start_matches("http://").to_owned();
    let whoami = run(client(bob_home.path(), &bare, &["whoami"])).await;
    assert!(whoami.starts_with("bob on http://"), "{whoami}");

    let shared = run(ann(&["share", "report.bin", "bob"])).await;
    assert!(shared.contains("shared with bob"), "{shared}");
    assert_eq!(run(ann(&["share", "report.bin"])).await.trim(), "bob");
    let listed = run(bob(&["ls", "--shared"])).await;
    assert!(
        listed.contains("ann") && listed.contains("report.bin"),
        "{listed}"
    );
    let copy = bob_home.path().join("copy.bin");
    run(bob(&[
        "get",
        "report.bin",
        "--from",
        "ann",
        "-o",
        copy.to_str().unwrap(),
    ]))
    .await;
    assert_eq!(std::fs::read(&copy).unwrap(), sample_bytes(50_000));
    run(ann(&["share", "report.bin", "bob", "--revoke"])).await;
    assert!(run(bob(&["ls", "--shared"])).await.trim().is_empty());

    let url = run(ann(&[
        "link",
        "create",
        "report.bin",
        "--max-downloads",
        "1",
        "--expires-in",
        "1d",
    ]))
    .await;
    let url = url.trim();
    let fetched = reqwest::get(url).await.unwrap();
    assert_eq!(fetched.status(), reqwest::StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap(), sample_bytes(50_000));
    let links = run(ann(&["link", "ls"])).await;
    assert!(links.contains("ended") && links.contains("1/1"), "{links}");
    let upload_url = run(ann(&[
        "link",
        "upload",
        "--max-files",
        "3",
        "--max-bytes",
        "1KiB",
    ]))
    .await;
    let id = upload_url.trim().rsplit('/').next().unwrap()[..16].to_owned();
    let changed = run(ann(&["link", "expire", &id, "--in", "2h"])).await;
    assert!(changed.contains("works until"), "{changed}");
    run(ann(&["link", "revoke", &id])).await;
    let gone = reqwest::Client::new()
        .post(upload_url.trim())
        .multipart(
            reqwest::multipart::Form::new().part("file", crate::helpers::file_part(b"x".to_vec(), "x.txt")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), reqwest::StatusCode::GONE);
}
