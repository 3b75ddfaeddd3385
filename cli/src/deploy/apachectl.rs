//! Driving the running Apache: the `--apachectl` command with `-t`, `-k graceful`, `-k start` and
//! `-D DUMP_INCLUDES` appended, split like a shell would (`"/usr/sbin/apache2 -f /etc/x.conf"`);
//! or, for the system Apache of Debian's packages ([`Apachectl::debian`]), `apache2` run with
//! Debian's environment for the checks and `apache2ctl graceful|start` for the switch.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The command that controls the running Apache.
#[derive(Clone, Debug)]
pub struct Apachectl {
    /// Runs `-t`, `-D DUMP_INCLUDES` (and, without `control`, `-k graceful|start`) appended.
    argv: Vec<String>,
    /// When set: graceful and start are this command with the word `graceful` or `start`
    /// appended (Debian's `apache2ctl`), instead of `argv` with `-k …`.
    control: Option<Vec<String>>,
    /// How messages name the command.
    shown: String,
}

/// Runs Debian's `apache2` as `apache2ctl` would — `envvars` sourced (`APACHE_RUN_USER`,
/// `APACHE_LOG_DIR`, … which the stock `apache2.conf` needs), `-d` the configuration folder, and
/// `APACHE_ARGUMENTS` — but with every argument passed on exactly as given (`"$@"`), whatever
/// the installed `apache2ctl` does with its own. `$APACHE_CONFDIR`, `$APACHE_ENVVARS` and
/// `$APACHE_HTTPD` are honoured as `apache2ctl` honours them.
const DEBIAN_APACHE2: &str = r#"c="${APACHE_CONFDIR:-/etc/apache2}"; . "${APACHE_ENVVARS:-$c/envvars}" && exec ${APACHE_HTTPD:-/usr/sbin/apache2} -d "$c" $APACHE_ARGUMENTS "$@""#;

/// A command that failed: what was run and what it said.
#[derive(Debug)]
pub struct Failed {
    /// The command line.
    pub command: String,
    /// Its exit status, stdout and stderr, as one text.
    pub output: String,
}

impl Apachectl {
    /// Splits `command` like a POSIX shell (quotes and backslashes; no expansions).
    pub fn parse(command: &str) -> Result<Apachectl, String> {
        let argv = shell_words(command)?;
        if argv.is_empty() {
            return Err("the apachectl command is empty".into());
        }
        Ok(Apachectl {
            shown: argv.join(" "),
            argv,
            control: None,
        })
    }

    /// The system Apache of Debian's `apache2` package: `-t` and `-D DUMP_INCLUDES` run
    /// `/usr/sbin/apache2` with Debian's environment (see [`DEBIAN_APACHE2`]); graceful and start
    /// are `apache2ctl graceful` and `apache2ctl start` (its own configtest first, and systemd
    /// when systemd runs Apache).
    pub fn debian() -> Apachectl {
        Apachectl {
            argv: ["sh", "-c", DEBIAN_APACHE2, "sh"]
                .map(str::to_string)
                .to_vec(),
            control: Some(vec!["apache2ctl".to_string()]),
            shown: "apache2 (with Debian's envvars)".to_string(),
        }
    }

    fn run(&self, extra: &[&str]) -> Result<Output, Failed> {
        self.run_argv(&self.argv, &self.shown, extra)
    }

    /// `graceful` or `start`: `apache2ctl WORD` for Debian, else `-k WORD` appended.
    fn control(&self, word: &str) -> Result<(), Failed> {
        match &self.control {
            Some(argv) => self.run_argv(argv, &argv.join(" "), &[word]).map(drop),
            None => self.run(&["-k", word]).map(drop),
        }
    }

