//! Putting a release live on a running Apache, verifying it, and rolling back by itself.
//!
//! lock → release (relocated bundle) → configtest of the candidate with the real configuration →
//! preflight in a private Apache → swap `current` → graceful → verify (wasm-status reports the new
//! release at a newer generation with every module loaded; every route answers) → prune. Any
//! failure after the swap swaps back, reloads, verifies the old release and records `failed`; a
//! failure before the swap changes nothing live. Whatever the outcome, at most `keep` releases
//! stay on disk (the live one and the one before it first).
//!
//! Before anything is written: the deploy root passes StrictModes ([`strict`]) and the bundle's
//! lock passes the lock check ([`crate::fleet::lock_check`]). A dry run writes nothing under the
//! root: its candidate is relocated into a temporary folder and only configtested.

pub mod apachectl;
pub mod debian;
pub mod http;
pub mod lock;
pub mod plan;
pub mod preflight;
pub mod releases;
pub mod relocate;
pub mod report;
pub mod strict;
pub mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use apachectl::Apachectl;
use http::BaseUrl;
use lock::{DeployLock, LockError};
use preflight::PreflightError;
use releases::{Record, ReleaseRoot};

use crate::bundle::lock::BundleLock;

/// How long the server may take to report a new release after a graceful restart (a large
/// interpreter compiles in the parent before it serves).
pub const VERIFY_WITHIN: Duration = Duration::from_secs(180);

/// Everything a deploy or rollback needs to know.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The deploy root.
    pub root: PathBuf,
    /// Controls the running Apache.
    pub apachectl: Apachectl,
    /// Where the running server answers on this host.
    pub url: BaseUrl,
    /// Releases to keep.
    pub keep: usize,
    /// Stop after the candidate's configtest.
    pub dry_run: bool,
    /// Serve the candidate privately first.
    pub preflight: bool,
    /// How long to wait for another deploy's lock.
    pub lock_wait: Duration,
    /// Paths that must answer 2xx (else: every route must answer non-5xx).
    pub health: Vec<String>,
    /// Template overrides (for preflight's standalone configuration).
    pub templates: Option<PathBuf>,
    /// Check that the running configuration includes `ROOT/current/wasm.conf` (off only for a
    /// `--debian --dry-run` whose include is not written yet).
    pub check_include: bool,
}

/// What a deploy did (`--json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The release id.
    pub id: String,
    /// SHA-256 of its `bundle.lock`.
    pub digest: String,
    /// The release that was current before.
    pub previous: Option<String>,
    /// `ok`, `dry-run`.
    pub outcome: String,
    /// Milliseconds per step.
    pub timings: Timings,
    /// Releases removed by pruning.
    pub pruned: Vec<String>,
}

/// Milliseconds per step.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timings {
    /// Configtest of the candidate.
    pub configtest_ms: u128,
    /// Preflight.
    pub preflight_ms: u128,
    /// Swap and graceful.
    pub switch_ms: u128,
    /// Verification.
    pub verify_ms: u128,
    /// Everything from taking the lock.
    pub total_ms: u128,
}

/// Why a deploy stopped, for a diagnostic.
#[derive(Debug)]
pub struct Failure {
    /// `deploy::…` code.
    pub code: &'static str,
    /// What failed.
    pub message: String,
    /// What to do.
    pub help: Option<String>,
    /// Apache's or the probe's own words.
    pub details: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            help: None,
            details: String::new(),
        }
    }
    fn help(mut self, help: impl Into<String>) -> Failure {
        self.help = Some(help.into());
        self
    }
    fn details(mut self, details: impl Into<String>) -> Failure {
        self.details = details.into();
        self
    }
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::new("deploy::io", format!("{what}: {e}"))
}

fn user() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        // SAFETY: getuid has no preconditions.
        .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() }))
}

fn now() -> String {
    wasm_runtime::status::rfc3339(SystemTime::now())
}

