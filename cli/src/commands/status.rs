//! `mod-wasm status`: a running server's wasm-status (`?json`) as a table — the release and
//! configuration generation it serves, its modules, and every route's counters — or, with
//! `--json`, the document as the server sent it.

use std::time::Duration;

use serde::Deserialize;

use crate::cli::StatusArgs;
use crate::deploy::http::BaseUrl;
use crate::deploy::verify::STATUS_PATH;
use crate::exit::CliError;
use crate::output::Output;

/// The server asked when `--url` is not given: where `mod-wasm up` listens by default.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// How long to wait for the server at each step.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The wasm-status JSON document (the fields this command shows).
#[derive(Clone, Debug, Deserialize)]
pub struct StatusDoc {
    /// Apache's configuration generation.
    pub generation: i64,
    /// `WasmRelease`, if set.
    pub release: Option<String>,
    /// RFC 3339 time of the parent's last (re)start.
    #[serde(default)]
    pub started: String,
    /// Instances in use right now.
    #[serde(default)]
    pub instances_in_use: u64,
    /// Every loaded module.
    pub modules: Vec<ModuleStatus>,
    /// Every route.
    pub routes: Vec<RouteStatus>,
}

/// One loaded module.
#[derive(Clone, Debug, Deserialize)]
pub struct ModuleStatus {
    /// The file loaded.
    #[serde(default)]
    pub path: String,
    /// SHA-256 of its `.wasm`.
    #[serde(default)]
    pub sha256: String,
    /// `module` or `component`.
    #[serde(default)]
    pub kind: String,
    /// Loaded from a `.cwasm`.
    #[serde(default)]
    pub precompiled: bool,
}

/// Responses by status class.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Classes {
    /// 2xx.
    #[serde(rename = "2xx", default)]
    pub c2: u64,
    /// 3xx.
    #[serde(rename = "3xx", default)]
    pub c3: u64,
    /// 4xx.
    #[serde(rename = "4xx", default)]
    pub c4: u64,
    /// 5xx.
    #[serde(rename = "5xx", default)]
    pub c5: u64,
}

/// Time inside the runtime, microseconds.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TimeUs {
    /// Sum over every request.
    #[serde(default)]
    pub sum: u64,
    /// The longest request.
    #[serde(default)]
    pub max: u64,
}

/// One route's counters.
#[derive(Clone, Debug, Deserialize)]
pub struct RouteStatus {
    /// The `<Location>`.
    pub route: String,
    /// `ServerName:port` of its vhost.
    #[serde(default)]
    pub server: String,
    /// Requests handled.
    #[serde(default)]
    pub requests: u64,
    /// Responses by class.
    #[serde(default)]
    pub responses: Classes,
    /// Traps.
    #[serde(default)]
    pub traps: u64,
    /// Time limits hit.
    #[serde(default)]
    pub timeouts: u64,
    /// Time inside the runtime.
    #[serde(default)]
    pub time_us: TimeUs,
}

/// Where to ask: the server and the path of its wasm-status page. `url` is a base URL
/// (`http://HOST[:PORT]`, to which [`STATUS_PATH`] is added) or the page's full URL (any path;
/// a query is replaced by `?json`).
pub fn status_target(url: &str) -> Result<(BaseUrl, String), String> {
    let without_query = url.split_once('?').map_or(url, |(u, _)| u);
    let mut base = BaseUrl::parse(without_query)?;
    let path = if base.prefix.is_empty() {
        STATUS_PATH.to_string()
    } else {
        std::mem::take(&mut base.prefix)
    };
    Ok((base, path))
}

fn shown(base: &BaseUrl, path: &str) -> String {
    if base.host.contains(':') {
        format!("http://[{}]:{}{path}", base.host, base.port)
    } else {
        format!("http://{}:{}{path}", base.host, base.port)
    }
}