    fn run_argv(&self, argv: &[String], shown: &str, extra: &[&str]) -> Result<Output, Failed> {
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).args(extra).env_remove("HTTP_PROXY");
        let line = format!("{shown} {}", extra.join(" "));
        match cmd.output() {
            Ok(out) if out.status.success() => Ok(out),
            Ok(out) => Err(Failed {
                command: line,
                output: format!(
                    "{}\n{}{}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            }),
            Err(e) => Err(Failed {
                command: line,
                output: e.to_string(),
            }),
        }
    }

    /// `-t` with the candidate's `wasm.conf` included before the configuration (`-C Include …`):
    /// the real configuration, modules, vhosts and all, with the candidate's directives and files
    /// checked too (`apachectl -t` validates every module file and mapped folder).
    pub fn configtest_with(&self, candidate_conf: &Path) -> Result<(), Failed> {
        // Quoted: Apache splits a directive's arguments at spaces.
        let include = format!(
            "Include \"{}\"",
            candidate_conf.display().to_string().replace('"', "\\\"")
        );
        self.run(&["-t", "-C", &include]).map(drop)
    }

    /// `-t`.
    pub fn configtest(&self) -> Result<(), Failed> {
        self.run(&["-t"]).map(drop)
    }

    /// `-k graceful` (Debian: `apache2ctl graceful`).
    pub fn graceful(&self) -> Result<(), Failed> {
        self.control("graceful")
    }

    /// `-k start` (Debian: `apache2ctl start`).
    pub fn start(&self) -> Result<(), Failed> {
        self.control("start")
    }

    /// Every file the running configuration includes (`-t -D DUMP_INCLUDES`).
    pub fn includes(&self) -> Result<Vec<PathBuf>, Failed> {
        let out = self.run(&["-t", "-D", "DUMP_INCLUDES"])?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text
            .lines()
            .filter_map(|l| {
                let l = l.trim();
                // "(*) /etc/apache2/apache2.conf" and "  (12) /srv/x/wasm.conf"
                l.strip_prefix('(')
                    .and_then(|r| r.split_once(')'))
                    .map(|(_, path)| PathBuf::from(path.trim()))
            })
            .collect())
    }
}

/// POSIX-shell-like word splitting: spaces separate, '…' and "…" quote, \ escapes.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("an unterminated ' in the apachectl command".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.push(chars.next().unwrap_or('\\')),
                        Some(c) => word.push(c),
                        None => return Err("an unterminated \" in the apachectl command".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().unwrap_or('\\'));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            shell_words(r#"/usr/sbin/apache2 -f "/tmp/a b/httpd.conf" -d '/x y' z\ w"#).unwrap(),
            [
                "/usr/sbin/apache2",
                "-f",
                "/tmp/a b/httpd.conf",
                "-d",
                "/x y",
                "z w"
            ]
        );
        assert!(shell_words("a 'b").is_err());
        assert!(Apachectl::parse("   ").is_err());
    }

    /// The Debian form passes every argument on as one word, `-C "Include …"` with a space in
    /// the path too, after sourcing the envvars of `$APACHE_CONFDIR` (a stand-in here).
    #[test]
    fn debian_form_sources_envvars_and_keeps_arguments_whole() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path();
        let log = conf.join("args.log");
        std::fs::write(
            conf.join("envvars"),
            "export FROM_ENVVARS=yes\nAPACHE_ARGUMENTS='-D FROM_ARGS'\n",
        )
        .unwrap();
        let fake = conf.join("apache2");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\n{{ echo \"env=$FROM_ENVVARS\"; for a in \"$@\"; do echo \"[$a]\"; done; }} > '{}'\n",
                log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            DEBIAN_APACHE2,
            "sh",
            "-t",
            "-C",
            "Include \"/a b/wasm.conf\"",
        ])
        .env("APACHE_CONFDIR", conf)
        .env("APACHE_HTTPD", &fake);
        assert!(cmd.status().unwrap().success());
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            format!(
                "env=yes\n[-d]\n[{}]\n[-D]\n[FROM_ARGS]\n[-t]\n[-C]\n[Include \"/a b/wasm.conf\"]\n",
                conf.display()
            )
        );
        let d = Apachectl::debian();
        assert_eq!(d.control.as_deref(), Some(&["apache2ctl".to_string()][..]));
    }
}