/// Takes the root's lock, naming this process as the holder.
fn take_lock(root: &ReleaseRoot, plan: &Plan, what: &str) -> Result<DeployLock, Failure> {
    let holder = format!(
        "pid {} ({}) since {}: {what}",
        std::process::id(),
        user(),
        now()
    );
    DeployLock::acquire(&root.lock_path(), plan.lock_wait, &holder).map_err(|e| match e {
        LockError::Busy(who) => Failure::new(
            "deploy::locked",
            format!("another deploy holds {}: {who}", root.lock_path().display()),
        )
        .help("wait for it to finish, or pass --lock-wait 5m to wait here"),
        LockError::Io(e) => Failure::new("deploy::io", format!("cannot open the deploy lock: {e}")),
    })
}

/// Checks that the running configuration includes `ROOT/current/wasm.conf`.
fn check_included(root: &Path, apachectl: &Apachectl) -> Result<(), Failure> {
    let wanted = root.join("current").join("wasm.conf");
    let files = apachectl.includes().map_err(|f| {
        Failure::new(
            "deploy::apachectl",
            format!(
                "`{}` failed: the running configuration is broken or unreadable",
                f.command
            ),
        )
        .details(f.output)
    })?;
    let found = files.iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|line| {
                let line = line.trim();
                let directive = line.split_whitespace().next().unwrap_or("");
                // The rest of the line: one path, perhaps quoted (with spaces in it).
                let arg = line[directive.len()..].trim().trim_matches('"');
                matches!(
                    directive.to_ascii_lowercase().as_str(),
                    "include" | "includeoptional"
                ) && Path::new(arg) == wanted
            })
        })
    });
    if found {
        Ok(())
    } else {
        Err(Failure::new(
            "deploy::not-included",
            format!(
                "the running configuration does not include {}",
                wanted.display()
            ),
        )
        .help(format!(
            "add this line once, at server level (outside any <VirtualHost>), then run deploy again:\n    IncludeOptional {}",
            wanted.display()
        )))
    }
}

/// The routes of a bundle (from its lock) and its module digests.
fn routes_and_modules(lock: &BundleLock) -> (Vec<String>, Vec<String>) {
    (
        lock.routes.iter().map(|r| r.path.clone()).collect(),
        lock.modules.iter().map(|m| m.sha256.clone()).collect(),
    )
}

fn read_lock(dir: &Path) -> Result<(BundleLock, String), Failure> {
    let bytes =
        std::fs::read(crate::bundle::layout::BundleLayout::new(dir).lock()).map_err(|e| {
            Failure::new(
                "deploy::not-a-bundle",
                format!("{} has no readable bundle.lock: {e}", dir.display()),
            )
        })?;
    let lock: BundleLock = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::new(
            "deploy::not-a-bundle",
            format!("{}/bundle.lock is not a bundle lock: {e}", dir.display()),
        )
    })?;
    Ok((lock, wasm_runtime::digest::sha256_hex(&bytes)))
}

/// [`read_lock`] of a bundle to deploy, its values checked before anything renders them.
fn read_checked_lock(dir: &Path) -> Result<(BundleLock, String), Failure> {
    let (lock, digest) = read_lock(dir)?;
    crate::fleet::lock_check::check(&lock).map_err(|e| {
        Failure::new(
            "fleet::unsafe-lock",
            format!("{}/bundle.lock: {e}", dir.display()),
        )
        .help(crate::fleet::lock_check::HELP)
    })?;
    Ok((lock, digest))
}

/// The refusal of a deploy root that fails StrictModes.
pub fn unsafe_root(root: &Path, why: String) -> Failure {
    Failure::new(
        "deploy::unsafe-root",
        format!("the deploy root {} is not safe: {why}", root.display()),
    )
    .help(strict::HELP)
}

/// The refusal of release `id` by the configtest, with Apache's words (and the module to load,
/// when what is missing is mod_authz_core's `Require`).
fn configtest_failure(id: &str, f: apachectl::Failed) -> Failure {
    let failure = Failure::new(
        "deploy::configtest",
        format!("Apache refuses release {id}: nothing was changed"),
    );
    let failure = if f.output.contains("Invalid command 'Require'") {
        failure.help(
            "this Apache does not load mod_authz_core, which the release's loopback-only \
             wasm-status location needs (`Require expr`): enable it (`a2enmod authz_core`, or \
             LoadModule authz_core_module …/mod_authz_core.so) and deploy again",
        )
    } else {
        failure
    };
    failure.details(format!("{}\n{}", f.command, f.output))
}

