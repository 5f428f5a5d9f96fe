//! What makes a 2xx durable on the embedded default.

use depot::config::{Backend, Config};

#[tokio::test]
async fn the_embedded_database_runs_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_owned(),
        ..Config::default()
    };
    assert_eq!(config.backend(), Backend::Sqlite);
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let db = depot::db::Db::connect(&config).await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    assert_eq!(synchronous, 2, "synchronous = FULL");
}
