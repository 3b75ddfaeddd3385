//! Outgoing HTTP a route allows (`WasmAllowOutbound host[:port] …`): the grammar of one entry and
//! the check a component's `wasi:http/outgoing-handler` request must pass. Default: none allowed.

use std::fmt;

/// One allowed destination: a host name or IP literal, and a port (`None`: ports 80 and 443).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    host: String,
    port: Option<u16>,
}

impl Destination {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port` (no scheme, no path, no wildcard).
    pub fn parse(text: &str) -> Result<Destination, String> {
        let refuse = |why: &str| Err(format!("`{text}` is not a host[:port] to allow: {why}"));
        if text.is_empty() {
            return refuse("empty");
        }
        if text.contains("://") || text.contains('/') {
            return refuse("give the host and port only, without a scheme or path");
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((v6, after)) = rest.split_once(']') else {
                return refuse("unclosed `[`");
            };
            if v6.parse::<std::net::Ipv6Addr>().is_err() {
                return refuse("not an IPv6 address inside `[ ]`");
            }
            match after {
                "" => (format!("[{}]", v6.to_ascii_lowercase()), None),
                _ => match after.strip_prefix(':') {
                    Some(p) => (format!("[{}]", v6.to_ascii_lowercase()), Some(p)),
                    None => return refuse("unexpected text after `]`"),
                },
            }
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) => (h.to_ascii_lowercase(), Some(p)),
                None => (text.to_ascii_lowercase(), None),
            }
        };
        let valid_host = !host.is_empty()
            && (host.starts_with('[')
                || host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }));
        if !valid_host {
            return refuse("not a host name or IP address");
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => Some(n),
                _ => return refuse("the port must be a number from 1 to 65535"),
            },
        };
        Ok(Destination { host, port })
    }

    /// Whether a request to `host` on `port` (as the guest's URL gives them) is this destination.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.');
        let host_matches = if self.host.starts_with('[') {
            host.eq_ignore_ascii_case(&self.host)
                || format!("[{host}]").eq_ignore_ascii_case(&self.host)
        } else {
            host.eq_ignore_ascii_case(&self.host)
        };
        host_matches
            && match self.port {
                Some(p) => p == port,
                None => port == 80 || port == 443,
            }
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// What one route allows: every destination it names (none by default).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allowed: Vec<Destination>,
}

impl OutboundPolicy {
    /// The policy of `entries` (each `host[:port]`).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<OutboundPolicy, String> {
        let allowed = entries
            .into_iter()
            .map(Destination::parse)
            .collect::<Result<_, _>>()?;
        Ok(OutboundPolicy { allowed })
    }

    /// Whether a request to `host:port` may go out.
    pub fn allows(&self, host: &str, port: u16) -> bool {
        self.allowed.iter().any(|d| d.allows(host, port))
    }

    /// Whether nothing is allowed.
    pub fn is_empty(&self) -> bool {
        self.allowed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_ports_and_ip_literals() {
        assert_eq!(
            Destination::parse("API.example.com").unwrap().to_string(),
            "api.example.com"
        );
        assert_eq!(
            Destination::parse("127.0.0.1:8080").unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            Destination::parse("[::1]:81").unwrap().to_string(),
            "[::1]:81"
        );
        for bad in [
            "",
            "http://x",
            "x/y",
            "x:0",
            "x:70000",
            "x:",
            "*.example.com",
            "[zz]",
            "a..b",
        ] {
            assert!(Destination::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn matches_host_and_port() {
        let p = OutboundPolicy::parse(["api.example.com", "127.0.0.1:8080", "[::1]:81"]).unwrap();
        assert!(p.allows("API.example.com", 443));
        assert!(p.allows("api.example.com", 80));
        assert!(!p.allows("api.example.com", 8443));
        assert!(!p.allows("api.example.com.evil", 443));
        assert!(p.allows("127.0.0.1", 8080));
        assert!(!p.allows("127.0.0.1", 8081));
        assert!(p.allows("[::1]", 81));
        assert!(!OutboundPolicy::default().allows("127.0.0.1", 80));
    }
}