/// Deploys the bundle at `bundle` (built by `mod-wasm build`, or pulled) as a new release.
pub fn deploy(plan: &Plan, bundle: &Path, source: &str) -> Result<Report, Failure> {
    let started = Instant::now();
    strict::check_root(&plan.root).map_err(|why| unsafe_root(&plan.root, why))?;
    let (lock, digest) = read_checked_lock(bundle)?;
    if plan.dry_run {
        return dry_run(plan, bundle, &digest, started);
    }
    let root = ReleaseRoot::open(&plan.root).map_err(io("cannot create the deploy root"))?;
    strict::check_root(&plan.root).map_err(|why| unsafe_root(&plan.root, why))?;
    let _lock = take_lock(&root, plan, &format!("deploy {source}"))?;
    root.clean_staging();
    if plan.check_include {
        check_included(root.path(), &plan.apachectl)?;
    }

    let mut id = relocate::release_id(&digest, SystemTime::now());
    if root.release_dir(&id).exists() {
        id = format!("{id}-{}", std::process::id());
    }
    let staged = root
        .staging_dir("release")
        .map_err(io("cannot write the release"))?;
    relocate::relocate(bundle, &staged, &root.release_dir(&id), &id)
        .map_err(io("cannot write the release"))?;
    let release_dir = root
        .commit_release(&staged, &id)
        .map_err(io("cannot write the release"))?;
    let previous = root.current();
    let record = |outcome: &str, reason: Option<String>| Record {
        id: id.clone(),
        digest: digest.clone(),
        source: source.to_string(),
        time: now(),
        user: user(),
        outcome: outcome.to_string(),
        previous: previous.clone(),
        reason,
    };
    let mut timings = Timings::default();
    let outcome = go_live(
        plan,
        &root,
        &release_dir,
        &id,
        &lock,
        previous.as_deref(),
        &mut timings,
    );
    // Whatever happened, at most `keep` releases stay (failed ones do not pile up).
    let pruned = root.prune(plan.keep, previous.as_deref());
    if let Err(f) = outcome {
        // Why, as recorded: the verification's own words, else what stopped it.
        let reason = if f.code == "deploy::verify" {
            f.details.clone()
        } else {
            f.message.clone()
        };
        let _ = root.append(&record("failed", Some(reason)));
        return Err(f);
    }
    root.append(&record("ok", None))
        .map_err(io("cannot record the deploy"))?;
    timings.total_ms = started.elapsed().as_millis();
    Ok(Report {
        id,
        digest,
        previous,
        outcome: "ok".into(),
        timings,
        pruned,
    })
}

/// A dry run: the candidate relocated into a temporary folder and configtested there; nothing
/// is written under the root (no release, no record, no lock file).
fn dry_run(plan: &Plan, bundle: &Path, digest: &str, started: Instant) -> Result<Report, Failure> {
    if plan.check_include {
        check_included(&plan.root, &plan.apachectl)?;
    }
    let scratch = tempfile::Builder::new()
        .prefix("mod-wasm-dry-run-")
        .tempdir()
        .map_err(io("cannot make a temporary folder"))?;
    let id = relocate::release_id(digest, SystemTime::now());
    let release_dir = scratch.path().join(&id);
    crate::bundle::files::create_dir(&release_dir).map_err(io("cannot write the candidate"))?;
    relocate::relocate(bundle, &release_dir, &release_dir, &id)
        .map_err(io("cannot write the candidate"))?;
    let mut timings = Timings::default();
    let t = Instant::now();
    plan.apachectl
        .configtest_with(&release_dir.join("wasm.conf"))
        .map_err(|f| configtest_failure(&id, f))?;
    timings.configtest_ms = t.elapsed().as_millis();
    timings.total_ms = started.elapsed().as_millis();
    Ok(Report {
        id,
        digest: digest.to_string(),
        previous: ReleaseRoot::existing(&plan.root).current(),
        outcome: "dry-run".into(),
        timings,
        pruned: vec![],
    })
}

