//! Proving which release serves: wasm-status on the running server (release id, configuration
//! generation, every module loaded) and a probe of every route (or each `health` path).

use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::BaseUrl;

/// Where every release's `wasm.conf` puts a loopback-only `wasm-status` (see `relocate.rs`).
pub const STATUS_PATH: &str = "/.well-known/mod-wasm/status";

/// What wasm-status says about the running configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Serving {
    /// Apache's configuration generation.
    pub generation: i64,
    /// `WasmRelease` of the running configuration.
    pub release: Option<String>,
    /// SHA-256 of every loaded module.
    pub modules: Vec<String>,
}

/// Reads wasm-status (`?json`) from `url`.
pub fn serving(url: &BaseUrl) -> Result<Serving, String> {
    let r = url
        .get(&format!("{STATUS_PATH}?json"), Duration::from_secs(10))
        .map_err(|e| format!("wasm-status does not answer: {e}"))?;
    if r.status != 200 {
        return Err(format!("wasm-status answered {}", r.status));
    }
    let doc: Value = serde_json::from_slice(&r.body)
        .map_err(|e| format!("wasm-status sent something that is not JSON: {e}"))?;
    Ok(Serving {
        generation: doc["generation"].as_i64().unwrap_or(-1),
        release: doc["release"].as_str().map(str::to_string),
        modules: doc["modules"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter_map(|m| m["sha256"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Waits until the server reports `release` with every module of `modules` loaded, at a
/// generation above `after`; returns what it reported last.
pub fn wait_for_release(
    url: &BaseUrl,
    release: &str,
    modules: &[String],
    after: Option<i64>,
    deadline: Instant,
) -> Result<Serving, String> {
    let mut last = Err("never asked".to_string());
    while Instant::now() < deadline {
        last = serving(url);
        if let Ok(s) = &last {
            let advanced = after.is_none_or(|g| s.generation > g);
            let all_loaded = modules.iter().all(|m| s.modules.contains(m));
            if advanced && s.release.as_deref() == Some(release) && all_loaded {
                return last;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(match last {
        Ok(s) => {
            let missing: Vec<&String> = modules.iter().filter(|m| !s.modules.contains(m)).collect();
            format!(
                "the server still reports release {} at generation {} (wanted {release}{}){}",
                s.release.as_deref().unwrap_or("(none)"),
                s.generation,
                after.map_or(String::new(), |g| format!(" after generation {g}")),
                if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; modules not loaded: {}",
                        missing
                            .iter()
                            .map(|m| &m[..12.min(m.len())])
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )
        }
        Err(e) => e,
    })
}

/// One probe's failure: the path, what it answered, and why that is a failure.
#[derive(Clone, Debug)]
pub struct ProbeFailure {
    /// The path probed.
    pub path: String,
    /// The status it answered (None: no answer).
    pub status: Option<u16>,
    /// What was expected.
    pub expected: &'static str,
}

impl std::fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "{} answered {s} (expected {})", self.path, self.expected),
            None => write!(
                f,
                "{} did not answer (expected {})",
                self.path, self.expected
            ),
        }
    }
}

/// Probes each path: a `health` path must answer 2xx, a route anything but 5xx. A path that does
/// not answer at all is asked again until `deadline`; returns every failure.
pub fn probe(
    url: &BaseUrl,
    routes: &[String],
    health: &[String],
    deadline: Instant,
) -> Vec<ProbeFailure> {
    let checks: Vec<(&String, bool)> = if health.is_empty() {
        routes.iter().map(|r| (r, false)).collect()
    } else {
        health.iter().map(|h| (h, true)).collect()
    };
    let mut failures = Vec::new();
    for (path, strict) in checks {
        let expected = if strict { "2xx" } else { "not 5xx" };
        loop {
            let status = url
                .get(path, Duration::from_secs(30))
                .ok()
                .map(|r| r.status);
            let ok = match status {
                Some(s) if strict => (200..300).contains(&s),
                Some(s) => s < 500,
                None => false,
            };
            if ok {
                break;
            }
            // An answer is the verdict; only a server not answering yet is asked again.
            if status.is_some() || Instant::now() >= deadline {
                failures.push(ProbeFailure {
                    path: path.clone(),
                    status,
                    expected,
                });
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    failures
}
