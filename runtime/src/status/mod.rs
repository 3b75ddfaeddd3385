//! `wasm-status`: what is loaded and how every route is doing, across every Apache process.
//!
//! [`counters`] holds the shared, lock-free counts; [`render`] turns a snapshot into JSON, the
//! Prometheus text format or HTML. This file keeps what the parent sets at each (re)start — the
//! release id (`WasmRelease`) and the start time. (`request::Outcome::counted_as` maps a run's
//! result to a counted [`Outcome`]: this module does not depend on the request runner.)

pub mod counters;
pub mod render;

use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use counters::{Counters, Outcome, RouteInfo, Routes};
pub use render::{ModuleInfo, Snapshot};

use crate::runtime::{LoadOrigin, Runtime};

/// The formats `wasm-status` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// HTML for people.
    Html,
    /// JSON for tools.
    Json,
    /// Prometheus text format 0.0.4.
    Prometheus,
}

struct Generation {
    release: Option<String>,
    started: String,
}

fn generation() -> &'static Mutex<Generation> {
    static GENERATION: OnceLock<Mutex<Generation>> = OnceLock::new();
    GENERATION.get_or_init(|| {
        Mutex::new(Generation {
            release: None,
            started: rfc3339(SystemTime::now()),
        })
    })
}

/// A (re)start of the server: maps the shared counters (in the parent, before it forks), marks
/// every route inactive until configured again, and records the release and the time.
pub fn begin_cycle(release: Option<&str>) {
    let _ = Counters::get();
    Routes::get().begin_cycle();
    let mut g = generation().lock().unwrap_or_else(|p| p.into_inner());
    g.release = release.filter(|r| !r.is_empty()).map(str::to_string);
    g.started = rfc3339(SystemTime::now());
}

/// Renders the status of `runtime` (None: no module configured) in `format`.
pub fn render(runtime: Option<&Runtime>, format: Format, config_generation: i64) -> String {
    let modules: Vec<ModuleInfo> = runtime
        .map(|rt| rt.loaded_modules())
        .unwrap_or_default()
        .iter()
        .map(|m| ModuleInfo {
            path: m.path.clone(),
            sha256: m.digest.clone(),
            kind: m.code.kind().name(),
            precompiled: m.origin != LoadOrigin::Compiled,
        })
        .collect();
    let routes = Routes::get().active();
    let g = generation().lock().unwrap_or_else(|p| p.into_inner());
    let snapshot = Snapshot {
        generation: config_generation,
        release: g.release.as_deref(),
        started: &g.started,
        modules: &modules,
        routes: &routes,
        counters: Counters::get(),
    };
    match format {
        Format::Html => snapshot.html(),
        Format::Json => snapshot.json(),
        Format::Prometheus => snapshot.prometheus(),
    }
}

/// `2026-11-28T05:17:15Z`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_842_000);
        assert_eq!(rfc3339(t), "2026-11-28T05:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
