//! `depot user add NAME [--admin]`: an account made from the command line,
//! its password read from stdin's first line.

use crate::auth::password;
use crate::config::Config;
use crate::db::is_unique_violation;
use crate::db::{Db, users};
use crate::startup;

pub async fn add(config: Config, username: &str, admin: bool) -> anyhow::Result<()> {
    let password = super::password_from_stdin()?;
    password::check_new_account(username, &password)?;
    startup::prepare_data_dir_and_secret(&config)?;
    let db = Db::connect(&config).await?;
    let hash = password::hash(password).await?;
    let (id, is_admin) = users::create(db.pool(), username, &hash, admin)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                anyhow::anyhow!("username {username:?} is taken")
            } else {
                err.into()
            }
        })?;
    let role = if is_admin { "an admin" } else { "a user" };
    println!("created {username} (id {id}), {role}");
    Ok(())
}
