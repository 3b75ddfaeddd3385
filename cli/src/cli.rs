//! The command line: every command, argument and flag (clap derive), with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  mod-wasm init myapp                 # a starter manifest and module in ./myapp
  mod-wasm check myapp/app.kdl        # validate the manifest
  mod-wasm build myapp/app.kdl        # precompile modules, write myapp/bundle/
  mod-wasm up myapp/app.kdl           # build and serve with Apache (Ctrl-C stops)
  mod-wasm deploy myapp/app.kdl --root /var/lib/mod-wasm/myapp --url http://127.0.0.1
  mod-wasm rollback --root /var/lib/mod-wasm/myapp --url http://127.0.0.1
  mod-wasm completions bash > /etc/bash_completion.d/mod-wasm";

/// Deploy WebAssembly (WASI) endpoints to Apache httpd from a KDL manifest.
#[derive(Debug, Parser)]
#[command(name = "mod-wasm", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (repeat for even more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a working starter: a manifest and a tiny hello module.
    #[command(
        after_help = "Examples:\n  mod-wasm init            # in the current folder\n  mod-wasm init myapp      # in ./myapp (created)\n  mod-wasm up myapp/app.kdl"
    )]
    Init(InitArgs),
    /// Validate a manifest (syntax, schema, files) without building.
    #[command(
        after_help = "Examples:\n  mod-wasm check                       # ./app.kdl\n  mod-wasm check samples/hello/app.kdl\n  mod-wasm check --json app.kdl        # problems as JSON (line, column, code)"
    )]
    Check(CheckArgs),
    /// Resolve, hash and precompile every module; write the bundle and its wasm.conf.
    #[command(
        after_help = "Examples:\n  mod-wasm build                                 # ./app.kdl -> ./bundle\n  mod-wasm build samples/hello/app.kdl --out /srv/hello\n  mod-wasm build --templates my-templates/       # override wasm.conf.j2\n\nThen add to httpd.conf:  Include /path/to/bundle/wasm.conf"
    )]
    Build(BuildArgs),
    /// Build, then serve the app with the system's Apache in the foreground (Ctrl-C stops).
    #[command(
        after_help = "Examples:\n  mod-wasm up samples/hello/app.kdl\n  mod-wasm up app.kdl --listen 127.0.0.1:9000\n  curl http://127.0.0.1:8080/hello"
    )]
    Up(UpArgs),
    /// Put a new release live on the running Apache: configtest, preflight, switch, verify,
    /// roll back by itself on failure.
    #[command(after_help = DEPLOY_EXAMPLES)]
    Deploy(DeployArgs),
    /// List the releases of a deploy root, newest first, the current one marked.
    #[command(after_help = "Examples:
  mod-wasm releases --root /var/lib/mod-wasm/myapp
  mod-wasm releases --root /var/lib/mod-wasm/myapp --json")]
    Releases(ReleasesArgs),
    /// Put an earlier release live again (default: the previous good one), verified.
    #[command(after_help = "Examples:
  mod-wasm rollback --root /var/lib/mod-wasm/myapp --url http://127.0.0.1
  mod-wasm rollback 20261128T050000Z-0123456789ab --root /var/lib/mod-wasm/myapp")]
    Rollback(RollbackArgs),
    /// Show a running server's wasm-status: release, generation, modules, and every route's counters.
    #[command(after_help = "Examples:
  mod-wasm status                          # the server of `mod-wasm up` (127.0.0.1:8080)
  mod-wasm status --url http://127.0.0.1   # adds /.well-known/mod-wasm/status
  mod-wasm status --url http://127.0.0.1/wasm-status
  mod-wasm status --json                   # the wasm-status JSON as served")]
    Status(StatusArgs),
    /// Fetch the manifest's OCI modules into the cache and pin them in the lock file.
    #[command(
        after_help = "Examples:\n  mod-wasm pull                       # every oci:// module of ./app.kdl\n  mod-wasm pull app.kdl --update      # re-resolve every tag\n  mod-wasm pull app.kdl --update py   # re-resolve one module"
    )]
    Pull(PullArgs),
    /// Push a .wasm module or component (CNCF Wasm artifact layout), or a whole bundle (--bundle), to
    /// an OCI registry.
    #[command(
        after_help = "Examples:\n  mod-wasm push build/hello.wasm oci://localhost:5000/wasm/hello:1.0 --insecure localhost:5000\n  mod-wasm push hello.wasm oci://registry.example/wasm/hello:1.0 --legacy-media-types\n  mod-wasm push --bundle bundle/ oci://registry.example/fleet/myapp:canary   # prints the digest"
    )]
    Push(PushArgs),
    /// Sign a pushed artifact by digest (cosign-compatible, ECDSA P-256 key).
    #[command(after_help = "Examples:
  openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out release.pem
  openssl ec -in release.pem -pubout -out release.pub        # for deploy --verify-key
  mod-wasm sign --key release.pem oci://registry.example/fleet/myapp@sha256:…")]
    Sign(SignArgs),
    /// Point a tag at a digest (promote canary to stable, or roll a tag back).
    #[command(after_help = "Examples:
  mod-wasm tag oci://registry.example/fleet/myapp@sha256:… stable
  mod-wasm tag oci://registry.example/fleet/myapp:canary stable   # whatever canary names now")]
    Tag(TagArgs),
    /// Store registry credentials (in the Docker config file).
    #[command(
        after_help = "Examples:\n  echo \"$TOKEN\" | mod-wasm login registry.example -u me --password-stdin"
    )]
    Login(LoginArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  mod-wasm completions bash > ~/.local/share/bash-completion/completions/mod-wasm\n  mod-wasm completions zsh > ~/.zfunc/_mod-wasm"
    )]
    Completions(CompletionsArgs),
    /// Write the manual pages (for packagers).
    #[command(hide = true)]
    Man(ManArgs),
}

