//! Driving the running Apache: the `--apachectl` command with `-t`, `-k graceful`, `-k start` and
//! `-D DUMP_INCLUDES` appended, split like a shell would (`"/usr/sbin/apache2 -f /etc/x.conf"`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The command that controls the running Apache.
#[derive(Clone, Debug)]
pub struct Apachectl {
    argv: Vec<String>,
}

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
        Ok(Apachectl { argv })
    }

    fn run(&self, extra: &[&str]) -> Result<Output, Failed> {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..])
            .args(extra)
            .env_remove("HTTP_PROXY");
        let line = format!("{} {}", self.argv.join(" "), extra.join(" "));
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
        let include = format!("Include {}", candidate_conf.display());
        self.run(&["-t", "-C", &include]).map(drop)
    }

    /// `-t`.
    pub fn configtest(&self) -> Result<(), Failed> {
        self.run(&["-t"]).map(drop)
    }

    /// `-k graceful`.
    pub fn graceful(&self) -> Result<(), Failed> {
        self.run(&["-k", "graceful"]).map(drop)
    }

    /// `-k start`.
    pub fn start(&self) -> Result<(), Failed> {
        self.run(&["-k", "start"]).map(drop)
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
}
