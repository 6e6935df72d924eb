//! Builds the web phone (deploy/webphone: JsSIP bundled by esbuild) with npm and embeds it in the binary, so that
//! `cargo run -p sipedged` serves a working phone at `/phone/` and an installed binary carries it.
//!
//! Steps: `npm ci` into deploy/webphone/node_modules (skipped while node_modules is newer than the lock file),
//! then `npm run build -- --out $OUT_DIR/webphone`, then `$OUT_DIR/webphone.rs` lists every built file with
//! `include_bytes!`. JsSIP comes from the npm registry and is never copied into the source tree.
//!
//! Without npm, when a step fails (no network, say), or with `SIPEDGE_NO_WEBPHONE=1`, the generated list is empty:
//! the daemon builds all the same and `/phone/` explains how to get the phone.

use std::fmt::Write as _;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Longest a single npm command may take (an unreachable registry must not stall the build for long).
const NPM_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    let phone = manifest.join("../../deploy/webphone");
    println!("cargo:rerun-if-env-changed=SIPEDGE_NO_WEBPHONE");
    let built = out.join("webphone");
    let result = if skip_requested() {
        Err("SIPEDGE_NO_WEBPHONE was set".to_owned())
    } else if !phone.join("package.json").is_file() {
        // Outside the source tree (a packaged crate): nothing to build, nothing to watch.
        println!("cargo:rerun-if-changed=build.rs");
        Err("deploy/webphone was not beside the crate".to_owned())
    } else {
        for input in ["src", "package.json", "package-lock.json", "build.mjs"] {
            println!("cargo:rerun-if-changed={}", phone.join(input).display());
        }
        build_phone(&phone, &built, &out).inspect_err(|why| {
            println!("cargo:warning=web phone not embedded: {why}");
            println!(
                "cargo:warning=/phone/ will explain how to build it; to retry here: \
                 touch deploy/webphone/package.json and build again"
            );
        })
    };
    let code = match result {
        Ok(()) => generated(&built, &files_under(&built), None),
        Err(why) => generated(&built, &[], Some(&why)),
    };
    std::fs::write(out.join("webphone.rs"), code).expect("write OUT_DIR/webphone.rs");
}

/// `SIPEDGE_NO_WEBPHONE` set to anything but empty or `0`.
fn skip_requested() -> bool {
    std::env::var_os("SIPEDGE_NO_WEBPHONE").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Install the phone's npm packages when needed, then bundle it into `built`; `Err` says why not.
fn build_phone(phone: &Path, built: &Path, out: &Path) -> Result<(), String> {
    if !installed(phone) {
        npm(
            phone,
            &[
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--fetch-retries=1",
                "--fetch-timeout=60000",
            ],
            &out.join("npm-ci.log"),
        )?;
    }
    let target = built.to_str().ok_or("OUT_DIR is not UTF-8")?;
    npm(
        phone,
        &["run", "--silent", "build", "--", "--out", target],
        &out.join("npm-build.log"),
    )?;
    if built.join("index.html").is_file() && built.join("app.js").is_file() {
        Ok(())
    } else {
        Err(format!(
            "npm run build left no index.html and app.js in {}",
            built.display()
        ))
    }
}

/// node_modules was installed after the last change of package.json and package-lock.json (npm writes its
/// hidden lock file node_modules/.package-lock.json on every install).
fn installed(phone: &Path) -> bool {
    let mtime = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(done) = mtime(phone.join("node_modules").join(".package-lock.json")) else {
        return false;
    };
    ["package.json", "package-lock.json"]
        .iter()
        .all(|f| mtime(phone.join(f)).is_some_and(|t: SystemTime| t <= done))
}

/// Run `npm args` in `dir` with its output in `log`; `Err` when npm is missing, fails, or outlives
/// [`NPM_TIMEOUT`].
fn npm(dir: &Path, args: &[&str], log: &Path) -> Result<(), String> {
    let what = format!("npm {}", args.first().copied().unwrap_or_default());
    let output = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let errors = output
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = match Command::new("npm")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err("npm not found on PATH".into()),
        Err(e) => return Err(format!("{what}: {e}")),
    };
    let deadline = Instant::now() + NPM_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} took longer than {NPM_TIMEOUT:?}"));
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
    };
    if status.success() {
        return Ok(());
    }
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let first = text.lines().find(|l| !l.trim().is_empty());
    Err(format!(
        "{what} failed ({status}): {} (whole output in {})",
        first.unwrap_or("no output").trim(),
        log.display()
    ))
}

/// Every regular file below `root`, as `/`-separated relative paths, sorted; hidden files are left out.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut dirs = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let rel = format!("{prefix}{name}");
            match entry.file_type() {
                Ok(t) if t.is_dir() => dirs.push((entry.path(), format!("{rel}/"))),
                Ok(t) if t.is_file() => found.push(rel),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// The Rust source of the embedded file table, and why it is empty when it is.
fn generated(root: &Path, files: &[String], not_built: Option<&str>) -> String {
    let mut code = format!(
        "/// Why build.rs did not embed the web phone; `None` when it did.\n\
         pub static NOT_BUILT: Option<&str> = {not_built:?};\n\
         /// The built web phone: (path relative to `/phone/`, contents), sorted by path; empty when not built.\n\
         pub static FILES: &[(&str, &[u8])] = &[\n"
    );
    for rel in files {
        let path = root.join(rel);
        let _ = writeln!(
            code,
            "    ({rel:?}, include_bytes!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    code
}
