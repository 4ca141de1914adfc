//! Certificates and authentication for registries in tests: a CA and a server certificate
//! for 127.0.0.1 (made with openssl), an htpasswd file, and a token server issuing real
//! RS256-signed tokens that the reference registry verifies.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;

use super::sh;

/// A CA and a certificate for 127.0.0.1 signed by it.
pub struct Pki {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

/// Makes `<name>.key` and a self-signed `<name>.crt` with `subject` in `dir`.
fn self_signed(dir: &Path, name: &str, subject: &str) {
    let key = dir.join(format!("{name}.key")).display().to_string();
    let crt = dir.join(format!("{name}.crt")).display().to_string();
    sh(
        "openssl",
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-days", "2", "-subj", subject,
        ],
    );
}

/// Makes a fresh CA and server certificate.
pub fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).display().to_string();
    self_signed(dir.path(), "ca", "/CN=cipug test CA");
    sh(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &p("server.key"),
            "-out",
            &p("server.csr"),
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    sh(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &p("server.csr"),
            "-CA",
            &p("ca.crt"),
            "-CAkey",
            &p("ca.key"),
            "-CAcreateserial",
            "-out",
            &p("server.crt"),
            "-days",
            "2",
            "-extfile",
            &p("ext.cnf"),
        ],
    );
    Pki {
        ca: dir.path().join("ca.crt"),
        cert: dir.path().join("server.crt"),
        key: dir.path().join("server.key"),
        _dir: dir,
    }
}

/// An htpasswd file with one user.
pub fn htpasswd(dir: &Path, user: &str, password: &str) -> PathBuf {
    let path = dir.join("htpasswd");
    fs::write(&path, sh("htpasswd", &["-Bbn", user, password])).unwrap();
    path
}

/// An auth.json with credentials for `registry`.
pub fn auth_file(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    let path = dir.join("auth.json");
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    fs::write(
        &path,
        serde_json::json!({"auths": {registry: {"auth": auth}}}).to_string(),
    )
    .unwrap();
    path
}

/// One request the token server answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// Whether Basic credentials came with it.
    pub with_credentials: bool,
}

/// A token server for the registry's `auth.token` settings.
pub struct TokenServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The `service` the registry names.
    pub service: String,
    /// The `issuer` of the tokens.
    pub issuer: String,
    /// The signing certificate, for the registry's `rootcertbundle`.
    pub cert: PathBuf,
    /// Every request answered.
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    _dir: Arc<tempfile::TempDir>,
}

impl TokenServer {
    /// Starts the server on a free port.
    pub fn start() -> TokenServer {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let p = |name: &str| dir.path().join(name).display().to_string();
        self_signed(dir.path(), "sign", "/CN=cipug token signer");
        let der = std::process::Command::new("openssl")
            .args(["x509", "-in", &p("sign.crt"), "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let server = TokenServer {
            addr,
            service: "cipug-test-registry".into(),
            issuer: "cipug-test-issuer".into(),
            cert: dir.path().join("sign.crt"),
            requests: requests.clone(),
            _dir: dir.clone(),
        };
        let (service, issuer) = (server.service.clone(), server.issuer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut with_credentials = false;
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap_or(0) > 2 {
                    if header
                        .to_ascii_lowercase()
                        .starts_with("authorization: basic")
                    {
                        with_credentials = true;
                    }
                    header.clear();
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let query = target.split_once('?').map_or("", |(_, q)| q);
                let scopes: Vec<String> = query
                    .split('&')
                    .filter_map(|kv| kv.strip_prefix("scope="))
                    .map(percent_decode)
                    .collect();
                requests.lock().unwrap().push(TokenRequest {
                    scopes: scopes.clone(),
                    with_credentials,
                });
                let token = sign(
                    &dir.path().join("sign.key"),
                    &x5c,
                    &service,
                    &issuer,
                    &scopes,
                );
                let body = serde_json::json!({"token": token, "expires_in": 300}).to_string();
                let mut stream = stream;
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        server
    }

    /// The registry config section that trusts this server.
    pub fn registry_config(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            self.addr,
            self.service,
            self.issuer,
            self.cert.display()
        )
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A JWT granting every action asked for on every repository scope.
fn sign(key: &Path, x5c: &str, service: &str, issuer: &str, scopes: &[String]) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}))
        })
        .collect();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({"iss": issuer, "sub": "cipug-test", "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", scopes.len()), "access": access});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-binary", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let signature = child.wait_with_output().unwrap().stdout;
    format!("{input}.{}", b64(&signature))
}
