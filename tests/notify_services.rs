//! NOTIFY_URL's services against local receivers that check what each service's API
//! documents: method, path, headers and body of ntfy, gotify, discord, slack, telegram and
//! matrix (HTTP on 127.0.0.1, reached through the URL's own host and port or its `api`
//! parameter), and a small SMTP server for mail. The plain webhook keeps its JSON.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use cipug::adapters::notify::{Notification, Notifier};
use cipug::adapters::runner::SystemRunner;
use cipug::config::Config;
use serde_json::{json, Value};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header("Content-Type"),
            Some("application/json"),
            "{self:?}"
        );
        serde_json::from_str(&self.body).unwrap()
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers with the JSON
/// given for the first path prefix that matches (`{}` otherwise).
struct Receiver {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Receiver {
    fn new(answers: Vec<(&'static str, Value)>) -> Receiver {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let address = format!("127.0.0.1:{}", server.server_addr().to_ip().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for mut request in server.incoming_requests() {
                let mut body = String::new();
                request.as_reader().read_to_string(&mut body).unwrap();
                let url = request.url().to_owned();
                let answer = answers
                    .iter()
                    .find(|(prefix, _)| url.starts_with(prefix))
                    .map_or(json!({}), |(_, a)| a.clone());
                log.lock().unwrap().push(Seen {
                    method: request.method().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|h| (h.field.to_string(), h.value.to_string()))
                        .collect(),
                    url,
                    body,
                });
                let header = "Content-Type: application/json".parse::<tiny_http::Header>();
                let response = tiny_http::Response::from_string(answer.to_string())
                    .with_header(header.unwrap());
                request.respond(response).unwrap();
            }
        });
        Receiver { address, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn pin(c: char) -> String {
    format!(
        "docker.io/library/nginx@sha256:{}",
        c.to_string().repeat(64)
    )
}

/// Sends a run's notifications (one update, one rollback) to `notify_url`.
fn run(notify_url: &str) {
    let sources = cipug::config::Sources {
        env: [
            ("CIPUG_SERVICES_ROOT", "/srv"),
            ("CIPUG_NOTIFY_URL", notify_url),
            ("CIPUG_NOTIFY_TIMEOUT", "10"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        cwd: std::path::PathBuf::from("/"),
        ..Default::default()
    };
    let config = Config::load(&sources).unwrap();
    let runner = SystemRunner::new(config.timeouts);
    let notifier = Notifier::new(&config, &runner);
    let (a, b) = (pin('a'), pin('b'));
    notifier.send(&Notification::new(
        "web",
        "APP",
        Some(&a),
        Some(&b),
        "updated",
        "",
    ));
    notifier.send(&Notification::new(
        "db",
        "DB",
        Some(&a),
        Some(&b),
        "rolled back",
        "db is unhealthy",
    ));
    notifier.flush();
}

const SUMMARY_TITLE: &str = "cipug: 1 updated, 1 rolled back";
const SUMMARY: &str = "web APP: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb updated\n\
                       db DB: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb rolled back";
const ROLLBACK: &str = "DB: docker.io/library/nginx@sha256:aaaa";

/// The requests sorted by body, the summary first (the two are sent at the same time).
fn by_summary_first(mut seen: Vec<Seen>) -> Vec<Seen> {
    seen.sort_by_key(|s| !s.body.contains("web APP"));
    seen
}

#[test]
fn ntfy_gets_the_text_as_body_with_a_title_header() {
    let receiver = Receiver::new(vec![]);
    run(&format!(
        "ntfy://bob:pw@{}/alerts?scheme=http&tags=whale",
        receiver.address
    ));
    let seen = by_summary_first(receiver.seen());
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for s in &seen {
        assert_eq!((s.method.as_str(), s.url.as_str()), ("POST", "/alerts"));
        assert_eq!(s.header("Authorization"), Some("Basic Ym9iOnB3"));
        assert_eq!(s.header("Tags"), Some("whale"));
        assert!(s.header("Content-Type").unwrap().starts_with("text/plain"));
        assert_eq!(s.header("Priority"), Some("high"));
    }
    assert_eq!(seen[0].header("Title"), Some(SUMMARY_TITLE));
    assert_eq!(seen[0].body, SUMMARY);
    assert_eq!(seen[1].header("Title"), Some("cipug: db rolled back"));
    assert!(seen[1].body.starts_with(ROLLBACK), "{}", seen[1].body);
    assert!(seen[1].body.ends_with(": db is unhealthy"));
}

#[test]
fn gotify_gets_title_message_and_priority() {
    let receiver = Receiver::new(vec![("/message", json!({"id": 1}))]);
    run(&format!(
        "gotify://{}/AppTok3n/?disabletls=yes&priority=2",
        receiver.address
    ));
    let seen = by_summary_first(receiver.seen());
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.url.as_str()),
            ("POST", "/message?token=AppTok3n")
        );
    }
    assert_eq!(
        seen[0].json(),
        json!({"title": SUMMARY_TITLE, "message": SUMMARY, "priority": 8})
    );
    let rollback = seen[1].json();
    assert_eq!(rollback["title"], "cipug: db rolled back");
    assert!(rollback["message"].as_str().unwrap().starts_with(ROLLBACK));
}

