//! Loopback registries: the only ones spoken to over plain HTTP without `--insecure`.
//!
//! A module of its own (it depends on nothing in the crate), so that both [`crate::error`] (for
//! its hints) and [`crate::registry`] (for the transport) can ask without importing each other
//! or [`crate::reference`].

/// True when `registry` (host[:port]) is a loopback address, where plain HTTP is allowed.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.rsplit_once(':').map_or(registry, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry.example"));
        assert!(!is_loopback("10.0.0.1:5000"));
    }
}