/// Release `id` (committed at `release_dir`) through configtest, preflight, the swap, the
/// graceful restart and verification; after a failure past the swap, `previous` is live again.
fn go_live(
    plan: &Plan,
    root: &ReleaseRoot,
    release_dir: &Path,
    id: &str,
    lock: &BundleLock,
    previous: Option<&str>,
    timings: &mut Timings,
) -> Result<(), Failure> {
    let (routes, modules) = routes_and_modules(lock);
    let t = Instant::now();
    plan.apachectl
        .configtest_with(&release_dir.join("wasm.conf"))
        .map_err(|f| configtest_failure(id, f))?;
    timings.configtest_ms = t.elapsed().as_millis();
    if plan.preflight {
        let t = Instant::now();
        preflight::preflight(
            &lock.app,
            release_dir,
            plan.templates.as_deref(),
            &routes,
            &plan.health,
        )
        .map_err(|e| preflight_failure(id, e))?;
        timings.preflight_ms = t.elapsed().as_millis();
    }

    let before = verify::serving(&plan.url).ok().map(|s| s.generation);
    let t = Instant::now();
    root.set_current(id)
        .map_err(|e| Failure::new("deploy::io", format!("cannot swap `current`: {e}")))?;
    let switched = plan.apachectl.graceful();
    timings.switch_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let verified = switched
        .map_err(|f| format!("`{}` failed: {}", f.command, f.output.trim()))
        .and_then(|()| verify_live(plan, id, &modules, before, &routes));
    timings.verify_ms = t.elapsed().as_millis();
    if let Err(why) = verified {
        let back = roll_back(root, plan, previous);
        return Err(Failure::new(
            "deploy::verify",
            format!("release {id} went live but failed verification; {back}"),
        )
        .details(why));
    }
    Ok(())
}

