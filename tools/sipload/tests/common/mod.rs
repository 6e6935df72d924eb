//! Helpers of the integration tests: the workspace's other binaries (wsecho, sipedged), free ports,
//! temporary directories, test certificates.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The newest `name` binary of the workspace's target directory (debug or release); built with
/// `cargo build -p PACKAGE` into a target directory of its own when there is none (so as not to wait
/// for the lock of the running `cargo test`).
pub fn workspace_bin(name: &str, package: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, p)) = built.iter().find(|(n, _)| n == name) {
        return p.clone();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let newest = ["debug", "release"]
        .iter()
        .map(|p| target.join(p).join(name))
        .filter_map(|p| {
            let t = p.metadata().and_then(|m| m.modified()).ok()?;
            Some((t, p))
        })
        .max_by_key(|(t, _)| *t);
    let path = match newest {
        Some((_, p)) => p,
        None => {
            let own = target.join("sipload-tests");
            let status = Command::new(env!("CARGO"))
                .args(["build", "-q", "-p", package, "--target-dir"])
                .arg(&own)
                .current_dir(workspace())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p {package} failed");
            own.join("debug").join(name)
        }
    };
    built.push((name.to_owned(), path.clone()));
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let stamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("sipload-{tag}-{}-{stamp}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `cmd` (stderr to `log`) and waits until 127.0.0.1:`port` accepts TCP.
pub fn start(mut cmd: Command, port: u16, log: &Path) -> Server {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("server starts");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// A test PKI: a CA certificate (PEM) and a leaf for `localhost` / 127.0.0.1 signed by it (PEM
/// chain and key), written into `dir`; returns (ca, cert, key) paths.
pub fn test_pki(dir: &TempDir, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("sipload test CA {tag}"));
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (
        dir.file(&format!("{tag}-ca.pem"), &ca_cert.pem()),
        dir.file(&format!("{tag}-cert.pem"), &leaf.pem()),
        dir.file(&format!("{tag}-key.pem"), &leaf_key.serialize_pem()),
    )
}

/// Runs sipload with `args` plus `--json FILE`; returns the output and the report (Null when none).
pub fn sipload_json(dir: &TempDir, args: &[&str]) -> (Output, serde_json::Value) {
    let json = dir.0.join(format!("run-{}.json", free_port()));
    let out = Command::new(env!("CARGO_BIN_EXE_sipload"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("sipload runs");
    let report = std::fs::read_to_string(&json)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    (out, report)
}

pub fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
