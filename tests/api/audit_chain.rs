//! The audit chain against someone who can write the database: keyed hashes
//! they cannot recompute, signed checkpoints that show a chain cut short or
//! rewritten, and chains from before the upgrade that still verify.

use std::borrow::Cow;
use std::process::Output;

use depot::db::audit::chain::event_hash;
use depot::db::audit::{ChainKey, GENESIS, KeyVersion, NewEvent};
use reqwest::StatusCode;
use sqlx::AnyPool;

use crate::helpers::{PostgresDatabase, TestApp, sample_bytes};
use crate::process::{ServerProcess, depot};

/// `depot audit ARGS` on the deployment at `data_dir` (and `database_url`).
fn audit(data_dir: &std::path::Path, database_url: Option<&str>, secret: &str, args: &[&str]) -> Output {
    let mut command = depot(data_dir);
    command.arg("audit").args(args).arg("--data-dir").arg(data_dir);
    if let Some(url) = database_url {
        command.env("DATABASE_URL", url);
    }
    command.env("SECRET_KEY", secret).output().unwrap()
}

/// `depot audit` on a test's deployment.
struct Trail<'a> {
    app: &'a TestApp,
    url: Option<String>,
    secret: String,
}

impl<'a> Trail<'a> {
    fn of(app: &'a TestApp) -> Self {
        Self {
            app,
            url: app
                .config
                .database_url
                .as_ref()
                .map(|url| url.expose().to_owned()),
            secret: app.secret(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        audit(self.app.data_dir(), self.url.as_deref(), &self.secret, args)
    }

    /// A checkpoint taken now, in a file; returns the file's path and its text.
    fn checkpoint(&self) -> (String, Vec<u8>) {
        let taken = self.run(&["checkpoint"]);
        assert!(taken.status.success(), "{}", stdout(&taken));
        let file = self.app.data_dir().join("checkpoint.json");
        std::fs::write(&file, &taken.stdout).unwrap();
        (file.to_str().unwrap().to_owned(), taken.stdout)
    }
}

fn stdout(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Rewrites events `from..` as someone without the key would: `bytes` of the
/// first changed, every hash recomputed the public (unkeyed) way, each link
/// and the head following.
async fn rewrite_without_the_key(pool: &AnyPool, from: i64) {
    let events: Vec<depot::db::audit::Event> = depot::db::audit::page(pool, &Default::default(), 0, 1000)
        .await
        .unwrap();
    let mut prev = GENESIS.to_owned();
    let nobody = ChainKey::derive(b"a key that is not the deployment's!!");
    for mut event in events {
        if event.id >= from {
            if event.id == from {
                event.content.bytes += 1;
            }
            let hash = event_hash(KeyVersion::Unkeyed, &nobody, event.id, &prev, &event.content);
            sqlx::query("UPDATE audit_events SET bytes = $1, prev_hash = $2, hash = $3, key_version = 0 WHERE id = $4")
                .bind(event.content.bytes)
                .bind(&prev)
                .bind(&hash)
                .bind(event.id)
                .execute(pool)
                .await
                .unwrap();
            event.hash = hash;
        }
        prev = event.hash;
    }
    sqlx::query("UPDATE audit_head SET last_hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(pool)
        .await
        .unwrap();
}

async fn drop_guards(app: &TestApp, pool: &AnyPool) {
    let on = match app.config.backend() {
        depot::config::Backend::Sqlite => "",
        depot::config::Backend::Postgres => " ON audit_events",
    };
    for trigger in ["audit_events_no_update", "audit_events_no_delete"] {
        sqlx::query(&format!("DROP TRIGGER {trigger}{on}"))
            .execute(pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_chain_rewritten_without_the_key_or_cut_short_is_caught() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for n in 0..4 {
        let name = format!("file-{n}.bin");
        assert_eq!(
            app.put_file(&ann, &name, sample_bytes(100 + n)).await.status(),
            StatusCode::CREATED
        );
    }
    let trail = Trail::of(&app);
    let run = |args: &[&str]| trail.run(args);
    let whole = run(&["verify"]);
    assert!(whole.status.success(), "{}", stdout(&whole));
    assert!(
        stdout(&whole).contains("5 events checked: the chain is whole (5 keyed"),
        "{}",
        stdout(&whole)
    );

    // A checkpoint, kept where the database's writer cannot reach.
    let (checkpoint, taken) = trail.checkpoint();
    let checkpoint = checkpoint.as_str();
    let held = run(&["verify", "--checkpoint", checkpoint]);
    assert!(held.status.success(), "{}", stdout(&held));

    // Someone who can write the database edits event 3 and recomputes every
    // hash after it, links and head included; without the key they are unkeyed.
    let db = app.db().await;
    drop_guards(&app, db.pool()).await;
    rewrite_without_the_key(db.pool(), 3).await;
    let rewritten = run(&["verify"]);
    assert!(!rewritten.status.success());
    assert!(
        stdout(&rewritten).contains("event 3 has an unkeyed hash, but every event from 1 on is keyed"),
        "{}",
        stdout(&rewritten)
    );
    // Moving where the keyed part starts passes the walk; the checkpoint does not.
    sqlx::query("UPDATE audit_head SET keyed_from = 1000 WHERE id = 1")
        .execute(db.pool())
        .await
        .unwrap();
    let downgraded = run(&["verify", "--checkpoint", checkpoint]);
    assert!(!downgraded.status.success());
    assert!(
        stdout(&downgraded).contains("cut short or rewritten"),
        "{}",
        stdout(&downgraded)
    );

    // A forged checkpoint is refused.
    let mut forged: serde_json::Value = serde_json::from_slice(&taken).unwrap();
    forged["last_id"] = serde_json::json!(2);
    std::fs::write(checkpoint, forged.to_string()).unwrap();
    let refused = run(&["verify", "--checkpoint", checkpoint]);
    assert!(!refused.status.success());
    assert!(
        stdout(&refused).contains("not signed with this deployment's audit key"),
        "{}",
        stdout(&refused)
    );
}

#[tokio::test]
async fn events_removed_from_the_end_with_the_head_moved_back_are_caught_by_a_checkpoint() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    for n in 0..3 {
        assert_eq!(
            app.put_file(&ann, &format!("f{n}"), sample_bytes(10))
                .await
                .status(),
            StatusCode::CREATED
        );
    }
    let trail = Trail::of(&app);
    let (checkpoint, _) = trail.checkpoint();

    let db = app.db().await;
    drop_guards(&app, db.pool()).await;
    sqlx::query("DELETE FROM audit_events WHERE id > 2")
        .execute(db.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_head SET last_id = 2, last_hash = (SELECT hash FROM audit_events WHERE id = 2) WHERE id = 1")
        .execute(db.pool())
        .await
        .unwrap();
    let walk = trail.run(&["verify"]);
    assert!(
        walk.status.success(),
        "a walk alone cannot see it: {}",
        stdout(&walk)
    );
    let checked = trail.run(&["verify", "--checkpoint", &checkpoint]);
    assert!(!checked.status.success());
    assert!(
        stdout(&checked).contains("the checkpoint's last event 4 is not in the chain as it was"),
        "{}",
        stdout(&checked)
    );
}

#[tokio::test]
async fn a_chain_written_before_it_was_keyed_still_verifies_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let postgres = PostgresDatabase::for_test().await;
    let url = match &postgres {
        Some(database) => database.url(),
        None => format!("sqlite://{}/depot.db?mode=rwc", dir.path().display()),
    };
    let secret = "upgrade-test-secret-upgrade-test-secret";

    // A deployment from before: the schema up to 0010, and three events
    // hashed as that version did (unkeyed).
    sqlx::any::install_default_drivers();
    let pool = AnyPool::connect(&url).await.unwrap();
    let mut migrator = match postgres {
        Some(_) => sqlx::migrate!("migrations/postgres"),
        None => sqlx::migrate!("migrations/sqlite"),
    };
    migrator.migrations = Cow::Owned(
        migrator
            .migrations
            .iter()
            .filter(|migration| migration.version <= 10)
            .cloned()
            .collect(),
    );
    migrator.run(&pool).await.unwrap();
    let unused = ChainKey::derive(b"unkeyed hashes do not use a key!!");
    let mut prev = GENESIS.to_owned();
    for id in 1..=3 {
        let event = NewEvent {
            at: id * 1_000_000,
            action: "login".into(),
            file_name: "ann".into(),
            outcome: 200,
            server_role: "standalone".into(),
            ..NewEvent::default()
        };
        let hash = event_hash(KeyVersion::Unkeyed, &unused, id, &prev, &event);
        sqlx::query(
            "INSERT INTO audit_events (id, at, session_id, action, file_name, outcome, server_role, prev_hash, hash) \
             VALUES ($1, $2, '', $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(event.at)
        .bind(&event.action)
        .bind(&event.file_name)
        .bind(event.outcome)
        .bind(&event.server_role)
        .bind(&prev)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
        prev = hash;
    }
    sqlx::query("UPDATE audit_head SET last_id = 3, last_hash = $1 WHERE id = 1")
        .bind(&prev)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // This version migrates it, and keys what comes next.
    let mut env = vec![("SECRET_KEY", secret.to_owned())];
    if postgres.is_some() {
        env.push(("DATABASE_URL", url.clone()));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
    let server = ServerProcess::serve(dir.path(), &["--addr", "127.0.0.1:0"], &env);
    let client = reqwest::Client::new();
    let token = server.register(&client, "ann", "correct horse battery").await;
    let stored = client
        .put(format!("{}/api/v1/files/after.csv/content", server.address))
        .bearer_auth(&token)
        .body("a\n1\n")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::CREATED);
    server.stop();

    let database_url = postgres.as_ref().map(|_| url.as_str());
    let verified = audit(dir.path(), database_url, secret, &["verify"]);
    assert!(verified.status.success(), "{}", stdout(&verified));
    assert!(
        stdout(&verified)
            .contains("5 events checked: the chain is whole (2 keyed, 3 from before the chain was keyed)"),
        "{}",
        stdout(&verified)
    );
}

#[tokio::test]
async fn a_chain_keyed_with_depot_audit_key_verifies_with_that_key_alone() {
    let key = "an-audit-key-kept-apart-from-the-secret";
    let app = TestApp::spawn_with(|config| config.audit_key = Some(depot::config::Secret::new(key))).await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "a.bin", sample_bytes(10)).await.status(),
        StatusCode::CREATED
    );
    let verify = |audit_key: &str| {
        let mut command = depot(app.data_dir());
        command
            .args(["audit", "verify", "--data-dir"])
            .arg(app.data_dir());
        if let Some(url) = &app.config.database_url {
            command.env("DATABASE_URL", url.expose());
        }
        command.env("DEPOT_AUDIT_KEY", audit_key).output().unwrap()
    };
    let right = verify(key);
    assert!(right.status.success(), "{}", stdout(&right));
    let wrong = verify("another-audit-key-of-thirty-two-bytes!!");
    assert!(!wrong.status.success());
    assert!(
        stdout(&wrong).contains("event 1 was altered"),
        "{}",
        stdout(&wrong)
    );
}

#[tokio::test]
async fn a_refusals_reason_is_part_of_its_event_and_its_hash() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann").await;
    assert_eq!(
        app.put_file(&ann, "a.bin", "first").await.status(),
        StatusCode::CREATED
    );
    let taken = app.put_file(&ann, "a.bin", "again").await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);

    let events = app.get_json(&ann, "/api/v1/admin/audit?outcome=409").await;
    let refusal = &events["events"][0];
    assert_eq!(refusal["action"], "upload");
    assert_eq!(refusal["reason"], "file_exists", "{events}");
    let stored = app.get_json(&ann, "/api/v1/admin/audit?outcome=201").await;
    assert_eq!(stored["events"][0]["reason"], "", "what succeeded has no reason");
    let trail = Trail::of(&app);
    let whole = trail.run(&["verify"]);
    assert!(whole.status.success(), "{}", stdout(&whole));

    // The reason is hashed: changing it, or removing it, breaks the chain.
    let db = app.db().await;
    drop_guards(&app, db.pool()).await;
    let id = refusal["id"].as_i64().unwrap();
    for reason in ["payload_too_large", ""] {
        sqlx::query("UPDATE audit_events SET reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(db.pool())
            .await
            .unwrap();
        let altered = trail.run(&["verify"]);
        assert!(!altered.status.success(), "{}", stdout(&altered));
        assert!(
            stdout(&altered).contains(&format!("event {id}")),
            "{}",
            stdout(&altered)
        );
    }
}
