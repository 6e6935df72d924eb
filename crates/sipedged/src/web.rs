//! Plain HTTP on the WebSocket port: requests that are not a WebSocket upgrade. Serves the built web phone
//! (deploy/webphone) at `/phone/`, or, when it has not been built, a page saying how to build it. Every other
//! request, and every request asking for `Upgrade: websocket`, goes to the WebSocket handshake.

mod request;
mod route;

use std::path::{Path, PathBuf};

use request::Method;
use route::{Route, route};

/// Largest file served: the whole response is queued on the connection at once and must stay well below the
/// connection's send-queue bound (1 MiB by default).
pub const MAX_FILE: u64 = 512 * 1024;

/// What the HTTP side serves.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// Directory served at `/phone/`.
    pub phone_dir: Option<PathBuf>,
}

/// The answer to `head` (the first bytes of a connection) when it is a complete HTTP request that is not a
/// WebSocket upgrade and that this module serves; `None` hands the bytes to the WebSocket handshake.
pub fn respond(head: &[u8], cfg: &WebConfig) -> Option<Vec<u8>> {
    let req = request::parse(head)?;
    if req.websocket_upgrade {
        return None;
    }
    let head_only = req.method == Method::Head;
    let answer = match route(req.target) {
        Route::NotOurs => return None,
        Route::AddSlash => Answer::redirect(&format!("{}/", route::PREFIX)),
        Route::Refused(e) => Answer::text(400, "Bad Request", &format!("{e}\n")),
        Route::File(file) => phone_file(cfg.phone_dir.as_deref(), &file),
    };
    Some(answer.into_bytes(head_only))
}

/// The phone's file `file` (relative, normal segments only) from `dir`.
fn phone_file(dir: Option<&Path>, file: &Path) -> Answer {
    let is_index = file == Path::new("index.html");
    let Some(root) = dir.and_then(|d| d.canonicalize().ok()) else {
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
        Ok(m) if m.len() > MAX_FILE => Answer::text(
            500,
            "Internal Server Error",
            &format!("file larger than {MAX_FILE} bytes is not served\n"),
        ),
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

/// `/phone/` of a phone that has not been built explains how to build it; other files are simply missing.
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
<h1>The web phone has not been built</h1>\n\
<p>sipedge serves the web phone from <code>deploy/webphone/dist</code> (or from <code>[web] phone_dir</code> in its \
configuration). Build it once, then reload this page:</p>\n\
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
        let head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        respond(head.as_bytes(), cfg).map(|r| String::from_utf8(r).unwrap())
    }

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
        for cfg in [
            WebConfig::default(),
            WebConfig {
                phone_dir: Some(PathBuf::from("/nonexistent/sipedge/webphone/dist")),
            },
        ] {
            let r = get("/phone/", &cfg).unwrap();
            assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
            assert_eq!(header(&r, "Content-Type"), Some("text/html; charset=utf-8"));
            assert!(
                body(&r).contains("cd deploy/webphone &amp;&amp; npm ci &amp;&amp; npm run build")
            );
            let js = get("/phone/app.js", &cfg).unwrap();
            assert!(js.starts_with("HTTP/1.1 404 "));
            assert!(!body(&js).contains("npm"));
        }
    }
}
