//! `mod-wasm deploy --from oci://…` (once, or `--follow`): the command-line side of the fleet.
//!
//! The host decides where a bundle goes, never the bundle: the deploy root is `--root`, else the
//! host manifest's `deploy { root … }`, else `/var/lib/mod-wasm/<the host manifest's app>`; and
//! a bundle whose app is not the host's (the host manifest's `app`, else the app of the release
//! live under the root) is refused (`fleet::app-mismatch`). A dry run stages in a temporary
//! folder and writes nothing under the root.

use std::path::PathBuf;
use std::time::Instant;

use mod_wasm_oci::{Digest, OciClient, OciReference, PublicKey};
use serde_json::json;

use super::stage::{self, Fetched};
use super::{FleetFailure, Retry};
use crate::apache::locate;
use crate::bundle::layout::BundleLayout;
use crate::bundle::lock::BundleLock;
use crate::cli::DeployArgs;
use crate::deploy::plan::{default_root, explicit_root};
use crate::deploy::releases::ReleaseRoot;
use crate::deploy::report::print_report;
use crate::deploy::{Plan, Report};
use crate::exit::CliError;
use crate::manifest::DeployBlock;
use crate::output::Output;

/// Everything a deploy from the registry needs, set up once.
pub struct Ctx<'a> {
    /// The command line.
    pub args: &'a DeployArgs,
    /// The registry client.
    pub client: OciClient,
    /// `--from`, as given.
    pub reference: OciReference,
    /// `--verify-key`, else the manifest's `deploy { verify-key … }`.
    pub key: Option<PublicKey>,
    /// The `deploy { }` block of the MANIFEST given with `--from`, if any.
    pub block: Option<DeployBlock>,
    /// The app of the MANIFEST given with `--from` (this host's app), if any.
    pub host_app: Option<String>,
    /// This host's deploy root.
    pub root: PathBuf,
    /// This host's `mod_wasm.so`.
    pub mod_wasm_so: PathBuf,
}

/// A deploy from the registry that went live.
pub struct Deployed {
    /// The deploy's report.
    pub report: Report,
    /// The manifest digest.
    pub digest: Digest,
    /// What was recorded as the release's source.
    pub source: String,
    /// Modules compiled on this host now / taken from the compiled-code cache.
    pub compiled: (usize, usize),
    /// Whether a signature was verified.
    pub verified: bool,
    /// Whether this host's bundle.lock is the artifact's, byte for byte.
    pub lock_identical: bool,
    /// Milliseconds spent pulling and verifying, and compiling.
    pub pull_ms: u128,
    /// Milliseconds compiling and rendering.
    pub stage_ms: u128,
}

