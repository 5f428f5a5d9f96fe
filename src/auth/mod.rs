//! Authentication: HS256 bearer tokens (`jwt`), link tokens ([`link`]), API
//! keys ([`api_key`]) and argon2id passwords ([`password`]). Resolving a bearer
//! credential to an account is the pipeline's (`pipeline::credentials`); the
//! extractors that apply it to a request are the HTTP layer's (`http::caller`).

pub mod api_key;
mod error;
mod jwt;
pub mod link;
pub mod password;

pub use error::AuthError;
pub use jwt::{Keys, TokenClaims};
