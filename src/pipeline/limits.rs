//! Rate limits: token buckets per user (or API key) for requests and
//! uploads, per client address for sign-ins and for requests without a
//! valid credential, and per username and address for failed sign-ins —
//! shared by a deployment's nodes through Redis when it has one
//! ([`Buckets`]). A client's address comes from `X-Forwarded-For` only
//! when the peer is a trusted proxy ([`Limits::client_address`]).

use std::net::IpAddr;

use crate::cache::buckets::{Buckets, Decision};
use crate::config::{Rate, TrustedProxies};

/// What a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Sign-ins and sign-ups, per client address.
    Login,
    /// Failed sign-ins, per username and client address.
    LoginFailures,
    /// Upload requests, per user or key.
    Uploads,
    /// Any other request with a valid credential, per user or key.
    Requests,
    /// Requests without a valid credential, per client address.
    Anonymous,
}

impl Limit {
    /// Its name in metrics, buckets and the `RateLimit` headers.
    pub fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginFailures => "login_failures",
            Self::Uploads => "uploads",
            Self::Requests => "requests",
            Self::Anonymous => "anonymous",
        }
    }
}

/// The rate of each limit (`Rate::OFF` for none).
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub login: Rate,
    pub login_failures: Rate,
    pub uploads: Rate,
    pub requests: Rate,
    pub anonymous: Rate,
}

impl Rates {
    pub fn of(self, limit: Limit) -> Rate {
        match limit {
            Limit::Login => self.login,
            Limit::LoginFailures => self.login_failures,
            Limit::Uploads => self.uploads,
            Limit::Requests => self.requests,
            Limit::Anonymous => self.anonymous,
        }
    }
}

/// How a bucket of a limit stands after a request: what the `RateLimit`
/// headers tell, and — if it was refused — when to come back.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub limit: Limit,
    pub rate: Rate,
    pub decision: Decision,
}

/// The rate limits of this node.
#[derive(Debug)]
pub struct Limits {
    rates: Rates,
    buckets: Buckets,
    trusted: TrustedProxies,
}

impl Limits {
    pub fn new(rates: Rates, buckets: Buckets, trusted: TrustedProxies) -> Self {
        Self {
            rates,
            buckets,
            trusted,
        }
    }

    /// Counts a request of `who` against `limit`; `None` when the limit is off.
    pub async fn take(&self, limit: Limit, who: &str) -> Option<Standing> {
        let rate = self.rates.of(limit);
        if rate.is_off() {
            return None;
        }
        let decision = self.buckets.take(&bucket(limit, who), rate).await;
        Some(Standing {
            limit,
            rate,
            decision,
        })
    }

    /// Whether `username` may try to sign in from `address`: refused, without
    /// the password being checked, once the pair's failures used up their
    /// bucket.
    pub async fn sign_in_allowed(&self, username: &str, address: IpAddr) -> Option<Standing> {
        let rate = self.rates.login_failures;
        if rate.is_off() {
            return None;
        }
        let decision = self.buckets.peek(&failures(username, address), rate).await;
        (!decision.allowed).then_some(Standing {
            limit: Limit::LoginFailures,
            rate,
            decision,
        })
    }

    /// Counts a failed sign-in of `username` from `address`.
    pub async fn sign_in_failed(&self, username: &str, address: IpAddr) {
        let rate = self.rates.login_failures;
        if !rate.is_off() {
            self.buckets.take(&failures(username, address), rate).await;
        }
    }

    /// Forgets the failed sign-ins of `username` from `address`: they signed in.
    pub async fn sign_in_succeeded(&self, username: &str, address: IpAddr) {
        if !self.rates.login_failures.is_off() {
            self.buckets.clear(&failures(username, address)).await;
        }
    }

    /// The client a request comes from: the peer, or — when the peer is a
    /// trusted proxy — the nearest address in `X-Forwarded-For` that is not
    /// one (the rightmost entries were added by the proxies closest to depot;
    /// what a client wrote itself is further left and never believed over a
    /// proxy's entry).
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        let Some(forwarded_for) = forwarded_for.filter(|_| self.trusted.contains(peer)) else {
            return peer;
        };
        let mut client = peer;
        for entry in forwarded_for.rsplit(',') {
            match forwarded_address(entry) {
                Some(address) => {
                    client = address;
                    if !self.trusted.contains(address) {
                        break;
                    }
                }
                // What cannot be read is not believed: the last proxy's word stands.
                None => break,
            }
        }
        client
    }

    /// [`client_address`](Self::client_address) with every `X-Forwarded-For`
    /// line a request carries: proxies may each add a line of their own, and
    /// they read as one list.
    pub fn client_behind<'a>(
        &self,
        peer: IpAddr,
        forwarded_lines: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let lines: Vec<&str> = forwarded_lines.into_iter().collect();
        let forwarded = (!lines.is_empty()).then(|| lines.join(","));
        self.client_address(peer, forwarded.as_deref())
    }
}

fn bucket(limit: Limit, who: &str) -> String {
    format!("{}:{who}", limit.name())
}

fn failures(username: &str, address: IpAddr) -> String {
    bucket(Limit::LoginFailures, &format!("{address}:{username}"))
}

/// An `X-Forwarded-For` entry's address: `203.0.113.7`, `2001:db8::1`,
/// `203.0.113.7:4711` or `[2001:db8::1]:4711`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(address) = entry.parse() {
        return Some(address);
    }
    entry
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|socket| socket.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> Limits {
        let networks = trusted.iter().map(|net| net.parse().unwrap()).collect();
        let rates = Rates {
            login: Rate::OFF,
            login_failures: Rate::OFF,
            uploads: Rate::OFF,
            requests: Rate::OFF,
            anonymous: Rate::OFF,
        };
        Limits::new(rates, Buckets::in_process(), TrustedProxies::new(networks))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let limits = limits(&["10.0.0.0/8"]);
        let proxy = ip("10.0.0.5");
        // A client behind the proxy.
        assert_eq!(
            limits.client_address(proxy, Some("203.0.113.7")),
            ip("203.0.113.7")
        );
        // Anyone else's header is ignored.
        assert_eq!(
            limits.client_address(ip("198.51.100.1"), Some("203.0.113.7")),
            ip("198.51.100.1")
        );
        // A client that forges an entry only pushes it further left.
        assert_eq!(
            limits.client_address(proxy, Some("192.0.2.1, 203.0.113.7")),
            ip("203.0.113.7")
        );
        // Each proxy's own header line: read as one list, the last line last.
        assert_eq!(
            limits.client_behind(proxy, ["[2001:db8::1]:4711", "10.1.2.3"]),
            ip("2001:db8::1")
        );
        assert_eq!(limits.client_behind(proxy, []), proxy);
        // Through two trusted proxies; ports and brackets as proxies write them.
        assert_eq!(
            limits.client_address(proxy, Some("[2001:db8::1]:4711, 10.1.2.3")),
            ip("2001:db8::1")
        );
        assert_eq!(
            limits.client_address(proxy, Some("203.0.113.7:80")),
            ip("203.0.113.7")
        );
        // Nonsense is not believed: the proxy is the client.
        assert_eq!(limits.client_address(proxy, Some("evil")), proxy);
        assert_eq!(limits.client_address(proxy, None), proxy);
    }
}