#[test]
fn discord_and_slack_webhooks_get_content_and_text() {
    let receiver = Receiver::new(vec![]);
    let api = format!("http://{}", receiver.address);
    run(&format!(
        "discord://d1sc0rdTok@112233?api={api} slack://hook:T000-B111-S3cr3t@webhook?api={api}"
    ));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    let discord: Vec<&Seen> = seen.iter().filter(|s| s.url.starts_with("/api")).collect();
    let slack: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.url.starts_with("/services"))
        .collect();
    assert_eq!((discord.len(), slack.len()), (2, 2), "{seen:#?}");
    for s in discord {
        assert_eq!(
            (s.method.as_str(), s.url.as_str()),
            ("POST", "/api/webhooks/112233/d1sc0rdTok")
        );
        let json = s.json();
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
        let content = json["content"].as_str().unwrap();
        assert!(
            content == format!("**{SUMMARY_TITLE}**\n{SUMMARY}")
                || content.starts_with(&format!("**cipug: db rolled back**\n{ROLLBACK}")),
            "{content}"
        );
    }
    for s in slack {
        assert_eq!(
            (s.method.as_str(), s.url.as_str()),
            ("POST", "/services/T000/B111/S3cr3t")
        );
        let text = s.json()["text"].as_str().unwrap().to_owned();
        assert!(
            text == format!("*{SUMMARY_TITLE}*\n{SUMMARY}")
                || text.starts_with("*cipug: db rolled back*\n"),
            "{text}"
        );
    }
}

#[test]
fn telegram_gets_one_send_message_per_chat() {
    let receiver = Receiver::new(vec![("/bot", json!({"ok": true}))]);
    run(&format!(
        "telegram://110201543:AAHdqTcv@telegram?chats=42,@ops&api=http://{}",
        receiver.address
    ));
    let seen = receiver.seen();
    assert_eq!(seen.len(), 4, "{seen:#?}");
    let mut chats = Vec::new();
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.url.as_str()),
            ("POST", "/bot110201543:AAHdqTcv/sendMessage")
        );
        let json = s.json();
        assert_eq!(json.as_object().unwrap().len(), 2, "{json}");
        chats.push(json["chat_id"].as_str().unwrap().to_owned());
        let text = json["text"].as_str().unwrap();
        assert!(
            text == format!("{SUMMARY_TITLE}\n{SUMMARY}")
                || text.starts_with(&format!("cipug: db rolled back\n{ROLLBACK}")),
            "{text}"
        );
    }
    chats.sort();
    assert_eq!(chats, ["42", "42", "@ops", "@ops"]);
}

#[test]
fn matrix_logs_in_resolves_an_alias_and_sends_room_messages() {
    let receiver = Receiver::new(vec![
        (
            "/_matrix/client/v3/login",
            json!({"access_token": "syt_fresh", "user_id": "@bot:local"}),
        ),
        (
            "/_matrix/client/v3/directory/room/",
            json!({"room_id": "!fromalias:local"}),
        ),
        ("/_matrix/client/v3/rooms/", json!({"event_id": "$e"})),
    ]);
    run(&format!(
        "matrix://bot:hunter2@{}/?rooms=!direct:local,%23ops:local&disabletls=yes",
        receiver.address
    ));
    let seen = receiver.seen();
    let logins: Vec<&Seen> = seen.iter().filter(|s| s.url.ends_with("/login")).collect();
    assert_eq!(logins.len(), 2, "one per message: {seen:#?}");
    assert_eq!(logins[0].method, "POST");
    assert_eq!(
        logins[0].json(),
        json!({"type": "m.login.password", "identifier": {"type": "m.id.user", "user": "bot"}, "password": "hunter2"})
    );
    let aliases: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.url.contains("/directory/"))
        .collect();
    assert_eq!(aliases[0].method, "GET");
    assert_eq!(
        aliases[0].url,
        "/_matrix/client/v3/directory/room/%23ops:local"
    );
    let sent: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(sent.len(), 4, "two rooms, two messages: {seen:#?}");
    let mut rooms = Vec::new();
    let mut txns = Vec::new();
    for s in &sent {
        assert_eq!(s.header("Authorization"), Some("Bearer syt_fresh"));
        let rest = s.url.strip_prefix("/_matrix/client/v3/rooms/").unwrap();
        let (room, txn) = rest.split_once("/send/m.room.message/").unwrap();
        rooms.push(room.to_owned());
        txns.push(txn.to_owned());
        let json = s.json();
        assert_eq!(json["msgtype"], "m.text");
        let body = json["body"].as_str().unwrap();
        assert!(
            body == format!("{SUMMARY_TITLE}\n{SUMMARY}")
                || body.starts_with("cipug: db rolled back\n"),
            "{body}"
        );
    }
    rooms.sort();
    assert_eq!(
        rooms,
        [
            "!direct:local",
            "!direct:local",
            "!fromalias:local",
            "!fromalias:local"
        ]
    );
    txns.sort();
    txns.dedup();
    assert_eq!(txns.len(), 4, "a transaction id per event");
}