/// Runs `status`.
pub fn run(args: &StatusArgs, out: &Output) -> Result<(), CliError> {
    let url = args.url.as_deref().unwrap_or(DEFAULT_URL);
    let (base, path) = status_target(url).map_err(|why| {
        CliError::user(miette::miette!(
            code = "status::url",
            help = "e.g. --url http://127.0.0.1:8080 (the status path is added) or --url http://127.0.0.1:8080/wasm-status",
            "{why}"
        ))
    })?;
    let page = shown(&base, &path);
    let response = base
        .get(&format!("{path}?json"), TIMEOUT)
        .map_err(|e| {
            CliError::user(miette::miette!(
                code = "status::unreachable",
                help = format!(
                    "is the server running? `mod-wasm up app.kdl` serves wasm-status at {STATUS_PATH} by default; \
                     otherwise point --url at the server (http://HOST:PORT) or at its wasm-status page"
                ),
                "nothing answers at {page}: {e}"
            ))
        })?;
    if response.status != 200 {
        let help = match response.status {
            404 => format!(
                "there is no wasm-status page at {path}: add `status \"{STATUS_PATH}\"` to the manifest, \
                 or `SetHandler wasm-status` to a <Location> (and `Require local`), and pass its URL with --url"
            ),
            403 => "wasm-status answers only this host's clients (`Require local`): run `mod-wasm status` on the server's host".to_string(),
            _ => first_line(&response.body),
        };
        return Err(CliError::user(miette::miette!(
            code = "status::http-status",
            help = help,
            "{page} answered {} instead of the wasm-status JSON",
            response.status
        )));
    }
    let doc: StatusDoc = serde_json::from_slice(&response.body).map_err(|e| {
        CliError::user(miette::miette!(
            code = "status::not-wasm-status",
            help = format!(
                "point --url at a `SetHandler wasm-status` location; the answer began: {}",
                first_line(&response.body)
            ),
            "{page} answered, but not with wasm-status JSON: {e}"
        ))
    })?;
    if out.json {
        // The document as the server sent it.
        print!("{}", String::from_utf8_lossy(&response.body));
        if !response.body.ends_with(b"\n") {
            println!();
        }
        return Ok(());
    }
    out.result(render(&doc, &page).trim_end());
    Ok(())
}

fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let cut: String = line.chars().take(160).collect();
    if cut.is_empty() {
        "(an empty body)".to_string()
    } else {
        format!("`{cut}`")
    }
}

