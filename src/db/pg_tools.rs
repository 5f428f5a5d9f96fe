//! PostgreSQL's own programs (`pg_dump`, `pg_restore`), run for a backup and
//! a restore: the database's tools own its dump format.

use anyhow::Context;

use crate::config::ServiceUrl;

/// `program` pointed at the database `url`; its password goes through
/// `PGPASSWORD`, not the command line others can read.
pub fn command(program: &str, url: &ServiceUrl) -> anyhow::Result<tokio::process::Command> {
    let mut url =
        url::Url::parse(url.expose()).with_context(|| format!("invalid DATABASE_URL {}", url.redacted()))?;
    let password = url.password().map(str::to_owned);
    let _ = url.set_password(None);
    let mut command = tokio::process::Command::new(program);
    command.arg("--dbname").arg(url.as_str()).kill_on_drop(true);
    if let Some(password) = password {
        let decoded = percent_encoding::percent_decode_str(&password).decode_utf8_lossy();
        command.env("PGPASSWORD", decoded.as_ref());
    }
    Ok(command)
}

/// Whether a run of `program` succeeded; its error output says why not.
pub fn succeeded(program: &str, output: std::io::Result<std::process::Output>) -> anyhow::Result<()> {
    let output = output.with_context(|| {
        format!(
            "cannot run {program}: PostgreSQL's client programs must be installed (Debian: postgresql-client)"
        )
    })?;
    anyhow::ensure!(
        output.status.success(),
        "{program} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}