/// After a graceful restart: the server reports release `id` (newer generation, every module
/// loaded) and every route answers.
fn verify_live(
    plan: &Plan,
    id: &str,
    modules: &[String],
    before: Option<i64>,
    routes: &[String],
) -> Result<(), String> {
    verify::wait_for_release(
        &plan.url,
        id,
        modules,
        before,
        Instant::now() + VERIFY_WITHIN,
    )?;
    let failures = verify::probe(
        &plan.url,
        routes,
        &plan.health,
        Instant::now() + Duration::from_secs(5),
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// Swaps back to `previous`, reloads (or starts Apache if its parent is gone), and verifies the
/// old release serves. Returns a sentence saying what happened.
fn roll_back(root: &ReleaseRoot, plan: &Plan, previous: Option<&str>) -> String {
    let Some(previous) = previous else {
        let _ = std::fs::remove_file(root.current_link());
        let _ = plan.apachectl.graceful();
        return "there was no previous release: `current` was removed and Apache reloaded".into();
    };
    if let Err(e) = root.set_current(previous) {
        return format!(
            "swapping back to {previous} FAILED ({e}): fix {} by hand",
            root.current_link().display()
        );
    }
    // A graceful restart of a parent that died fails: then start Apache again.
    let reloaded = plan.apachectl.graceful().map(|()| "reloaded").or_else(|_| {
        plan.apachectl
            .start()
            .map(|()| "started again (its parent had died)")
    });
    let how = match reloaded {
        Ok(how) => how,
        Err(f) => {
            return format!(
                "rolled back to {previous}, but `{}` failed: {}",
                f.command,
                f.output.trim()
            );
        }
    };
    let modules = read_lock(&root.release_dir(previous))
        .map(|(lock, _)| routes_and_modules(&lock).1)
        .unwrap_or_default();
    match verify::wait_for_release(
        &plan.url,
        previous,
        &modules,
        None,
        Instant::now() + VERIFY_WITHIN,
    ) {
        Ok(_) => format!("rolled back to {previous}: Apache {how} and serves it"),
        Err(why) => {
            format!("rolled back to {previous} and Apache {how}, but it does not verify: {why}")
        }
    }
}

fn preflight_failure(id: &str, e: PreflightError) -> Failure {
    match e {
        PreflightError::WouldNotStart(log) => Failure::new(
            "deploy::preflight",
            format!("release {id} does not start in a private Apache: it never went live"),
        )
        .details(log),
        PreflightError::Probes(failures, log) => Failure::new(
            "deploy::preflight",
            format!(
                "release {id} failed preflight ({}): it never went live",
                failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
        )
        .help("the private Apache's log is below; --no-preflight skips this step for routes that only work inside the real vhost")
        .details(log),
        PreflightError::Setup(why) => Failure::new("deploy::preflight", format!("preflight could not run: {why}")),
    }
}

/// Puts release `target` (default: the newest `ok` release before the current one) live again,
/// through the same verified switch.
pub fn rollback(plan: &Plan, target: Option<&str>) -> Result<Report, Failure> {
    let started = Instant::now();
    strict::check_root(&plan.root).map_err(|why| unsafe_root(&plan.root, why))?;
    let root = ReleaseRoot::open(&plan.root).map_err(io("cannot open the deploy root"))?;
    let _lock = take_lock(&root, plan, "rollback")?;
    check_included(root.path(), &plan.apachectl)?;
    let current = root.current();
    let target = match target {
        Some(t) => t.to_string(),
        None => root.rollback_target(current.as_deref()).ok_or_else(|| {
            Failure::new(
                "deploy::no-previous",
                "there is no earlier good release to roll back to",
            )
            .help("`mod-wasm releases --root …` lists them")
        })?,
    };
    let dir = root.release_dir(&target);
    if !dir.is_dir() {
        return Err(Failure::new(
            "deploy::unknown-release",
            format!("there is no release {target} in {}", root.path().display()),
        )
        .help("`mod-wasm releases --root …` lists them"));
    }
    let (lock, digest) = read_lock(&dir)?;
    let (routes, modules) = routes_and_modules(&lock);
    let mut timings = Timings::default();
    let t = Instant::now();
    plan.apachectl
        .configtest_with(&dir.join("wasm.conf"))
        .map_err(|f| configtest_failure(&target, f))?;
    timings.configtest_ms = t.elapsed().as_millis();
    let before = verify::serving(&plan.url).ok().map(|s| s.generation);
    let t = Instant::now();
    root.set_current(&target)
        .map_err(io("cannot swap `current`"))?;
    let switched = plan.apachectl.graceful();
    timings.switch_ms = t.elapsed().as_millis();
    let t = Instant::now();
    let verified = switched
        .map_err(|f| format!("`{}` failed: {}", f.command, f.output.trim()))
        .and_then(|()| verify_live(plan, &target, &modules, before, &routes));
    timings.verify_ms = t.elapsed().as_millis();
    let record = |id: &str, outcome: &str, reason: Option<String>| Record {
        id: id.to_string(),
        digest: digest.clone(),
        source: "rollback".into(),
        time: now(),
        user: user(),
        outcome: outcome.into(),
        previous: current.clone(),
        reason,
    };
    if let Err(why) = verified {
        let back = roll_back(&root, plan, current.as_deref());
        let _ = root.append(&record(&target, "failed", Some(why.clone())));
        return Err(Failure::new(
            "deploy::verify",
            format!("rollback to {target} failed verification; {back}"),
        )
        .details(why));
    }
    if let Some(from) = &current {
        let _ = root.append(&Record {
            digest: String::new(),
            ..record(from, "rolled-back", None)
        });
    }
    root.append(&record(&target, "ok", None))
        .map_err(io("cannot record the rollback"))?;
    timings.total_ms = started.elapsed().as_millis();
    Ok(Report {
        id: target,
        digest,
        previous: current,
        outcome: "ok".into(),
        timings,
        pruned: vec![],
    })
}
