//! depot's API test suite: the real server on port 0, a fresh data dir and database
//! per test, driven over HTTP. Runs on SQLite by default and on PostgreSQL when
//! `DEPOT_TEST_DATABASE_URL` is set (CI runs both).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod cli;
mod download;
mod durability;
mod helpers;
mod listing;
mod ops;
mod upload;