/// The text form: a header (page, release, generation, start, modules) and one table row per
/// route.
pub fn render(doc: &StatusDoc, page: &str) -> String {
    let mut text = format!("wasm-status of {page}\n");
    text += &format!(
        "release     {}\n",
        doc.release.as_deref().unwrap_or("(none: no WasmRelease)")
    );
    text += &format!(
        "generation  {}, started {}\n",
        doc.generation,
        if doc.started.is_empty() {
            "?"
        } else {
            &doc.started
        }
    );
    text += &format!("instances   {} in use\n", doc.instances_in_use);
    text += &format!("modules     {}\n", doc.modules.len());
    for m in &doc.modules {
        text += &format!(
            "  {}  {:<9}  {:<11}  {}\n",
            &m.sha256[..m.sha256.len().min(12)],
            m.kind,
            if m.precompiled {
                "precompiled"
            } else {
                "compiled"
            },
            m.path
        );
    }
    text.push('\n');
    let header = [
        "ROUTE", "SERVER", "REQUESTS", "2XX", "3XX", "4XX", "5XX", "TRAPS", "TIMEOUTS", "MEAN MS",
        "MAX MS",
    ];
    let ms = |us: f64| format!("{:.2}", us / 1000.0);
    let rows: Vec<Vec<String>> = doc
        .routes
        .iter()
        .map(|r| {
            let mean = if r.requests == 0 {
                "-".to_string()
            } else {
                ms(r.time_us.sum as f64 / r.requests as f64)
            };
            let max = if r.requests == 0 {
                "-".to_string()
            } else {
                ms(r.time_us.max as f64)
            };
            vec![
                r.route.clone(),
                r.server.clone(),
                r.requests.to_string(),
                r.responses.c2.to_string(),
                r.responses.c3.to_string(),
                r.responses.c4.to_string(),
                r.responses.c5.to_string(),
                r.traps.to_string(),
                r.timeouts.to_string(),
                mean,
                max,
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i > 0 {
                l += "  ";
            }
            // Names left, numbers right.
            if i < 2 {
                l += cell;
                l += &" ".repeat(pad);
            } else {
                l += &" ".repeat(pad);
                l += cell;
            }
        }
        l.trim_end().to_string() + "\n"
    };
    text += &line(&header.map(str::to_string));
    if rows.is_empty() {
        text += "(no routes)\n";
    }
    for row in &rows {
        text += &line(row);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_url_gets_the_status_path_and_a_full_url_is_kept() {
        let (b, p) = status_target("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (b.port, b.prefix.as_str(), p.as_str()),
            (8080, "", STATUS_PATH)
        );
        let (_, p) = status_target("http://127.0.0.1:8080/").unwrap();
        assert_eq!(p, STATUS_PATH);
        let (b, p) = status_target("http://localhost/wasm-status?prometheus").unwrap();
        assert_eq!(
            (b.port, b.prefix.as_str(), p.as_str()),
            (80, "", "/wasm-status")
        );
        assert!(status_target("https://x").is_err());
        assert!(status_target("127.0.0.1:8080").is_err());
    }

    #[test]
    fn the_table_shows_every_route_with_means_in_milliseconds() {
        let doc: StatusDoc = serde_json::from_str(
            r#"{"generation":2,"release":"bundle-0123456789ab","started":"2026-11-28T05:00:00Z",
                "instances_in_use":1,
                "modules":[{"path":"/b/modules/hello.cwasm","sha256":"0123456789abcdef","kind":"module","precompiled":true},
                           {"path":"/b/modules/api.wasm","sha256":"fedcba9876543210","kind":"component","precompiled":false}],
                "routes":[{"route":"/hello","server":"127.0.0.1:8080","sha256":"01","requests":4,
                           "responses":{"2xx":3,"3xx":0,"4xx":0,"5xx":1},"traps":1,"timeouts":0,
                           "time_us":{"sum":2000,"max":1500}},
                          {"route":"/idle","server":"127.0.0.1:8080","requests":0,
                           "responses":{"2xx":0,"3xx":0,"4xx":0,"5xx":0},"traps":0,"timeouts":0,
                           "time_us":{"sum":0,"max":0}}]}"#,
        )
        .unwrap();
        let text = render(&doc, "http://127.0.0.1:8080/s");
        assert!(text.contains("release     bundle-0123456789ab"), "{text}");
        assert!(
            text.contains("generation  2, started 2026-11-28T05:00:00Z"),
            "{text}"
        );
        assert!(
            text.contains("0123456789ab  module     precompiled  /b/modules/hello.cwasm"),
            "{text}"
        );
        // "component" is the longest kind: the columns after it stay aligned.
        assert!(
            text.contains("fedcba987654  component  compiled     /b/modules/api.wasm"),
            "{text}"
        );
        let row = text.lines().find(|l| l.starts_with("/hello")).unwrap();
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "/hello",
                "127.0.0.1:8080",
                "4",
                "3",
                "0",
                "0",
                "1",
                "1",
                "0",
                "0.50",
                "1.50"
            ],
            "{text}"
        );
        let idle = text.lines().find(|l| l.starts_with("/idle")).unwrap();
        let cells: Vec<&str> = idle.split_whitespace().collect();
        assert_eq!(
            cells[2..],
            ["0", "0", "0", "0", "0", "0", "0", "-", "-"],
            "{text}"
        );
        // Not wasm-status: a document without routes is refused.
        assert!(serde_json::from_str::<StatusDoc>(r#"{"generation":1}"#).is_err());
    }
}
