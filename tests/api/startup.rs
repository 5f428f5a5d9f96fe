//! Starting the server: configuration layers, and a start that cannot work
//! failing at once in one readable line, leaving nothing behind.

use std::path::Path;
use std::process::Output;

use crate::cli::stderr_of;
use crate::process::{ServerProcess, depot};

/// Runs `depot serve` on `data_dir` with extra environment, until it exits.
fn serve_until_exit(cwd: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut command = depot(cwd);
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir);
    command.envs(env.iter().copied());
    command.output().unwrap()
}

/// A startup failure: non-zero exit and exactly one line on stderr.
fn assert_fails_with_one_line(output: &Output, expected: &str) {
    assert!(!output.status.success(), "depot started: {}", stderr_of(output));
    let stderr = stderr_of(output);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}

#[test]
fn depot_config_layers_file_then_env_then_flags_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("depot.toml"),
        "addr = \"0.0.0.0:1111\"\nmax_upload_bytes = 5\nallowed_extensions = [\"csv\"]\ntoken_ttl_seconds = 60\n",
    )
    .unwrap();
    let output = depot(dir.path())
        .arg("config")
        .env("DEPOT_MAX_UPLOAD_BYTES", "7")
        .env("DEPOT_ADDR", "0.0.0.0:2222")
        .env("DATABASE_URL", "postgres://depot:hunter2@db.internal:5432/depot")
        .env("REDIS_URL", "redis://:cache-pass-99@cache.internal:6379")
        .env("DEPOT_SESSION_TTL", "7d")
        .env("SECRET_KEY", "a-very-secret-key-that-nobody-may-see")
        .args(["--addr", "127.0.0.1:3333"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("addr = \"127.0.0.1:3333\""),
        "flag beats env: {stdout}"
    );
    assert!(
        stdout.contains("max_upload_bytes = 7"),
        "env beats file: {stdout}"
    );
    assert!(
        stdout.contains("token_ttl_seconds = 60"),
        "file beats default: {stdout}"
    );
    assert!(stdout.contains("\"csv\""), "{stdout}");
    assert!(
        !stdout.contains("hunter2")
            && !stdout.contains("nobody-may-see")
            && !stdout.contains("cache-pass-99"),
        "{stdout}"
    );
    assert!(
        stdout.contains("postgres://depot:***@db.internal:5432/depot"),
        "{stdout}"
    );
    assert!(stdout.contains("secret_key = \"[redacted]\""), "{stdout}");
    assert!(stdout.contains("redis://:***@cache.internal:6379"), "{stdout}");
    assert!(stdout.contains("session_ttl = \"7days\""), "{stdout}");
}

#[test]
fn allowed_extensions_accepts_a_comma_separated_env_value() {
    let dir = tempfile::tempdir().unwrap();
    let output = depot(dir.path())
        .arg("config")
        .env("DEPOT_ALLOWED_EXTENSIONS", "csv,.TSV")
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("allowed_extensions = [\n    \"csv\",\n    \"tsv\",\n]"),
        "{stdout}"
    );
}

#[test]
fn startup_fails_fast_when_the_data_dir_is_not_writable() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let output = serve_until_exit(dir.path(), &blocker.join("data"), &[]);
    assert_fails_with_one_line(&output, "is not writable");
}

#[test]
fn startup_fails_fast_when_the_secret_key_is_too_short() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(dir.path(), Path::new("data"), &[("SECRET_KEY", "too-short")]);
    assert_fails_with_one_line(&output, "SECRET_KEY must be at least 32 bytes");
}

#[test]
fn startup_fails_fast_when_the_database_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(
        dir.path(),
        Path::new("data"),
        &[
            ("DATABASE_URL", "postgres://depot:hunter2@127.0.0.1:1/depot"),
            ("SECRET_KEY", "0123456789abcdef0123456789abcdef"),
        ],
    );
    assert_fails_with_one_line(&output, "is unreachable");
    assert!(!stderr_of(&output).contains("hunter2"));
}

#[test]
fn postgres_without_a_secret_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(
        dir.path(),
        Path::new("data"),
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/depot")],
    );
    assert_fails_with_one_line(&output, "SECRET_KEY must be set with PostgreSQL");
}

