//! Plain HTTP on the WebSocket port: requests that are not a WebSocket upgrade. Serves the web phone
//! (deploy/webphone) at `/phone/`: from `[web] phone_dir` when configured, else the build embedded by build.rs,
//! else a page saying how to get it. Every other request, and every request asking for `Upgrade: websocket`, goes
//! to the WebSocket handshake.

mod request;
mod route;

use std::path::{Path, PathBuf};

use request::Method;
use route::{Route, route};

/// The web phone build.rs embedded (`FILES`, empty when it could not build it, and `NOT_BUILT` saying why).
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/webphone.rs"));
}

/// Largest file served: the whole response is queued on the connection at once and must stay well below the
/// connection's send-queue bound (1 MiB by default).
pub const MAX_FILE: u64 = 512 * 1024;

/// What the HTTP side serves.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Directory served at `/phone/` (`[web] phone_dir`); `None` serves the embedded phone.
    pub phone_dir: Option<PathBuf>,
}

impl WebConfig {
    /// The web side for `configured` (`[web] phone_dir`, `None` when not set): that directory when set, else the
    /// phone embedded at build time, else a page explaining how to get it. Logs which one `/phone/` serves.
    pub fn resolve(configured: Option<PathBuf>) -> Self {
        let cfg = Self {
            phone_dir: configured,
        };
        match cfg.phone() {
            Phone::Dir(dir) if dir.join("index.html").is_file() => {
                tracing::info!(dir = %dir.display(), "web phone at /phone/ from [web] phone_dir");
            }
            Phone::Dir(dir) => {
                tracing::warn!(dir = %dir.display(), "[web] phone_dir has no index.html: /phone/ answers 404");
            }
            Phone::Embedded(files) => {
                tracing::info!(
                    files = files.len(),
                    "web phone at /phone/ (embedded at build time)"
                );
            }
            Phone::Missing => tracing::info!(
                reason = embedded::NOT_BUILT.unwrap_or("no files"),
                "web phone not built into this binary: /phone/ explains how to get it"
            ),
        }
        cfg
    }

    /// Where the phone's files come from.
    fn phone(&self) -> Phone<'_> {
        match &self.phone_dir {
            Some(dir) => Phone::Dir(dir),
            None if embedded::FILES.is_empty() => Phone::Missing,
            None => Phone::Embedded(embedded::FILES),
        }
    }
}

