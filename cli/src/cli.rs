//! The command line: every command, argument and flag (clap derive), with examples in `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  mod-wasm init myapp                 # a starter manifest and module in ./myapp
  mod-wasm check myapp/app.kdl        # validate the manifest
  mod-wasm build myapp/app.kdl        # precompile modules, write myapp/bundle/
  mod-wasm up myapp/app.kdl           # build and serve with Apache (Ctrl-C stops)
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
    /// Fetch the manifest's OCI modules into the cache and pin them in the lock file.
    #[command(
        after_help = "Examples:\n  mod-wasm pull                       # every oci:// module of ./app.kdl\n  mod-wasm pull app.kdl --update      # re-resolve every tag\n  mod-wasm pull app.kdl --update py   # re-resolve one module"
    )]
    Pull(PullArgs),
    /// Push a .wasm module to an OCI registry (CNCF Wasm artifact layout).
    #[command(
        after_help = "Examples:\n  mod-wasm push build/hello.wasm oci://localhost:5000/wasm/hello:1.0 --insecure localhost:5000\n  mod-wasm push hello.wasm oci://registry.example/wasm/hello:1.0 --legacy-media-types"
    )]
    Push(PushArgs),
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
    Man(crate::commands::man::ManArgs),
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
    /// The module to push.
    #[arg(value_name = "FILE.wasm")]
    pub file: PathBuf,
    /// Where: oci://REGISTRY/REPOSITORY:TAG.
    #[arg(value_name = "oci://REF")]
    pub reference: String,
    /// Use the wasm-to-oci media types instead of the CNCF Wasm layout.
    #[arg(long)]
    pub legacy_media_types: bool,
    /// Use plain HTTP for this registry (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub insecure: Vec<String>,
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
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: clap_complete::Shell,
}