const DEPLOY_EXAMPLES: &str = "\
Examples:
  mod-wasm deploy app.kdl --root /var/lib/mod-wasm/myapp --url http://127.0.0.1
  mod-wasm deploy --bundle build/bundle --root /srv/releases --apachectl \"/usr/sbin/apache2 -f /etc/x.conf\" \\
      --url http://127.0.0.1:8080 --health /healthz
  mod-wasm deploy app.kdl --root /srv/releases --dry-run      # build + configtest only
  mod-wasm deploy app.kdl --debian        # the system Apache of Debian's apache2 package

The running configuration must include the current release once, at server level:
  IncludeOptional ROOT/current/wasm.conf
(--debian writes that line into /etc/apache2/conf-available/mod-wasm-APP.conf and runs a2enconf.)
Settings may also come from the manifest: deploy { root \"…\"; url \"…\"; keep 5; health \"/…\" };
flags override them.";

/// Where releases go and how to reach the running Apache (deploy and rollback). Each setting
/// left out comes from the manifest's `deploy { }` block, else its default.
#[derive(Debug, Args, Clone)]
pub struct LiveTarget {
    /// The deploy root [default: /var/lib/mod-wasm/APP].
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// The command that controls the running Apache; `-t`, `-k graceful`, … are appended
    /// [default: apache2ctl].
    #[arg(long, value_name = "CMD")]
    pub apachectl: Option<String>,
    /// Where the running server answers on this host (plain HTTP) [default: http://127.0.0.1].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A path that must answer 2xx after the switch (repeatable) [default: every route non-5xx].
    #[arg(long, value_name = "PATH")]
    pub health: Vec<String>,
    /// Wait this long for another deploy's lock (e.g. 30s, 5mi) instead of failing at once
    /// [default: 0].
    #[arg(long, value_name = "DURATION")]
    pub lock_wait: Option<String>,
    /// The system Apache of Debian's packages: the include goes into
    /// /etc/apache2/conf-available/mod-wasm-APP.conf (enabled with a2enconf), Apache is checked
    /// with Debian's environment and reloaded with apache2ctl.
    #[arg(long)]
    pub debian: bool,
}

/// `deploy`.
#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The manifest to build [default: app.kdl], unless --bundle is given.
    #[arg(value_name = "MANIFEST", conflicts_with = "bundle")]
    pub manifest: Option<PathBuf>,
    /// Deploy this already built bundle folder instead of building.
    #[arg(long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// The running Apache and the deploy root.
    #[command(flatten)]
    pub live: LiveTarget,
    /// Releases to keep on disk, the live one and the one before it included (they go last);
    /// failed releases count too [default: 5].
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Build and configtest the candidate; change nothing live.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip serving the candidate in a private Apache first.
    #[arg(long)]
    pub no_preflight: bool,
    /// Folder with template overrides (wasm.conf.j2, httpd.conf.j2).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The Apache module to load [default: $MOD_WASM_SO, the build tree, the system's modules].
    #[arg(long, value_name = "PATH")]
    pub mod_wasm_so: Option<PathBuf>,
    /// Registry switches.
    #[command(flatten)]
    pub oci: OciArgs,
    /// Deploying from a registry.
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// `deploy --from`: a bundle pushed with `push --bundle`, from a registry.
#[derive(Debug, Args, Clone, Default)]
pub struct FleetArgs {
    /// Deploy the bundle at this reference (oci://REG/REPO:TAG, or @sha256:…) instead of
    /// building; a tag is resolved to its digest first, and the digest is recorded.
    /// A MANIFEST given with --from is not built: only its `deploy { }` settings are used.
    #[arg(long, value_name = "oci://REF", conflicts_with = "bundle")]
    pub from: Option<String>,
    /// Keep running: poll the tag and deploy each digest it moves to (an agent, e.g. under
    /// systemd); stops on SIGTERM/SIGINT.
    #[arg(long, requires = "from")]
    pub follow: bool,
    /// How often --follow polls the tag, plus up to 10% jitter [default: 30s].
    #[arg(long, value_name = "DURATION", requires = "follow")]
    pub interval: Option<String>,
    /// Deploy only bundles signed by this key (PEM ECDSA P-256 public key, as `cosign verify
    /// --key` takes) [default: the manifest's `deploy { verify-key … }`].
    #[arg(long, value_name = "PUB.pem", requires = "from")]
    pub verify_key: Option<PathBuf>,
}

/// `sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The private key: PEM ECDSA P-256, PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`) or SEC1.
    #[arg(long, value_name = "KEY.pem")]
    pub key: PathBuf,
    /// What to sign: oci://REGISTRY/REPO@sha256:… (a tag is resolved to its digest first).
    #[arg(value_name = "oci://REF")]
    pub reference: String,
    /// Use plain HTTP for this registry (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Total deadline of each registry operation (e.g. 30s, 5mi, 1h): a registry that stalls or
    /// trickles ends it with oci::timeout [default: 5mi].
    #[arg(long, value_name = "DURATION", value_parser = crate::manifest::registry::parse_timeout)]
    pub registry_timeout: Option<std::time::Duration>,
}

