//! A client of an IPFS node's RPC API (kubo's `/api/v0/…`, also served by
//! js-ipfs): what publishing needs — import a CAR and pin its root, unpin,
//! list the recursive pins.
//!
//! Every call has a deadline: a node asked for content it does not have
//! looks for it on the network and may never answer.

use std::collections::HashSet;
use std::time::Duration;

use ipld_core::cid::Cid;
use serde::Deserialize;

/// How long a call other than an import may take.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How long an import may take: its body is the whole content's CAR.
const IMPORT_DEADLINE: Duration = Duration::from_secs(3600);
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct IpfsNode {
    /// The RPC API's base URL, without a trailing slash.
    base: String,
    /// The same with any password replaced by `***`: what logs and errors show.
    shown: String,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the IPFS node at {base} did not answer: {source}")]
    Unreachable { base: String, source: reqwest::Error },
    #[error("the IPFS node refused {call}: {message}")]
    Refused { call: &'static str, message: String },
    #[error("the IPFS node's answer to {call} is not understood: {message}")]
    Unexpected { call: &'static str, message: String },
}

/// An error the RPC API answers with.
#[derive(Debug, Deserialize)]
struct RpcError {
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Debug, Deserialize)]
struct ImportLine {
    #[serde(rename = "Root")]
    root: Option<ImportedRoot>,
}

#[derive(Debug, Deserialize)]
struct ImportedRoot {
    #[serde(rename = "Cid")]
    cid: CidLink,
    #[serde(rename = "PinErrorMsg", default)]
    pin_error: String,
}

#[derive(Debug, Deserialize)]
struct CidLink {
    #[serde(rename = "/")]
    text: String,
}

#[derive(Debug, Deserialize)]
struct PinList {
    #[serde(rename = "Keys", default)]
    keys: serde_json::Map<String, serde_json::Value>,
}

impl IpfsNode {
    /// A client of the RPC API at `url` (e.g. `http://127.0.0.1:5001`).
    pub fn new(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url.trim()).map_err(|err| format!("ipfs_api {url:?}: {err}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(format!("ipfs_api {url:?} is not an http or https URL"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_DEADLINE)
            .build()
            .map_err(|err| format!("ipfs_api: {err}"))?;
        let mut redacted = parsed.clone();
        if redacted.password().is_some() {
            let _ = redacted.set_password(Some("***"));
        }
        Ok(Self {
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            shown: redacted.as_str().trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// The node's URL as logs may show it (without a password).
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Imports a CARv1 and pins its roots (`dag/import?pin-roots=true`);
    /// returns the root the node pinned.
    pub async fn import_car(&self, car: reqwest::Body) -> Result<Cid, NodeError> {
        const CALL: &str = "dag/import";
        let part = reqwest::multipart::Part::stream(car)
            .file_name("depot.car")
            .mime_str("application/vnd.ipld.car")
            .map_err(|err| NodeError::Unexpected {
                call: CALL,
                message: err.to_string(),
            })?;
        let form = reqwest::multipart::Form::new().part("file", part);
        let request = self
            .http
            .post(format!("{}/api/v0/dag/import?pin-roots=true", self.base))
            .multipart(form)
            .timeout(IMPORT_DEADLINE);
        let body = self.call(CALL, request).await?;
        for line in body.lines().filter(|line| !line.trim().is_empty()) {
            let parsed: ImportLine = serde_json::from_str(line).map_err(|err| NodeError::Unexpected {
                call: CALL,
                message: format!("{err}: {line}"),
            })?;
            if let Some(root) = parsed.root {
                if !root.pin_error.is_empty() {
                    return Err(NodeError::Refused {
                        call: CALL,
                        message: format!("pinning {}: {}", root.cid.text, root.pin_error),
                    });
                }
                return normalized(CALL, &root.cid.text);
            }
        }
        Err(NodeError::Unexpected {
            call: CALL,
            message: "no root in the answer".into(),
        })
    }

    /// Unpins `cid` (recursively); a CID that is not pinned is no error.
    pub async fn unpin(&self, cid: &Cid) -> Result<(), NodeError> {
        let request = self
            .http
            .post(format!("{}/api/v0/pin/rm?arg={cid}&recursive=true", self.base))
            .timeout(CALL_DEADLINE);
        match self.call("pin/rm", request).await {
            Ok(_) => Ok(()),
            Err(NodeError::Refused { message, .. }) if message.contains("not pinned") => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Every CID the node pins recursively, as CIDv1.
    pub async fn recursive_pins(&self) -> Result<HashSet<Cid>, NodeError> {
        const CALL: &str = "pin/ls";
        let request = self
            .http
            .post(format!("{}/api/v0/pin/ls?type=recursive", self.base))
            .timeout(CALL_DEADLINE);
        let body = self.call(CALL, request).await?;
        let list: PinList = serde_json::from_str(&body).map_err(|err| NodeError::Unexpected {
            call: CALL,
            message: err.to_string(),
        })?;
        list.keys.keys().map(|text| normalized(CALL, text)).collect()
    }

    async fn call(&self, call: &'static str, request: reqwest::RequestBuilder) -> Result<String, NodeError> {
        let unreachable = |source: reqwest::Error| NodeError::Unreachable {
            base: self.shown.clone(),
            source: source.without_url(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let body = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(body);
        }
        let message = serde_json::from_str::<RpcError>(&body)
            .map(|error| error.message)
            .unwrap_or_else(|_| format!("{status}: {}", body.chars().take(200).collect::<String>()));
        Err(NodeError::Refused { call, message })
    }
}

/// A CID the node named, in any base or version, as depot names it (CIDv1).
fn normalized(call: &'static str, text: &str) -> Result<Cid, NodeError> {
    Cid::try_from(text)
        .and_then(Cid::into_v1)
        .map_err(|err| NodeError::Unexpected {
            call,
            message: format!("{text:?} is not a CID: {err}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_url_must_be_http() {
        assert!(IpfsNode::new("http://127.0.0.1:5001/").is_ok());
        assert_eq!(
            IpfsNode::new("http://127.0.0.1:5001/").unwrap().url(),
            "http://127.0.0.1:5001"
        );
        assert!(IpfsNode::new("/ip4/127.0.0.1/tcp/5001").is_err());
        assert!(IpfsNode::new("ftp://node").is_err());
        let behind_a_proxy = IpfsNode::new("https://depot:s3cret@ipfs.internal/").unwrap();
        assert_eq!(behind_a_proxy.url(), "https://depot:***@ipfs.internal");
    }

    #[test]
    fn cids_in_base58_come_back_as_depot_names_them() {
        let cid = normalized("pin/ls", "zdj7WWhsbmWHR9HgPwu9hjKKp9z7ZsyrCoh1SEuaxyPzgGy1g").unwrap();
        assert!(cid.to_string().starts_with("bafy"));
    }
}
