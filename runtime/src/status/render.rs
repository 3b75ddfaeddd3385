//! The three faces of `wasm-status`: JSON for tools (and `mod-wasm deploy`), the Prometheus text
//! format for scrapers, and an HTML page for people (no external assets).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::counters::{BUCKETS, Counters, Outcome, RouteInfo, Slot, outcome_index};

/// One loaded module as the status shows it.
#[derive(Clone, Debug)]
pub struct ModuleInfo {
    /// The file it was loaded from.
    pub path: String,
    /// SHA-256 of its `.wasm`.
    pub sha256: String,
    /// `module` (core module) or `component`.
    pub kind: &'static str,
    /// Loaded from a `.cwasm` (or the compiled-code cache) rather than compiled at start-up.
    pub precompiled: bool,
}

/// Everything a status page shows.
pub struct Snapshot<'a> {
    /// Apache's configuration generation.
    pub generation: i64,
    /// `WasmRelease`, if set.
    pub release: Option<&'a str>,
    /// RFC 3339 time of the parent's last (re)start.
    pub started: &'a str,
    /// Loaded modules.
    pub modules: &'a [ModuleInfo],
    /// Routes of this configuration.
    pub routes: &'a [RouteInfo],
    /// The shared counters (absent if shared memory could not be mapped).
    pub counters: Option<&'a Counters>,
}

/// Counter names in JSON and the outcome each counts.
const OUTCOME_FIELDS: [(&str, Outcome); 9] = [
    ("traps", Outcome::Trap),
    ("timeouts", Outcome::Timeout),
    ("exits", Outcome::Exit),
    ("output_limit", Outcome::OutputLimit),
    ("memory_limit", Outcome::MemoryLimit),
    ("bad_headers", Outcome::BadHeaders),
    ("client_gone", Outcome::ClientGone),
    ("busy", Outcome::Busy),
    ("open_files_limit", Outcome::OpenFilesLimit),
];

/// Prometheus counters per outcome: (metric, outcome, help).
const OUTCOME_METRICS: [(&str, Outcome, &str); 9] = [
    (
        "mod_wasm_traps_total",
        Outcome::Trap,
        "Requests whose module trapped.",
    ),
    (
        "mod_wasm_timeouts_total",
        Outcome::Timeout,
        "Requests stopped at WasmTimeout.",
    ),
    (
        "mod_wasm_exits_total",
        Outcome::Exit,
        "Requests whose module exited non-zero.",
    ),
    (
        "mod_wasm_output_limit_total",
        Outcome::OutputLimit,
        "Requests stopped at WasmOutputLimit.",
    ),
    (
        "mod_wasm_memory_limit_total",
        Outcome::MemoryLimit,
        "Requests in which WasmMemoryLimit refused a memory growth.",
    ),
    (
        "mod_wasm_bad_headers_total",
        Outcome::BadHeaders,
        "Requests whose CGI headers were refused.",
    ),
    (
        "mod_wasm_client_gone_total",
        Outcome::ClientGone,
        "Requests whose client went away.",
    ),
    (
        "mod_wasm_busy_total",
        Outcome::Busy,
        "Requests answered 503: no instance slot free.",
    ),
    (
        "mod_wasm_open_files_limit_total",
        Outcome::OpenFilesLimit,
        "Requests in which WasmMaxOpenFiles refused an open (EMFILE).",
    ),
];

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