/// `tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The artifact: oci://REGISTRY/REPO@sha256:… (or a tag, resolved to its digest first).
    #[arg(value_name = "oci://REF")]
    pub reference: String,
    /// The tag to point at it, in the same repository (e.g. stable).
    #[arg(value_name = "TAG")]
    pub tag: String,
    /// Use plain HTTP for this registry (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Total deadline of each registry operation (e.g. 30s, 5mi, 1h): a registry that stalls or
    /// trickles ends it with oci::timeout [default: 5mi].
    #[arg(long, value_name = "DURATION", value_parser = crate::manifest::registry::parse_timeout)]
    pub registry_timeout: Option<std::time::Duration>,
}

/// `releases`.
#[derive(Debug, Args)]
pub struct ReleasesArgs {
    /// The deploy root.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The server (`http://HOST[:PORT]`, the status path is added) or the full URL of its
    /// wasm-status page [default: http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

/// `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The release to put live [default: the previous good one].
    #[arg(value_name = "RELEASE")]
    pub release: Option<String>,
    /// Take the root, apachectl, url, … from this manifest's `deploy { }` block.
    #[arg(long, value_name = "MANIFEST")]
    pub manifest: Option<PathBuf>,
    /// The running Apache and the deploy root.
    #[command(flatten)]
    pub live: LiveTarget,
}