#[test]
fn matrix_with_an_access_token_sends_to_every_joined_room() {
    let receiver = Receiver::new(vec![
        (
            "/_matrix/client/v3/joined_rooms",
            json!({"joined_rooms": ["!only:local"]}),
        ),
        ("/_matrix/client/v3/rooms/", json!({"event_id": "$e"})),
    ]);
    run(&format!(
        "matrix://:syt_given@{}?disabletls=yes",
        receiver.address
    ));
    let seen = receiver.seen();
    assert!(seen.iter().all(|s| !s.url.ends_with("/login")), "{seen:#?}");
    let sent: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(sent.len(), 2, "{seen:#?}");
    for s in sent {
        assert!(
            s.url
                .starts_with("/_matrix/client/v3/rooms/%21only:local/send/m.room.message/")
                || s.url
                    .starts_with("/_matrix/client/v3/rooms/!only:local/send/m.room.message/"),
            "{}",
            s.url
        );
        assert_eq!(s.header("Authorization"), Some("Bearer syt_given"));
    }
}

#[test]
fn the_plain_webhook_keeps_one_json_post_per_notification_next_to_other_urls() {
    let hook = Receiver::new(vec![]);
    let ntfy = Receiver::new(vec![]);
    run(&format!(
        "http://{}/hook/s3cret\n  ntfy://{}/t?scheme=http",
        hook.address, ntfy.address
    ));
    let seen = hook.seen();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    for s in &seen {
        assert_eq!(
            (s.method.as_str(), s.url.as_str()),
            ("POST", "/hook/s3cret")
        );
        let json = s.json();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["title", "message", "body", "service", "entry", "old_pin", "new_pin", "outcome"]
        );
        assert_eq!(s.header("Title"), json["title"].as_str());
    }
    assert_eq!(ntfy.seen().len(), 2);
}

/// A small SMTP server: `sessions` sessions one after another, plain text, AUTH PLAIN;
/// the lines it got.
fn smtp_server(sessions: usize) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for _ in 0..sessions {
            let (stream, _) = listener.accept().unwrap();
            smtp_session(stream, &mut lines);
        }
        lines
    });
    (port, handle)
}

/// Answers one SMTP session on `stream`, adding the lines it got to `lines`.
fn smtp_session(stream: std::net::TcpStream, lines: &mut Vec<String>) {
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    out.write_all(b"220 mail.test ESMTP\r\n").unwrap();
    let mut in_data = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        lines.push(line.clone());
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if in_data {
            if line == "." {
                in_data = false;
                b"250 queued\r\n"
            } else {
                continue;
            }
        } else if upper.starts_with("EHLO") {
            b"250-mail.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            b"235 2.7.0 authenticated\r\n"
        } else if upper.starts_with("DATA") {
            in_data = true;
            b"354 go on\r\n"
        } else if upper.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n").unwrap();
            break;
        } else {
            b"250 ok\r\n"
        };
        out.write_all(answer).unwrap();
    }
}

#[test]
fn smtp_mail_is_sent_with_auth_plain_from_and_to() {
    let (port, server) = smtp_server(2);
    run(&format!(
        "smtp://me:pa55@127.0.0.1:{port}/?from=cipug@example.org&to=ops@example.org,dev@example.org&encryption=none"
    ));
    let lines = server.join().unwrap();
    let has = |want: &str| lines.iter().any(|l| l == want);
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode("\0me\0pa55");
    assert!(has(&format!("AUTH PLAIN {plain}")), "{lines:#?}");
    assert!(has("MAIL FROM:<cipug@example.org>"), "{lines:#?}");
    assert!(has("RCPT TO:<ops@example.org>"), "{lines:#?}");
    assert!(has("RCPT TO:<dev@example.org>"), "{lines:#?}");
    assert!(has(&format!("Subject: {SUMMARY_TITLE}")), "{lines:#?}");
    assert!(has("Subject: cipug: db rolled back"), "{lines:#?}");
    assert!(has("From: cipug@example.org"), "{lines:#?}");
    let text = lines.join("\n");
    assert!(
        text.contains("web APP: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb updated"),
        "{text}"
    );
}
