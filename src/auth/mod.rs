//! Authentication: HS256 bearer tokens (`jwt`), link tokens ([`link`]), API
//! keys ([`api_key`]) with their S3 credentials ([`s3_keys`]) and argon2id passwords ([`password`]). Resolving a bearer
//! credential to an account is the pipeline's (`pipeline::credentials`); the
//! extractors that apply it to a request are the HTTP layer's (`http::caller`).

pub mod api_key;
mod derived;
mod error;
mod jwt;
pub mod link;
pub mod password;
pub mod s3_keys;

pub use error::AuthError;
pub use jwt::{Keys, TokenClaims};
