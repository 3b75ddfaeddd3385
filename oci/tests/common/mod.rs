//! Test harness: a real Debian `docker-registry` on a free loopback port with a temporary
//! storage dir (optionally behind htpasswd), raw distribution-API requests for pushing layouts
//! the crate itself never writes, and real Wasm modules compiled from WAT.

#![allow(dead_code)]

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mod_wasm_oci::{Cache, Digest, DockerConfig, OciClient, RegistryOptions};

/// A running registry; killed when dropped.
pub struct Registry {
    pub addr: String,
    pub storage: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Registry {
    /// An open registry.
    pub fn start() -> Registry {
        Self::start_with(None, "127.0.0.1")
    }

    /// An open registry listening on `host` (an address of this machine).
    pub fn start_on(host: &str) -> Registry {
        Self::start_with(None, host)
    }

    /// A registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)), "127.0.0.1")
    }

    fn start_with(auth: Option<(&str, &str)>, host: &str) -> Registry {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        std::fs::create_dir_all(&storage).unwrap();
        let port = free_port();
        let addr = format!("{host}:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if let Some((user, password)) = auth {
            let htpasswd = dir.path().join("htpasswd");
            let out = Command::new("htpasswd")
                .arg("-Bbc")
                .arg(&htpasswd)
                .arg(user)
                .arg(password)
                .output()
                .expect("htpasswd (package apache2-utils) must be installed to test registry auth");
            assert!(
                out.status.success(),
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: mod-wasm-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry (Debian package docker-registry) must be installed: it could not be started");
        let mut registry = Registry {
            addr,
            storage,
            dir,
            child: Some(child),
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "docker-registry exited ({status}) before serving: {}",
                    self.log()
                );
            }
            if let Some(code) = http_status(&self.addr, "/v2/")
                && (code == 200 || code == 401)
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not answer on {} within 30s: {}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `oci://ADDR/REPO_AND_TAG`.
    pub fn reference(&self, repo_and_tag: &str) -> mod_wasm_oci::OciReference {
        format!("oci://{}/{repo_and_tag}", self.addr)
            .parse()
            .unwrap()
    }

    /// The file the registry stores blob `digest` in.
    pub fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status of a plain `GET path` on `addr`, or `None` when nothing answers.
fn http_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A real Wasm command module whose `_start` returns; `tag` makes each one distinct.
pub fn wasm_module(tag: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{tag}") (func (export "_start")))"#
    ))
    .expect("valid WAT")
}

/// A real Wasm component (a core module instantiated inside it, one lifted export); `tag` makes
/// each one distinct.
pub fn wasm_component(tag: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            (core module $m (memory 1) (data (i32.const 0) "{tag}") (func (export "f") (result i32) i32.const 7))
            (core instance $i (instantiate $m))
            (func (export "seven") (result u32) (canon lift (core func $i "f"))))"#
    ))
    .expect("valid component WAT")
}

/// A client with its own cache, no credentials (a config file that does not exist), or those
/// of `docker_config`.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn cache_root(&self) -> PathBuf {
        self.dir.path().join("cache")
    }

    pub fn docker_config(&self) -> DockerConfig {
        DockerConfig::at(self.dir.path().join("docker/config.json"))
    }

    pub fn client(&self) -> OciClient {
        OciClient::new(
            Cache::new(self.cache_root()),
            RegistryOptions {
                insecure: vec![],
                docker_config: Some(self.docker_config()),
                ..RegistryOptions::default()
            },
        )
        .unwrap()
    }
}

/// Raw distribution-API pushes, independent of the crate's push code.
pub struct RawPush {
    base: String,
    auth: Option<(String, String)>,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl RawPush {
    pub fn new(registry: &Registry) -> RawPush {
        let _ = rustls::crypto::ring::default_provider().install_default();
        RawPush {
            base: format!("http://{}", registry.addr),
            auth: None,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn req(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, url);
        match &self.auth {
            Some((u, p)) => r.basic_auth(u, Some(p)),
            None => r,
        }
    }

    /// Uploads a blob (POST + PUT, monolithic); returns its digest.
    pub fn blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::of(data);
        self.rt.block_on(async {
            let start = self
                .req(
                    reqwest::Method::POST,
                    &format!("{}/v2/{repo}/blobs/uploads/", self.base),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(
                start.status().as_u16(),
                202,
                "upload start: {:?}",
                start.text().await
            );
            let location = start.headers()["location"].to_str().unwrap().to_string();
            let location = if location.starts_with("http") {
                location
            } else {
                format!("{}{location}", self.base)
            };
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = self
                .req(
                    reqwest::Method::PUT,
                    &format!("{location}{sep}digest={digest}"),
                )
                .header("content-type", "application/octet-stream")
                .body(data.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(
                put.status().as_u16(),
                201,
                "blob put: {:?}",
                put.text().await
            );
        });
        digest
    }

    /// Uploads a manifest under `tag_or_digest`; returns its digest.
    pub fn manifest(
        &self,
        repo: &str,
        tag_or_digest: &str,
        media_type: &str,
        body: &serde_json::Value,
    ) -> Digest {
        let bytes = serde_json::to_vec(body).unwrap();
        let digest = Digest::of(&bytes);
        self.rt.block_on(async {
            let put = self
                .req(
                    reqwest::Method::PUT,
                    &format!("{}/v2/{repo}/manifests/{tag_or_digest}", self.base),
                )
                .header("content-type", media_type)
                .body(bytes)
                .send()
                .await
                .unwrap();
            assert_eq!(
                put.status().as_u16(),
                201,
                "manifest put: {:?}",
                put.text().await
            );
        });
        digest
    }

    /// Pushes an image manifest with `config` and `layers` (media type, bytes).
    pub fn image(
        &self,
        repo: &str,
        tag: &str,
        config: (&str, &[u8]),
        layers: &[(&str, &[u8])],
    ) -> Digest {
        let config_digest = self.blob(repo, config.1);
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|(mt, data)| {
                let d = self.blob(repo, data);
                serde_json::json!({"mediaType": mt, "digest": d.to_string(), "size": data.len()})
            })
            .collect();
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": config.0, "digest": config_digest.to_string(), "size": config.1.len()},
            "layers": layers,
        });
        self.manifest(
            repo,
            tag,
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        )
    }
}

/// Reads a file under a test's temp dir.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
