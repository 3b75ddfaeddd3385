//! Preflight: the candidate release served by a private Apache on a free loopback port (the
//! standalone configuration `mod-wasm up` writes: same engine settings, same run user), every
//! route (or each `health` path) probed. A release that fails here never goes live.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::apache::locate;
use crate::render::{HttpdContext, Templates};

use super::http::BaseUrl;
use super::verify::{ProbeFailure, probe};

/// Why preflight refused the candidate.
#[derive(Debug)]
pub enum PreflightError {
    /// Apache would not start on the candidate; its own words.
    WouldNotStart(String),
    /// Routes that failed, and Apache's error log of the run.
    Probes(Vec<ProbeFailure>, String),
    /// Something on this host (a folder, the templates).
    Setup(String),
}

/// Serves `release_dir/wasm.conf` privately and probes `routes` (or `health`).
pub fn preflight(
    app: &str,
    release_dir: &Path,
    templates: Option<&Path>,
    routes: &[String],
    health: &[String],
) -> Result<(), PreflightError> {
    let setup = |e: &dyn std::fmt::Display| PreflightError::Setup(e.to_string());
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| setup(&e))?
        .port();
    let server_root = tempfile::Builder::new()
        .prefix("mod-wasm-preflight-")
        .tempdir()
        .map_err(|e| setup(&e))?;
    let root = server_root.path();
    crate::bundle::files::set_dir_mode(root).map_err(|e| setup(&e))?;
    crate::bundle::files::create_dir(&root.join("htdocs")).map_err(|e| setup(&e))?;
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    let listen = format!("127.0.0.1:{port}");
    let context = HttpdContext {
        app: app.to_string(),
        version: format!("mod-wasm {} (deploy preflight)", env!("CARGO_PKG_VERSION")),
        server_root: root.display().to_string(),
        server_name: "127.0.0.1".into(),
        listen: listen.clone(),
        modules_dir: locate::APACHE_MODULES.to_string(),
        mime_types: locate::MIME_TYPES.to_string(),
        user: as_root.then(|| "nobody".to_string()),
        group: as_root.then(|| "nogroup".to_string()),
        wasm_conf: release_dir.join("wasm.conf").display().to_string(),
    };
    let text = Templates::load(templates)
        .and_then(|t| t.httpd_conf(&context))
        .map_err(|e| setup(&e))?;
    let conf = root.join("httpd.conf");
    std::fs::write(&conf, text).map_err(|e| setup(&e))?;
    let log_path = root.join("apache.log");
    let log = std::fs::File::create(&log_path).map_err(|e| setup(&e))?;
    let mut command = Command::new(locate::apache_bin());
    command
        .arg("-f")
        .arg(&conf)
        .arg("-DFOREGROUND")
        .env_remove("HTTP_PROXY")
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| setup(&e))?)
        .stderr(log)
        .process_group(0);
    // If deploy dies (kill -9), the private Apache must not outlive it.
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| setup(&e))?;
    let url = BaseUrl::parse(&format!("http://{listen}")).map_err(|e| setup(&e))?;
    let result = (|| {
        wait_for_port(&mut child, port, Instant::now() + Duration::from_secs(120))
            .map_err(|why| PreflightError::WouldNotStart(format!("{why}\n{}", read(&log_path))))?;
        let failures = probe(
            &url,
            routes,
            health,
            Instant::now() + Duration::from_secs(5),
        );
        if failures.is_empty() {
            Ok(())
        } else {
            Err(PreflightError::Probes(failures, String::new()))
        }
    })();
    stop(&mut child);
    match result {
        Err(PreflightError::Probes(failures, _)) => {
            Err(PreflightError::Probes(failures, read(&log_path)))
        }
        other => other,
    }
}

fn wait_for_port(child: &mut Child, port: u16, deadline: Instant) -> Result<(), String> {
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "Apache exited with {status} before serving the candidate"
            ));
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("Apache did not listen within 120 s".into())
}

/// Graceful stop (SIGWINCH), then SIGKILL of its process group after 20 s.
fn stop(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGWINCH) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: the process group we created for it.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let _ = child.wait();
}

fn read(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    // The last lines say the most.
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
