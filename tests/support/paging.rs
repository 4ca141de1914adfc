//! A proxy in front of the reference registry that pages tag lists (`n=`, `last=`, `Link`)
//! as Docker Hub and newer registries do: distribution 2.8 ignores `n` for tag lists and
//! always answers the whole list. Everything else is passed through. It records every
//! request line.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// The proxy; its thread ends with the test process.
pub struct PagingProxy {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every request line seen, e.g. `GET /v2/a/tags/list?n=100`.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl PagingProxy {
    /// Starts a proxy for the registry at `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> PagingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, upstream) = (seen.clone(), upstream.clone());
                std::thread::spawn(move || serve(stream, &upstream, &seen));
            }
        });
        PagingProxy { addr, requests }
    }
}

fn serve(stream: TcpStream, upstream: &str, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let line = line.trim_end().to_owned();
    let mut accept = String::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("accept:") {
            accept = v.trim().to_owned();
        }
    }
    seen.lock().unwrap().push(line.clone());
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("http://{upstream}{path}");
    let mut out = stream;
    if path.ends_with("/tags/list") {
        let param = |k: &str| {
            query
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .map(str::to_owned)
        };
        let n: usize = param("n")
            .and_then(|n| n.parse().ok())
            .unwrap_or(usize::MAX);
        let last = param("last").unwrap_or_default();
        let mut answer = agent.get(&url).call().unwrap();
        let all: serde_json::Value =
            serde_json::from_slice(&answer.body_mut().read_to_vec().unwrap()).unwrap();
        let mut tags: Vec<String> = serde_json::from_value(all["tags"].clone()).unwrap();
        tags.sort();
        let rest: Vec<String> = tags.into_iter().filter(|t| *t > last).collect();
        let page: Vec<String> = rest.iter().take(n).cloned().collect();
        let link = if rest.len() > page.len() {
            format!(
                "Link: <{path}?last={}&n={n}>; rel=\"next\"\r\n",
                page.last().unwrap()
            )
        } else {
            String::new()
        };
        let body = serde_json::json!({"name": all["name"], "tags": page}).to_string();
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{link}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let request = match method {
        "HEAD" => agent.head(&url).header("Accept", &accept).call(),
        _ => agent.get(&url).header("Accept", &accept).call(),
    };
    let mut answer = request.unwrap();
    let mut head = format!("HTTP/1.1 {}\r\nConnection: close\r\n", answer.status());
    for name in ["content-type", "docker-content-digest"] {
        if let Some(v) = answer.headers().get(name) {
            head.push_str(&format!("{name}: {}\r\n", v.to_str().unwrap()));
        }
    }
    let body = if method == "HEAD" {
        let length = answer
            .headers()
            .get("content-length")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        Vec::new()
    } else {
        let body = answer.body_mut().read_to_vec().unwrap();
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        body
    };
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(&body);
}