impl<'a> Ctx<'a> {
    /// Reads the flags: reference, key, registry client, `mod_wasm.so`.
    pub fn new(args: &'a DeployArgs, from: &str, out: &Output) -> Result<Ctx<'a>, CliError> {
        let reference = super::reference(from).map_err(|f| f.to_cli())?;
        let (block, host_app) = match &args.manifest {
            Some(manifest) => {
                let checked = crate::commands::check::load_checked(manifest, out)?;
                if checked.has_errors() {
                    return Err(CliError::User(None));
                }
                (
                    checked.manifest.deploy.clone(),
                    Some(checked.manifest.app_name().to_string()),
                )
            }
            None => (None, None),
        };
        let root = host_root(args, block.as_ref(), host_app.as_deref()).map_err(|f| f.to_cli())?;
        let key_path = args.fleet.verify_key.clone().or_else(|| {
            block
                .as_ref()
                .and_then(|b| b.verify_key.as_ref())
                .map(|k| k.value.clone())
        });
        let key = super::verify_key(key_path.as_deref()).map_err(|f| f.to_cli())?;
        let client = super::deploy_client(args).map_err(|f| f.to_cli())?;
        let mod_wasm_so = locate::mod_wasm_so(args.mod_wasm_so.as_deref()).map_err(|e| {
            CliError::user(miette::miette!(
                code = "apache::mod-wasm-missing",
                help =
                    "install libapache2-mod-wasm, or pass --mod-wasm-so PATH (or set MOD_WASM_SO)",
                "{e}"
            ))
        })?;
        Ok(Ctx {
            args,
            client,
            reference,
            key,
            block,
            host_app,
            root,
            mod_wasm_so,
        })
    }

    /// This host's app: the host manifest's, else the app of the release live under the root.
    pub fn host_app(&self) -> Option<String> {
        self.host_app.clone().or_else(|| {
            let lock = BundleLayout::new(self.root.join("current")).lock();
            let text = std::fs::read(lock).ok()?;
            serde_json::from_slice::<BundleLock>(&text)
                .ok()
                .map(|l| l.app)
        })
    }

    /// Refuses a bundle of app `app` when this host serves another app.
    pub fn check_app(&self, app: &str) -> Result<(), FleetFailure> {
        match self.host_app() {
            Some(host) if host != app => Err(FleetFailure::new(
                "fleet::app-mismatch",
                format!(
                    "{}: the bundle is app `{app}`, this host deploys app `{host}` to {}",
                    self.reference,
                    self.root.display()
                ),
            )
            .help("nothing was written; point this host at the repository of its own app (a bundle never chooses the host's root or app)")),
            _ => Ok(()),
        }
    }

    /// The plan, from the flags.
    pub fn plan(&self) -> Result<Plan, CliError> {
        let mut plan =
            crate::deploy::plan::plan(&self.args.live, self.block.as_ref(), self.root.clone())?;
        if let Some(keep) = self.args.keep {
            plan.keep = keep.max(1);
        }
        plan.dry_run = self.args.dry_run;
        plan.preflight = plan.preflight && !self.args.no_preflight;
        plan.templates = self.args.templates.clone();
        Ok(plan)
    }

    /// The digest `--from` names now (a tag is resolved on the registry).
    pub fn resolve(&self) -> Result<Digest, FleetFailure> {
        Ok(self.client.resolve_digest(&self.reference)?)
    }

    /// Pulls, verifies and checks the bundle at `digest`.
    pub fn fetch(&self, digest: &Digest) -> Result<Fetched, FleetFailure> {
        stage::fetch(&self.client, &self.reference, digest, self.key.as_ref())
    }

    /// Compiles `fetched` here and puts it live through the verified switch.
    pub fn deploy(&self, fetched: &Fetched, pull_ms: u128) -> Result<Deployed, FleetFailure> {
        self.check_app(&fetched.lock.app)?;
        let plan = self.plan().map_err(|e| FleetFailure {
            retry: Retry::TagMoves,
            ..FleetFailure::new("deploy::settings", cli_message(e))
        })?;
        // Before the first write under the root (staging included).
        crate::deploy::strict::check_root(&plan.root)
            .map_err(|why| FleetFailure::from(crate::deploy::unsafe_root(&plan.root, why)))?;
        // A dry run stages in a temporary folder: nothing is written under the root.
        let scratch = tempfile::Builder::new()
            .prefix("mod-wasm-fleet-")
            .tempdir()
            .map_err(|e| FleetFailure {
                retry: Retry::Backoff,
                ..FleetFailure::new("fleet::io", format!("cannot make a temporary folder: {e}"))
            })?;
        let parent = if plan.dry_run {
            scratch.path().to_path_buf()
        } else {
            plan.root.join(".fleet")
        };
        let t = Instant::now();
        let staged = stage::stage(
            fetched,
            &parent,
            &self.mod_wasm_so,
            self.args.templates.as_deref(),
        )?;
        let stage_ms = t.elapsed().as_millis();
        let source = super::recorded_source(&fetched.reference, &fetched.digest);
        let report = crate::deploy::deploy(&plan, staged.dir.path(), &source)?;
        Ok(Deployed {
            report,
            digest: fetched.digest.clone(),
            source,
            compiled: (staged.compiled, staged.reused),
            verified: fetched.verified,
            lock_identical: staged.lock_identical,
            pull_ms,
            stage_ms,
        })
    }

    /// The manifest digest of the release live under this host's root, when it came from this
    /// repository and is app `app` (this host's).
    pub fn live_digest(&self, app: &str) -> Option<Digest> {
        self.check_app(app).ok()?;
        let root = ReleaseRoot::existing(&self.root);
        let current = root.current()?;
        let record = root
            .records()
            .into_iter()
            .rev()
            .find(|r| r.id == current && r.outcome == "ok")?;
        let same_repo = record.source.starts_with(&format!(
            "{}{}/{}",
            mod_wasm_oci::SCHEME,
            self.reference.registry(),
            self.reference.repository()
        ));
        same_repo
            .then(|| super::digest_of_source(&record.source))
            .flatten()
    }
}

/// This host's deploy root: `--root`, else the host manifest's `deploy { root … }`, else
/// `/var/lib/mod-wasm/<the host manifest's app>` — never a name from the bundle.
fn host_root(
    args: &DeployArgs,
    block: Option<&DeployBlock>,
    host_app: Option<&str>,
) -> Result<PathBuf, FleetFailure> {
    if let Some(root) = explicit_root(&args.live, block) {
        return Ok(root);
    }
    let no_root = |why: String| {
        FleetFailure::new("fleet::no-root", why).help(
            "pass this host's manifest (app \"NAME\", and perhaps deploy { root … }): \
             mod-wasm deploy --from oci://… /etc/mod-wasm/APP.kdl — or --root DIR",
        )
    };
    match host_app {
        Some(app) => default_root(app).map_err(no_root),
        None => Err(no_root(
            "deploy --from needs this host's deploy root: the bundle does not choose it".into(),
        )),
    }
}

/// A CLI error's message, for a log line.
pub fn cli_message(e: CliError) -> String {
    match e {
        CliError::User(Some(r)) | CliError::Internal(r) => format!("{r}"),
        CliError::User(None) => "invalid settings".into(),
    }
}

/// Runs `deploy --from` (once) or hands over to [`super::follow`].
pub fn run(args: &DeployArgs, from: &str, out: &Output) -> Result<(), CliError> {
    let ctx = Ctx::new(args, from, out)?;
    if args.fleet.follow {
        return super::follow::run(&ctx, out);
    }
    let t = Instant::now();
    let digest = ctx.resolve().map_err(|f| f.to_cli())?;
    if ctx.reference.digest().is_none() {
        out.status(format!("{} is {digest}", ctx.reference));
    }
    let fetched = ctx.fetch(&digest).map_err(|f| failed(&f, out))?;
    if fetched.verified {
        out.status(format!(
            "Signature verified with {}",
            ctx.key
                .as_ref()
                .map(|k| k.path().display().to_string())
                .unwrap_or_default()
        ));
    }
    let pull_ms = t.elapsed().as_millis();
    out.status(format!(
        "Deploying {} to {}",
        super::recorded_source(&ctx.reference, &digest),
        ctx.root.display()
    ));
    let deployed = ctx.deploy(&fetched, pull_ms).map_err(|f| failed(&f, out))?;
    let mut value = json!(deployed.report);
    value["source"] = json!(deployed.source);
    value["manifest_digest"] = json!(deployed.digest.to_string());
    value["verified"] = json!(deployed.verified);
    value["compiled"] = json!(deployed.compiled.0);
    value["reused"] = json!(deployed.compiled.1);
    value["lock_identical"] = json!(deployed.lock_identical);
    value["timings"]["pull_ms"] = json!(deployed.pull_ms);
    value["timings"]["stage_ms"] = json!(deployed.stage_ms);
    out.json(&value);
    if !out.json {
        let quiet = Output {
            json: false,
            ..*out
        };
        print_report(&deployed.report, "Release", &quiet);
        out.detail(format!(
            "pulled and verified in {} ms; {} module(s) compiled here, {} from the compiled-code cache in {} ms",
            deployed.pull_ms, deployed.compiled.0, deployed.compiled.1, deployed.stage_ms
        ));
    }
    Ok(())
}

fn failed(f: &FleetFailure, out: &Output) -> CliError {
    out.json(
        &json!({"outcome": "failed", "code": f.code, "message": f.message, "details": f.details}),
    );
    f.to_cli()
}
