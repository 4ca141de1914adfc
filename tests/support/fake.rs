//! A small fake registry for fault injection: each repository name picks a misbehaviour
//! (the real registry cannot be made to fail on purpose). It records every request.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A manifest body the fake serves.
pub const BODY: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2},"layers":[]}"#;

/// The digest of [`BODY`].
pub fn body_digest() -> String {
    format!("sha256:{:x}", Sha256::digest(BODY.as_bytes()))
}

/// The fake registry; stops accepting when dropped (its thread ends with the test process).
pub struct FakeRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every request line seen, e.g. `HEAD /v2/busy/manifests/latest`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeRegistry {
    /// Starts the fake on a free port.
    pub fn start() -> FakeRegistry {
        FakeRegistry::start_with_challenge(None)
    }

    /// Starts the fake; with `challenge`, requests without a Bearer token get 401 and this
    /// `WWW-Authenticate` value.
    pub fn start_with_challenge(challenge: Option<String>) -> FakeRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = seen.clone();
                let challenge = challenge.clone();
                std::thread::spawn(move || serve(stream, &seen, challenge.as_deref()));
            }
        });
        FakeRegistry { addr, requests }
    }

    /// How many requests started with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>, challenge: Option<&str>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut header = String::new();
    let mut bearer = false;
    while reader.read_line(&mut header).unwrap_or(0) > 2 {
        bearer |= header
            .to_ascii_lowercase()
            .starts_with("authorization: bearer");
        header.clear();
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    let attempt = {
        let mut seen = seen.lock().unwrap();
        seen.push(format!("{method} {path}"));
        seen.iter()
            .filter(|r| **r == format!("{method} {path}"))
            .count()
    };
    let repo = path
        .strip_prefix("/v2/")
        .and_then(|p| p.split("/manifests/").next())
        .unwrap_or("");
    let digest = body_digest();
    let ok_headers = format!("Content-Type: application/vnd.oci.image.manifest.v1+json\r\nDocker-Content-Digest: {digest}\r\n");
    let error_body =
        |code: &str, msg: &str| format!(r#"{{"errors":[{{"code":"{code}","message":"{msg}"}}]}}"#);
    let (status, headers, body): (&str, String, String) = match repo {
        _ if challenge.is_some() && !bearer => (
            "401 Unauthorized",
            format!("WWW-Authenticate: {}\r\n", challenge.unwrap_or_default()),
            error_body("UNAUTHORIZED", "authentication required"),
        ),
        "" => ("200 OK", String::new(), "{}".into()),
        "good" | "unpullable" | "hangs" => ("200 OK", ok_headers, BODY.into()),
        "noauth" => (
            "401 Unauthorized",
            String::new(),
            error_body("UNAUTHORIZED", "authentication required"),
        ),
        "missing" => (
            "404 Not Found",
            String::new(),
            error_body("MANIFEST_UNKNOWN", "manifest unknown"),
        ),
        "busy" if attempt == 1 => (
            "429 Too Many Requests",
            "Retry-After: 1\r\n".into(),
            String::new(),
        ),
        "busy" => ("200 OK", ok_headers, BODY.into()),
        "broken" => ("500 Internal Server Error", String::new(), "oops".into()),
        "slow" => {
            std::thread::sleep(Duration::from_secs(4));
            ("200 OK", ok_headers, BODY.into())
        }
        "garbage" => (
            "200 OK",
            "Docker-Content-Digest: sha256:not-a-digest\r\n".into(),
            BODY.into(),
        ),
        "nodigest" => ("200 OK", String::new(), BODY.into()),
        // A login page where a manifest should be, with and without saying so.
        "html" => (
            "200 OK",
            "Content-Type: text/html\r\n".into(),
            "<!doctype html><title>Sign in</title>".into(),
        ),
        "typeless" => ("200 OK", String::new(), "<html>Sign in</html>".into()),
        "hang" => {
            std::thread::sleep(Duration::from_secs(600));
            ("200 OK", ok_headers, BODY.into())
        }
        "throttled" => (
            "429 Too Many Requests",
            "Retry-After: 60\r\n".into(),
            error_body("TOOMANYREQUESTS", "pull rate limit reached"),
        ),
        "redirect" => (
            "307 Temporary Redirect",
            "Location: http://127.0.0.2:1/v2/good/manifests/latest\r\n".into(),
            String::new(),
        ),
        "liar" => (
            "200 OK",
            if method == "GET" {
                format!("Docker-Content-Digest: sha256:{}\r\n", "1".repeat(64))
            } else {
                String::new()
            },
            BODY.into(),
        ),
        "huge" => ("200 OK", String::new(), "x".repeat(5 << 20)),
        "ctrlheader" => (
            "200 OK",
            format!("Docker-Content-Digest: {digest}\x01\r\n"),
            BODY.into(),
        ),
        _ => (
            "404 Not Found",
            String::new(),
            error_body("NAME_UNKNOWN", "repository name not known to registry"),
        ),
    };
    let mut stream = stream;
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    );
    if method != "HEAD" {
        response.push_str(&body);
    }
    let _ = stream.write_all(response.as_bytes());
}

/// A registry that accepts connections and never answers (its listener is never served).
pub struct Silent {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _listener: TcpListener,
}

impl Silent {
    /// Starts listening.
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Silent {
            addr: listener.local_addr().unwrap().to_string(),
            _listener: listener,
        }
    }
}

/// A token server on 127.0.0.2 that answers every request with `body`, or never when
/// `body` is `None`. It records the requests' `Authorization` headers.
pub struct TokenServer {
    /// `127.0.0.2:PORT`.
    pub addr: String,
}

impl TokenServer {
    /// Starts the token server.
    pub fn start(body: Option<&'static str>) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.2:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap_or(0) > 2 {
                        line.clear();
                    }
                    let Some(body) = body else {
                        std::thread::sleep(Duration::from_secs(600));
                        return;
                    };
                    let mut stream = stream;
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        TokenServer { addr }
    }
}

/// An HTTPS server (Python's, with `cert` and `key`) that answers `/v2/` with 200 and
/// every other path with a redirect to `location`: a registry that tries to move a client
/// to plain HTTP. Ends with the test process (and after 10 minutes at most).
pub struct TlsRedirect {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: std::process::Child,
}

const TLS_REDIRECT: &str = r#"
import http.server, ssl, sys, threading
cert, key, location = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        if self.path == "/v2/":
            self.send_response(200)
        else:
            self.send_response(307)
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_GET = do_HEAD = answer
    def log_message(self, *a): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print("127.0.0.1:%d" % server.server_address[1], flush=True)
threading.Timer(600, server.shutdown).start()
server.serve_forever()
"#;

impl TlsRedirect {
    /// Starts the server.
    pub fn start(cert: &std::path::Path, key: &std::path::Path, location: &str) -> TlsRedirect {
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", TLS_REDIRECT])
            .arg(cert)
            .arg(key)
            .arg(location)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut addr = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut addr)
            .unwrap();
        TlsRedirect {
            addr: addr.trim().to_owned(),
            child,
        }
    }
}

impl Drop for TlsRedirect {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