/// `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write the pages into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to write into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Overwrite existing starter files.
    #[arg(long)]
    pub force: bool,
}

/// `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The manifest.
    #[arg(default_value = "app.kdl")]
    pub manifest: PathBuf,
}

/// Registry switches shared by the commands that may fetch modules.
#[derive(Debug, Args, Clone, Default)]
pub struct OciArgs {
    /// Never use the network: OCI modules must be pinned and cached.
    #[arg(long)]
    pub offline: bool,
    /// Fail instead of changing the lock file.
    #[arg(long)]
    pub locked: bool,
    /// Use plain HTTP for this registry (repeatable), e.g. localhost:5000.
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Total deadline of each registry operation (e.g. 30s, 5mi, 1h): a registry that stalls or
    /// trickles ends it with oci::timeout [default: the manifest's `registry timeout=`, else 5mi].
    #[arg(long, value_name = "DURATION", value_parser = crate::manifest::registry::parse_timeout)]
    pub registry_timeout: Option<std::time::Duration>,
}

/// Where and how to build (shared by `build` and `up`).
#[derive(Debug, Args, Clone)]
pub struct BuildTarget {
    /// The manifest.
    #[arg(default_value = "app.kdl")]
    pub manifest: PathBuf,
    /// Bundle folder [default: `bundle` next to the manifest].
    #[arg(long, short, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Folder with template overrides (wasm.conf.j2, httpd.conf.j2).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
    /// The Apache module to load [default: $MOD_WASM_SO, the build tree, the system's modules].
    #[arg(long, value_name = "PATH")]
    pub mod_wasm_so: Option<PathBuf>,
    /// Modules compiled at once [default: number of CPUs].
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// Registry switches.
    #[command(flatten)]
    pub oci: OciArgs,
}

/// `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// What to build.
    #[command(flatten)]
    pub target: BuildTarget,
}

/// `up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// What to build.
    #[command(flatten)]
    pub target: BuildTarget,
    /// Address to listen on, overriding the manifest's `server listen=` (e.g. 127.0.0.1:9000).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Serve no wasm-status page (by default: at the manifest's `status` path, else at
    /// /.well-known/mod-wasm/status, for this host only).
    #[arg(long)]
    pub no_status: bool,
}

/// `pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The manifest.
    #[arg(default_value = "app.kdl")]
    pub manifest: PathBuf,
    /// Re-resolve tags (of every module, or of MODULE) instead of using the lock.
    #[arg(long, value_name = "MODULE", num_args = 0..=1, default_missing_value = "")]
    pub update: Option<String>,
    /// Registry switches.
    #[command(flatten)]
    pub oci: OciArgs,
}

/// `push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The module to push, then where: oci://REGISTRY/REPOSITORY:TAG (with --bundle, only
    /// where).
    #[arg(value_names = ["FILE.wasm", "oci://REF"], num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Push this bundle folder (from `mod-wasm build`) as one artifact: bundle.lock and every
    /// .wasm, no .cwasm.
    #[arg(long, value_name = "DIR", conflicts_with = "legacy_media_types")]
    pub bundle: Option<PathBuf>,
    /// Use the wasm-to-oci media types instead of the CNCF Wasm layout.
    #[arg(long)]
    pub legacy_media_types: bool,
    /// Use plain HTTP for this registry (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Total deadline of each registry operation (e.g. 30s, 5mi, 1h): a registry that stalls or
    /// trickles ends it with oci::timeout [default: 5mi].
    #[arg(long, value_name = "DURATION", value_parser = crate::manifest::registry::parse_timeout)]
    pub registry_timeout: Option<std::time::Duration>,
}

/// `login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry, e.g. registry.example or localhost:5000.
    pub registry: String,
    /// User name.
    #[arg(short, long)]
    pub username: String,
    /// Read the password from standard input.
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// Use plain HTTP for this registry (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
    /// Total deadline of each registry operation (e.g. 30s, 5mi, 1h): a registry that stalls or
    /// trickles ends it with oci::timeout [default: 5mi].
    #[arg(long, value_name = "DURATION", value_parser = crate::manifest::registry::parse_timeout)]
    pub registry_timeout: Option<std::time::Duration>,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