/// The source of the phone's files.
#[derive(Debug, Clone, Copy)]
enum Phone<'a> {
    /// A directory on disk.
    Dir(&'a Path),
    /// Files compiled into the binary: (relative `/`-separated path, contents), sorted by path.
    Embedded(&'a [(&'a str, &'a [u8])]),
    /// No phone: `/phone/` explains how to get one.
    Missing,
}

/// The answer to `head` (the first bytes of a connection) when it is a complete HTTP request that is not a
/// WebSocket upgrade and that this module serves; `None` hands the bytes to the WebSocket handshake.
pub fn respond(head: &[u8], cfg: &WebConfig) -> Option<Vec<u8>> {
    respond_from(head, cfg.phone())
}

/// [`respond`] with the phone's files taken from `phone`.
fn respond_from(head: &[u8], phone: Phone<'_>) -> Option<Vec<u8>> {
    let req = request::parse(head)?;
    if req.websocket_upgrade {
        return None;
    }
    let head_only = req.method == Method::Head;
    let answer = match route(req.target) {
        Route::NotOurs => return None,
        Route::AddSlash => Answer::redirect(&format!("{}/", route::PREFIX)),
        Route::Refused(e) => Answer::text(400, "Bad Request", &format!("{e}\n")),
        Route::File(file) => match phone {
            Phone::Dir(dir) => dir_file(dir, &file),
            Phone::Embedded(files) => embedded_file(files, &file),
            Phone::Missing => not_built(file == Path::new("index.html")),
        },
    };
    Some(answer.into_bytes(head_only))
}

/// The phone's file `file` (relative, normal segments only) from the table `files`.
fn embedded_file(files: &[(&str, &[u8])], file: &Path) -> Answer {
    let name = file
        .iter()
        .map(|s| s.to_str())
        .collect::<Option<Vec<_>>>()
        .map(|segments| segments.join("/"));
    let found = name.and_then(|n| {
        let i = files.binary_search_by(|(p, _)| (*p).cmp(n.as_str())).ok()?;
        files.get(i).copied()
    });
    match found {
        Some((_, body)) if body.len() as u64 > MAX_FILE => too_large(),
        Some((path, body)) => Answer {
            status: (200, "OK"),
            content_type: content_type(Path::new(path)),
            location: None,
            body: body.to_vec(),
        },
        None => Answer::text(404, "Not Found", "no such file in the web phone\n"),
    }
}

/// The phone's file `file` (relative, normal segments only) from `dir`.
fn dir_file(dir: &Path, file: &Path) -> Answer {
    let is_index = file == Path::new("index.html");
    let Ok(root) = dir.canonicalize() else {
        return not_built(is_index);
    };
    // Symbolic links may not lead out of the directory either.
    let path = match root.join(file).canonicalize() {
        Ok(p) if p.starts_with(&root) => p,
        Ok(_) => return Answer::text(403, "Forbidden", "outside the web phone's directory\n"),
        Err(_) => return not_built(is_index),
    };
    match std::fs::metadata(&path) {
        Ok(m) if !m.is_file() => Answer::text(404, "Not Found", "not a file\n"),
        Ok(m) if m.len() > MAX_FILE => too_large(),
        Ok(_) => match std::fs::read(&path) {
            Ok(body) => Answer {
                status: (200, "OK"),
                content_type: content_type(&path),
                location: None,
                body,
            },
            Err(_) => Answer::text(500, "Internal Server Error", "file could not be read\n"),
        },
        Err(_) => not_built(is_index),
    }
}

/// A file over [`MAX_FILE`].
fn too_large() -> Answer {
    Answer::text(
        500,
        "Internal Server Error",
        &format!("file larger than {MAX_FILE} bytes is not served\n"),
    )
}

/// `/phone/` without a phone explains how to get one; other files are simply missing.
fn not_built(is_index: bool) -> Answer {
    if !is_index {
        return Answer::text(404, "Not Found", "no such file in the web phone\n");
    }
    Answer {
        status: (404, "Not Found"),
        content_type: "text/html; charset=utf-8",
        location: None,
        body: NOT_BUILT.as_bytes().to_vec(),
    }
}

const NOT_BUILT: &str = "<!doctype html>\n<meta charset=\"utf-8\">\n<title>sipedge web phone: not built</title>\n\
<h1>No web phone here</h1>\n\
<p>sipedged serves the web phone from <code>[web] phone_dir</code> when that is configured, else the phone \
embedded when sipedged was built. Neither holds one: the build had no npm on its PATH, the phone's build failed, \
or <code>SIPEDGE_NO_WEBPHONE</code> was set.</p>\n\
<p>Either install Node.js with npm and build sipedged again (the build bundles the phone with JsSIP from the npm \
registry and embeds it):</p>\n\
<pre>touch deploy/webphone/package.json &amp;&amp; cargo run --release -p sipedged</pre>\n\
<p>or build the phone on its own and set <code>[web] phone_dir</code> to the absolute path of \
<code>deploy/webphone/dist</code>:</p>\n\
<pre>cd deploy/webphone &amp;&amp; npm ci &amp;&amp; npm run build</pre>\n";

/// The Content-Type of a served file, by its extension.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("wav") => "audio/wav",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// An HTTP/1.1 response; the connection closes after it.
#[derive(Debug)]
struct Answer {
    status: (u16, &'static str),
    content_type: &'static str,
    location: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn text(code: u16, reason: &'static str, body: &str) -> Self {
        Self {
            status: (code, reason),
            content_type: "text/plain; charset=utf-8",
            location: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn redirect(to: &str) -> Self {
        Self {
            location: Some(to.to_owned()),
            ..Self::text(301, "Moved Permanently", &format!("see {to}\n"))
        }
    }

    fn into_bytes(self, head_only: bool) -> Vec<u8> {
        let (code, reason) = self.status;
        let location = self
            .location
            .map(|l| format!("Location: {l}\r\n"))
            .unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{location}\
             Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory holding a built phone and, beside it, a file that must stay unreachable.
    fn phone_tree(name: &str) -> (PathBuf, WebConfig) {
        let base = std::env::temp_dir().join(format!("sipedge-web-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dist = base.join("dist");
        std::fs::create_dir_all(dist.join("sub")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><title>phone</title>",
        )
        .unwrap();
        std::fs::write(dist.join("app.js"), "console.log('☎');").unwrap();
        std::fs::write(dist.join("style.css"), "body{}").unwrap();
        std::fs::write(base.join("secret.txt"), "secret").unwrap();
        let cfg = WebConfig {
            phone_dir: Some(dist),
        };
        (base, cfg)
    }

    fn get(path: &str, cfg: &WebConfig) -> Option<String> {
        get_from(path, cfg.phone())
    }

    fn get_from(path: &str, phone: Phone<'_>) -> Option<String> {
        let head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        respond_from(head.as_bytes(), phone).map(|r| String::from_utf8(r).unwrap())
    }

    /// A phone as build.rs embeds one: sorted by path.
    const TABLE: &[(&str, &[u8])] = &[
        ("app.js", "console.log('☎');".as_bytes()),
        ("img/logo.svg", b"<svg/>"),
        ("index.html", b"<!doctype html><title>embedded</title>"),
        ("style.css", b"body{}"),
    ];

    fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
        let (head, _) = response.split_once("\r\n\r\n")?;
        head.lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    #[test]
    fn serves_the_phone_files_with_their_types() {
        let (base, cfg) = phone_tree("files");
        let index = get("/phone/", &cfg).unwrap();
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert_eq!(
            header(&index, "Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body(&index), "<!doctype html><title>phone</title>");
        let js = get("/phone/app.js?v=2", &cfg).unwrap();
        assert_eq!(
            header(&js, "Content-Type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(header(&js, "Content-Length"), Some("19"));
        assert_eq!(body(&js), "console.log('☎');");
        let css = get("/phone/style.css", &cfg).unwrap();
        assert_eq!(
            header(&css, "Content-Type"),
            Some("text/css; charset=utf-8")
        );
        assert_eq!(header(&css, "Connection"), Some("close"));
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn head_has_the_headers_without_the_body() {
        let (base, cfg) = phone_tree("head");
        let r = respond(b"HEAD /phone/app.js HTTP/1.1\r\n\r\n", &cfg).unwrap();
        let r = String::from_utf8(r).unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(header(&r, "Content-Length"), Some("19"));
        assert!(r.ends_with("\r\n\r\n"), "{r}");
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn upgrades_and_other_paths_go_to_the_handshake() {
        let (base, cfg) = phone_tree("upgrade");
        let upgrade =
            b"GET /phone/ HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(respond(upgrade, &cfg), None);
        assert_eq!(get("/", &cfg), None);
        assert_eq!(get("/metrics", &cfg), None);
        assert_eq!(respond(b"GET /phone/ HTTP/1.1\r\nHost: h\r\n", &cfg), None);
        assert_eq!(respond(b"POST /phone/ HTTP/1.1\r\n\r\n", &cfg), None);
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn phone_without_slash_is_redirected() {
        let r = get("/phone", &WebConfig::default()).unwrap();
        assert!(r.starts_with("HTTP/1.1 301 "), "{r}");
        assert_eq!(header(&r, "Location"), Some("/phone/"));
    }

    #[test]
    fn traversal_never_reaches_outside_files() {
        let (base, cfg) = phone_tree("traversal");
        for path in [
            "/phone/../secret.txt",
            "/phone/%2e%2e/secret.txt",
            "/phone/%2E%2E/secret.txt",
            "/phone/..%2fsecret.txt",
            "/phone/sub/../../secret.txt",
            "/phone/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
        ] {
            let r = get(path, &cfg).unwrap();
            assert!(r.starts_with("HTTP/1.1 400 "), "{path}: {r}");
            assert!(
                !r.contains("secret\n") && !body(&r).ends_with("secret"),
                "{path}"
            );
        }
        let _ = std::fs::remove_dir_all(base);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let (base, cfg) = phone_tree("symlink");
        let dist = cfg.phone_dir.clone().unwrap();
        std::os::unix::fs::symlink(base.join("secret.txt"), dist.join("leak.txt")).unwrap();
        let r = get("/phone/leak.txt", &cfg).unwrap();
        assert!(r.starts_with("HTTP/1.1 403 "), "{r}");
        assert!(!body(&r).contains("secret"));
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn missing_files_and_directories_are_404() {
        let (base, cfg) = phone_tree("missing");
        assert!(
            get("/phone/nope.js", &cfg)
                .unwrap()
                .starts_with("HTTP/1.1 404 ")
        );
        let r = get("/phone/sub", &cfg).unwrap();
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn large_files_are_not_served() {
        let (base, cfg) = phone_tree("large");
        let dist = cfg.phone_dir.clone().unwrap();
        std::fs::write(dist.join("big.bin"), vec![0u8; MAX_FILE as usize + 1]).unwrap();
        let r = get("/phone/big.bin", &cfg).unwrap();
        assert!(r.starts_with("HTTP/1.1 500 "), "{}", &r[..40]);
        assert!(r.len() < 1024);
        let _ = std::fs::remove_dir_all(base);
    }

    #[test]
    fn unbuilt_phone_explains_how_to_build_it() {
        let nowhere = Path::new("/nonexistent/sipedge/webphone/dist");
        for phone in [Phone::Missing, Phone::Dir(nowhere)] {
            let r = get_from("/phone/", phone).unwrap();
            assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
            assert_eq!(header(&r, "Content-Type"), Some("text/html; charset=utf-8"));
            assert!(
                body(&r).contains("cd deploy/webphone &amp;&amp; npm ci &amp;&amp; npm run build"),
                "{r}"
            );
            assert!(body(&r).contains("cargo run --release -p sipedged"), "{r}");
            let js = get_from("/phone/app.js", phone).unwrap();
            assert!(js.starts_with("HTTP/1.1 404 "));
            assert!(!body(&js).contains("npm"));
        }
    }

    #[test]
    fn embedded_phone_is_served_with_its_types() {
        let phone = Phone::Embedded(TABLE);
        let index = get_from("/phone/", phone).unwrap();
        assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
        assert_eq!(
            header(&index, "Content-Type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(body(&index), "<!doctype html><title>embedded</title>");
        let js = get_from("/phone/app.js?v=1", phone).unwrap();
        assert!(js.starts_with("HTTP/1.1 200 OK\r\n"), "{js}");
        assert_eq!(
            header(&js, "Content-Type"),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(header(&js, "Content-Length"), Some("19"));
        assert_eq!(body(&js), "console.log('☎');");
        let css = get_from("/phone/style.css", phone).unwrap();
        assert_eq!(
            header(&css, "Content-Type"),
            Some("text/css; charset=utf-8")
        );
        let svg = get_from("/phone/img/logo.svg", phone).unwrap();
        assert_eq!(header(&svg, "Content-Type"), Some("image/svg+xml"));
        assert_eq!(body(&svg), "<svg/>");
        let head = respond_from(b"HEAD /phone/style.css HTTP/1.1\r\n\r\n", phone).unwrap();
        let head = String::from_utf8(head).unwrap();
        assert_eq!(header(&head, "Content-Length"), Some("6"));
        assert!(head.ends_with("\r\n\r\n"), "{head}");
    }

    #[test]
    fn embedded_phone_answers_404_for_unknown_files() {
        let phone = Phone::Embedded(TABLE);
        for path in [
            "/phone/nope.js",
            "/phone/img",
            "/phone/img/",
            "/phone/APP.JS",
            "/phone/img/logo.svg/x",
        ] {
            let r = get_from(path, phone).unwrap();
            assert!(r.starts_with("HTTP/1.1 404 "), "{path}: {r}");
            assert_eq!(body(&r), "no such file in the web phone\n", "{path}");
        }
    }

    #[test]
    fn embedded_phone_refuses_traversal() {
        let phone = Phone::Embedded(TABLE);
        for path in [
            "/phone/../index.html",
            "/phone/img/../index.html",
            "/phone/img/%2e%2e/index.html",
            "/phone/img%2flogo.svg",
            "/phone/./app.js",
        ] {
            let r = get_from(path, phone).unwrap();
            assert!(r.starts_with("HTTP/1.1 400 "), "{path}: {r}");
        }
    }

    #[test]
    fn embedded_files_over_the_limit_are_not_served() {
        let big = vec![b'x'; MAX_FILE as usize + 1];
        let table: &[(&str, &[u8])] = &[("big.js", &big), ("index.html", b"i")];
        let r = get_from("/phone/big.js", Phone::Embedded(table)).unwrap();
        assert!(r.starts_with("HTTP/1.1 500 "), "{}", &r[..40]);
        assert!(r.len() < 1024);
    }

    #[test]
    fn configured_directory_wins_over_the_embedded_phone() {
        let (base, cfg) = phone_tree("resolve");
        let resolved = WebConfig::resolve(cfg.phone_dir.clone());
        let r = get("/phone/", &resolved).unwrap();
        assert_eq!(body(&r), "<!doctype html><title>phone</title>");
        let _ = std::fs::remove_dir_all(base);
        assert!(WebConfig::resolve(None).phone_dir.is_none());
    }

    /// What build.rs generated is consistent: a reason exactly when there are no files, paths sorted (the lookup
    /// is a binary search), and a built phone has its page, script and style, linked from the page.
    #[test]
    fn build_embedded_a_whole_phone_or_said_why_not() {
        let files = embedded::FILES;
        assert_eq!(files.is_empty(), embedded::NOT_BUILT.is_some());
        assert!(files.windows(2).all(|w| w[0].0 < w[1].0));
        let r = get("/phone/", &WebConfig::default()).unwrap();
        if let Some(why) = embedded::NOT_BUILT {
            assert!(r.starts_with("HTTP/1.1 404 "), "{why}: {r}");
            return;
        }
        for name in ["index.html", "app.js", "style.css"] {
            assert!(files.iter().any(|(p, _)| *p == name), "{name} missing");
        }
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(body(&r).contains("src=\"app.js\""), "{r}");
        assert!(body(&r).contains("href=\"style.css\""), "{r}");
        let js = get("/phone/app.js", &WebConfig::default()).unwrap();
        assert!(js.contains("JsSIP"), "the bundle carries JsSIP");
    }
}