#[test]
fn the_generated_secret_is_private_and_kept_across_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let config = depot::config::Config {
        data_dir: dir.path().join("data"),
        ..Default::default()
    };
    let first = depot::startup::prepare_data_dir_and_secret(&config).unwrap();
    let second = depot::startup::prepare_data_dir_and_secret(&config).unwrap();
    assert_eq!(first.expose(), second.expose());
    assert!(first.expose().len() >= 32);
    let mode = std::fs::metadata(config.data_dir.join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_mistyped_setting_in_depot_toml_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("depot.toml"),
        "max_upload_byte = 5\nallowed_extensions = [\"csv\"]\n",
    )
    .unwrap();
    let expected = "no such setting: `max_upload_byte` (did you mean `max_upload_bytes`?)";
    let config = depot(dir.path()).arg("config").output().unwrap();
    assert_fails_with_one_line(&config, expected);
    let serve = serve_until_exit(dir.path(), Path::new("data"), &[]);
    assert_fails_with_one_line(&serve, expected);
    assert!(!dir.path().join("data").join("secret.key").exists());
    // `depot` alone, with the file named by DEPOT_CONFIG, reads it too.
    let elsewhere = tempfile::tempdir().unwrap();
    let named = depot(elsewhere.path())
        .env("DEPOT_CONFIG", dir.path().join("depot.toml"))
        .output()
        .unwrap();
    assert_fails_with_one_line(&named, expected);
}

#[test]
fn a_database_depot_does_not_speak_is_named_not_called_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(
        dir.path(),
        Path::new("data"),
        &[("DATABASE_URL", "mysql://depot:hunter2@127.0.0.1:3306/depot")],
    );
    assert_fails_with_one_line(&output, "`mysql` is not supported");
    let stderr = stderr_of(&output);
    assert!(
        !stderr.contains("unreachable") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// An object store that does not answer: one short line with the cause (not
/// each retry, nor the request repeated by every layer), and a new data dir
/// keeps no secret from a start that never happened.
#[test]
fn an_unreachable_object_store_fails_in_one_short_line_and_leaves_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(
        dir.path(),
        Path::new("data"),
        &[
            ("DEPOT_STORAGE", "s3://depot/blobs"),
            ("DEPOT_S3_ENDPOINT", "http://127.0.0.1:1"),
            ("DEPOT_S3_PATH_STYLE", "true"),
            ("AWS_ACCESS_KEY_ID", "depot"),
            ("AWS_SECRET_ACCESS_KEY", "depot-secret"),
        ],
    );
    assert_fails_with_one_line(&output, "S3 store s3://depot/blobs is unreachable");
    let stderr = stderr_of(&output);
    // The cause: refused at once, or (on a loaded machine, once the client's
    // retries outlast the store's deadline) not answering.
    assert!(
        stderr.contains("Connection refused") || stderr.contains("not answering"),
        "{stderr}"
    );
    assert!(stderr.len() < 200, "one short line: {stderr}");
    assert!(dir.path().join("data").exists(), "the data dir was checked");
    assert!(!dir.path().join("data").join("secret.key").exists());
}

/// A person who starts depot is told where to go and, on a new deployment,
/// that the first account becomes the admin.
#[tokio::test]
async fn the_server_says_where_to_open_it_and_who_becomes_admin() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &[]);
    let said = first.lines_within(std::time::Duration::from_secs(2)).join("\n");
    assert!(
        said.contains(&format!("open {} for the web UI", first.address)),
        "{said}"
    );
    assert!(said.contains("the first one made"), "{said}");
    first
        .register(&reqwest::Client::new(), "ann", "correct horse battery")
        .await;
    assert!(first.terminate());

    let again = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &[]);
    let said = again.lines_within(std::time::Duration::from_secs(2)).join("\n");
    assert!(
        said.contains("for the web UI") && !said.contains("no account yet"),
        "{said}"
    );
}

#[test]
fn a_bad_ipfs_node_url_is_refused_in_one_line_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let output = serve_until_exit(
        dir.path(),
        Path::new("data"),
        &[("DEPOT_IPFS_API", "ftp://depot:hunter2@node:5001")],
    );
    assert_fails_with_one_line(&output, "is not an http or https URL");
    let stderr = stderr_of(&output);
    assert!(stderr.contains("ftp://depot:***@node:5001"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!dir.path().join("data").join("secret.key").exists());
}