fn load(a: &std::sync::atomic::AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn outcome_count(slot: Option<&Slot>, outcome: Outcome) -> u64 {
    match (slot, outcome_index(outcome)) {
        (Some(slot), Some(i)) => load(&slot.outcomes[i]),
        _ => 0,
    }
}

impl Snapshot<'_> {
    fn slot(&self, route: &RouteInfo) -> Option<&Slot> {
        self.counters.and_then(|c| c.slot(route.slot))
    }

    /// The JSON document (`?json`).
    pub fn json(&self) -> String {
        let mut out = String::from("{");
        let _ = write!(out, "\"generation\":{},", self.generation);
        match self.release {
            Some(r) => {
                let _ = write!(out, "\"release\":{},", json_str(r));
            }
            None => out.push_str("\"release\":null,"),
        }
        let _ = write!(out, "\"started\":{},", json_str(self.started));
        let instances = self.counters.map_or(0, Counters::instances_in_use);
        let _ = write!(out, "\"instances_in_use\":{instances},");
        out.push_str("\"modules\":[");
        for (i, m) in self.modules.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"path\":{},\"sha256\":{},\"kind\":{},\"precompiled\":{}}}",
                json_str(&m.path),
                json_str(&m.sha256),
                json_str(m.kind),
                m.precompiled
            );
        }
        out.push_str("],\"routes\":[");
        for (i, r) in self.routes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let slot = self.slot(r);
            let get = |f: fn(&Slot) -> u64| slot.map_or(0, f);
            let _ = write!(
                out,
                "{{\"route\":{},\"server\":{},\"sha256\":{},\"requests\":{},\"responses\":{{",
                json_str(&r.route),
                json_str(&r.server),
                json_str(&r.sha256),
                get(|s| load(&s.requests))
            );
            for (c, class) in CLASSES.iter().enumerate().skip(1) {
                let n = slot.map_or(0, |s| load(&s.classes[c]));
                let _ = write!(out, "{}\"{class}\":{n}", if c > 1 { "," } else { "" });
            }
            out.push('}');
            for (field, outcome) in OUTCOME_FIELDS {
                let _ = write!(out, ",\"{field}\":{}", outcome_count(slot, outcome));
            }
            let _ = write!(
                out,
                ",\"time_us\":{{\"sum\":{},\"max\":{}}}}}",
                get(|s| load(&s.time_sum_us)),
                get(|s| load(&s.time_max_us))
            );
        }
        out.push_str("]}\n");
        out
    }

    /// The Prometheus text exposition format, version 0.0.4 (`?prometheus`).
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let labels = |r: &RouteInfo| {
            format!(
                "route=\"{}\",server=\"{}\"",
                prom_label(&r.route),
                prom_label(&r.server)
            )
        };
        metric_head(
            &mut out,
            "mod_wasm_requests_total",
            "counter",
            "Requests served by Wasm routes, by response class.",
        );
        for r in self.routes {
            let slot = self.slot(r);
            for (c, class) in CLASSES.iter().enumerate().skip(1) {
                let n = slot.map_or(0, |s| load(&s.classes[c]));
                let _ = writeln!(
                    out,
                    "mod_wasm_requests_total{{{},code_class=\"{class}\"}} {n}",
                    labels(r)
                );
            }
        }
        metric_head(
            &mut out,
            "mod_wasm_request_duration_seconds",
            "histogram",
            "Time spent inside the runtime per request.",
        );
        for r in self.routes {
            let slot = self.slot(r);
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += slot.map_or(0, |s| load(&s.buckets[i]));
                let _ = writeln!(
                    out,
                    "mod_wasm_request_duration_seconds_bucket{{{},le=\"{le}\"}} {cumulative}",
                    labels(r)
                );
            }
            cumulative += slot.map_or(0, |s| load(&s.buckets[BUCKETS.len()]));
            let _ = writeln!(
                out,
                "mod_wasm_request_duration_seconds_bucket{{{},le=\"+Inf\"}} {cumulative}",
                labels(r)
            );
            let sum = slot.map_or(0, |s| load(&s.time_sum_us)) as f64 / 1e6;
            let _ = writeln!(
                out,
                "mod_wasm_request_duration_seconds_sum{{{}}} {sum}",
                labels(r)
            );
            let _ = writeln!(
                out,
                "mod_wasm_request_duration_seconds_count{{{}}} {cumulative}",
                labels(r)
            );
        }
        for (name, outcome, help) in OUTCOME_METRICS {
            metric_head(&mut out, name, "counter", help);
            for r in self.routes {
                let _ = writeln!(
                    out,
                    "{name}{{{}}} {}",
                    labels(r),
                    outcome_count(self.slot(r), outcome)
                );
            }
        }
        metric_head(
            &mut out,
            "mod_wasm_module_info",
            "gauge",
            "A loaded module (always 1).",
        );
        for m in self.modules {
            let _ = writeln!(
                out,
                "mod_wasm_module_info{{sha256=\"{}\",path=\"{}\",kind=\"{}\",precompiled=\"{}\"}} 1",
                m.sha256,
                prom_label(&m.path),
                m.kind,
                m.precompiled
            );
        }
        metric_head(
            &mut out,
            "mod_wasm_release_info",
            "gauge",
            "The release (WasmRelease) this server loaded (always 1).",
        );
        let _ = writeln!(
            out,
            "mod_wasm_release_info{{release=\"{}\"}} 1",
            prom_label(self.release.unwrap_or(""))
        );
        metric_head(
            &mut out,
            "mod_wasm_config_generation",
            "gauge",
            "Apache's configuration generation.",
        );
        let _ = writeln!(out, "mod_wasm_config_generation {}", self.generation);
        metric_head(
            &mut out,
            "mod_wasm_instances_in_use",
            "gauge",
            "Wasm instances running now, in every Apache process.",
        );
        let _ = writeln!(
            out,
            "mod_wasm_instances_in_use {}",
            self.counters.map_or(0, Counters::instances_in_use)
        );
        out
    }

    /// The HTML page a person reads.
    pub fn html(&self) -> String {
        let mut out = String::from(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>mod_wasm status</title><style>\
             body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
             table{border-collapse:collapse;margin:1em 0}\
             th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}\
             th{background:#f0f0f0}td.l,th.l{text-align:left}code{font-size:90%}\
             .bad{color:#b00020;font-weight:bold}</style></head><body>\n<h1>mod_wasm status</h1>\n",
        );
        let _ = writeln!(
            out,
            "<p>Release <b>{}</b> &middot; configuration generation {} &middot; started {} &middot; \
             {} instance(s) in use &middot; <a href=\"?json\">JSON</a> &middot; \
             <a href=\"?prometheus\">Prometheus</a></p>",
            html(self.release.unwrap_or("(none)")),
            self.generation,
            html(self.started),
            self.counters.map_or(0, Counters::instances_in_use)
        );
        out.push_str(
            "<h2>Routes</h2>\n<table id=\"routes\"><tr><th class=\"l\">route</th><th class=\"l\">server</th>\
             <th class=\"l\">module</th><th>requests</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>",
        );
        for (field, _) in OUTCOME_FIELDS {
            let _ = write!(out, "<th>{}</th>", field.replace('_', " "));
        }
        out.push_str("<th>mean ms</th><th>max ms</th></tr>\n");
        for r in self.routes {
            let slot = self.slot(r);
            let requests = slot.map_or(0, |s| load(&s.requests));
            let _ = write!(
                out,
                "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\"><code>{}</code></td><td>{requests}</td>",
                html(&r.route),
                html(&r.server),
                &r.sha256[..r.sha256.len().min(12)]
            );
            for c in 1..5 {
                let _ = write!(out, "<td>{}</td>", slot.map_or(0, |s| load(&s.classes[c])));
            }
            for (_, outcome) in OUTCOME_FIELDS {
                let n = outcome_count(slot, outcome);
                let class = if n > 0 { " class=\"bad\"" } else { "" };
                let _ = write!(out, "<td{class}>{n}</td>");
            }
            let sum = slot.map_or(0, |s| load(&s.time_sum_us));
            let mean = if requests > 0 {
                sum as f64 / requests as f64 / 1000.0
            } else {
                0.0
            };
            let max = slot.map_or(0, |s| load(&s.time_max_us)) as f64 / 1000.0;
            let _ = writeln!(out, "<td>{mean:.2}</td><td>{max:.2}</td></tr>");
        }
        out.push_str("</table>\n<h2>Modules</h2>\n<table id=\"modules\"><tr><th class=\"l\">path</th>\
                      <th class=\"l\">sha256</th><th class=\"l\">kind</th><th class=\"l\">precompiled</th></tr>\n");
        for m in self.modules {
            let _ = writeln!(
                out,
                "<tr><td class=\"l\"><code>{}</code></td><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                html(&m.path),
                m.sha256,
                m.kind,
                if m.precompiled { "yes" } else { "no" }
            );
        }
        out.push_str("</table>\n</body></html>\n");
        out
    }
}

fn metric_head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Prometheus label value (backslash, quote and newline escaped).
fn prom_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Text for HTML.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_break_each_format() {
        assert_eq!(json_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
        assert_eq!(prom_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(html("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
    }

    #[test]
    fn an_empty_server_renders_valid_documents() {
        let snap = Snapshot {
            generation: 3,
            release: None,
            started: "2026-01-01T00:00:00Z",
            modules: &[],
            routes: &[],
            counters: None,
        };
        assert!(
            snap.json()
                .starts_with("{\"generation\":3,\"release\":null,")
        );
        assert!(snap.prometheus().contains("mod_wasm_config_generation 3\n"));
        assert!(snap.html().contains("<table id=\"routes\">"));
    }
}
