//! Authentication: HS256 bearer tokens and download links (`jwt`) and
//! argon2id passwords ([`password`]). The extractors that apply them to a
//! request are the HTTP layer's (`http::caller`).

mod error;
mod jwt;
pub mod password;

pub use error::AuthError;
pub use jwt::Keys;
