//! Sending a [`Message`] to a chat service of NOTIFY_URL over HTTP, as each service's API
//! documents it: ntfy (the text as body, a Title header), gotify (`/message`), discord and
//! slack webhooks, telegram's `sendMessage`, and matrix's `m.room.message` events.

use std::time::Duration;

use serde_json::{json, Value};
use url::Url;

use crate::adapters::notify::message::Message;
use crate::formats::notify_url::{HttpAuth, MatrixLogin, Target};

/// Why a notification did not reach its service. It may name parts of the URL: the caller
/// cuts the secrets out of its message.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The request failed, or the service answered 400 or above.
    #[error(transparent)]
    Http(#[from] ureq::Error),
    /// The service's address is not a URL.
    #[error("{base}: {error}")]
    Address {
        /// The address.
        base: String,
        /// What the URL parser says.
        #[source]
        error: url::ParseError,
    },
    /// The service's address cannot have a path.
    #[error("{0}: not a base URL")]
    NotABase(String),
    /// A matrix login without its token.
    #[error("the login answer has no access_token")]
    NoAccessToken,
    /// A matrix room alias without a room.
    #[error("{0}: no room_id")]
    NoRoom(String),
}

/// Sends `message` to `target` within `limit`. Mail and the JSON webhook are sent
/// elsewhere. The error may name parts of the URL: the caller cuts the secrets out.
pub fn send(target: &Target, message: &Message, limit: Duration) -> Result<(), SendError> {
    let http = Http::new(limit);
    let titled = format!("{}\n{}", message.title, message.text);
    match target {
        Target::Ntfy {
            base,
            topic,
            auth,
            priority,
            tags,
        } => {
            let url = endpoint(base, &[topic])?;
            let mut request = http
                .agent
                .post(url.as_str())
                .header("Title", &message.title);
            let urgent = message.urgent.then_some("high");
            if let Some(priority) = priority.as_deref().or(urgent) {
                request = request.header("Priority", priority);
            }
            if let Some(tags) = tags {
                request = request.header("Tags", tags);
            }
            if let Some(auth) = auth {
                request = request.header("Authorization", authorization(auth));
            }
            let request = request.header("Content-Type", "text/plain; charset=utf-8");
            answer(request.send(message.text.as_bytes())).map(drop)
        }
        Target::Gotify {
            base,
            token,
            priority,
        } => {
            let mut url = endpoint(base, &["message"])?;
            url.query_pairs_mut().append_pair("token", token);
            // Failures are raised to gotify's "high" band (8) unless the URL asks for more.
            let priority = if message.urgent {
                (*priority).max(8)
            } else {
                *priority
            };
            let body =
                json!({"title": message.title, "message": message.text, "priority": priority});
            http.post(&url, &body).map(drop)
        }
        Target::Discord { api, id, token } => {
            let url = endpoint(api, &["api", "webhooks", id, token])?;
            let content = format!("**{}**\n{}", message.title, message.text);
            http.post(&url, &json!({ "content": content })).map(drop)
        }
        Target::Slack { api, path } => {
            let [team, bot, secret] = path;
            let url = endpoint(api, &["services", team, bot, secret])?;
            let text = format!("*{}*\n{}", message.title, message.text);
            http.post(&url, &json!({ "text": text })).map(drop)
        }
        Target::Telegram { api, token, chats } => {
            let url = endpoint(api, &[&format!("bot{token}"), "sendMessage"])?;
            for chat in chats {
                http.post(&url, &json!({"chat_id": chat, "text": titled}))?;
            }
            Ok(())
        }
        Target::Matrix { base, login, rooms } => matrix(&http, (base, login, rooms), &titled),
        Target::Webhook { .. } | Target::Smtp(_) => Ok(()),
    }
}

/// Logs in (unless given an access token), finds the rooms (aliases resolved, none
/// named: every joined room) and sends `text` to each as an `m.text` message.
fn matrix(
    http: &Http,
    (base, login, rooms): (&str, &MatrixLogin, &[String]),
    text: &str,
) -> Result<(), SendError> {
    let client = |parts: &[&str]| {
        let mut all = vec!["_matrix", "client", "v3"];
        all.extend_from_slice(parts);
        endpoint(base, &all)
    };
    let token = match login {
        MatrixLogin::Token(token) => token.clone(),
        MatrixLogin::Password { user, password } => {
            let body = json!({
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": user},
                "password": password,
            });
            let answer = http.post(&client(&["login"])?, &body)?;
            answer["access_token"]
                .as_str()
                .ok_or(SendError::NoAccessToken)?
                .to_owned()
        }
    };
    let bearer = format!("Bearer {token}");
    let get = |url: Url| -> Result<Value, SendError> {
        let response = http
            .agent
            .get(url.as_str())
            .header("Authorization", &bearer)
            .call();
        answer(response)
    };
    let mut ids = Vec::new();
    for room in rooms {
        if room.starts_with('#') {
            let answer = get(client(&["directory", "room", room])?)?;
            let id = answer["room_id"].as_str();
            ids.push(
                id.ok_or_else(|| SendError::NoRoom(room.clone()))?
                    .to_owned(),
            );
        } else {
            ids.push(room.clone());
        }
    }
    if rooms.is_empty() {
        let answer = get(client(&["joined_rooms"])?)?;
        let joined = answer["joined_rooms"].as_array().into_iter().flatten();
        ids.extend(joined.filter_map(Value::as_str).map(str::to_owned));
    }
    for id in &ids {
        let txn = transaction_id();
        let url = client(&["rooms", id, "send", "m.room.message", &txn])?;
        let body = json!({"msgtype": "m.text", "body": text});
        let request = http
            .agent
            .put(url.as_str())
            .header("Authorization", &bearer);
        answer(json_body(request, &body))?;
    }
    Ok(())
}

/// A transaction id unique to this process and moment, so that a retried request is not
/// sent twice and two messages are never taken for one.
fn transaction_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("cipug.{}.{nanos}.{n}", std::process::id())
}

/// The `Authorization` header of `auth`.
fn authorization(auth: &HttpAuth) -> String {
    use base64::Engine;
    match auth {
        HttpAuth::Basic { user, password } => {
            let pair = format!("{user}:{password}");
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        HttpAuth::Bearer(token) => format!("Bearer {token}"),
    }
}

/// `base` with `parts` appended as path segments, each percent-encoded (room ids carry
/// `!` and `:`, aliases `#`).
fn endpoint(base: &str, parts: &[&str]) -> Result<Url, SendError> {
    let mut url = Url::parse(base).map_err(|error| SendError::Address {
        base: base.to_owned(),
        error,
    })?;
    url.path_segments_mut()
        .map_err(|()| SendError::NotABase(base.to_owned()))?
        .pop_if_empty()
        .extend(parts);
    Ok(url)
}

/// An HTTP agent bounded by the time left.
struct Http {
    agent: ureq::Agent,
}

impl Http {
    fn new(limit: Duration) -> Http {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(limit))
            .build()
            .new_agent();
        Http { agent }
    }

    /// POSTs `body` as JSON; the answer as JSON (null when it is not).
    fn post(&self, url: &Url, body: &Value) -> Result<Value, SendError> {
        answer(json_body(self.agent.post(url.as_str()), body))
    }
}

/// Sends `body` as JSON.
fn json_body(
    request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    body: &Value,
) -> Result<ureq::http::Response<ureq::Body>, ureq::Error> {
    request
        .header("Content-Type", "application/json")
        .send(body.to_string().as_bytes())
}

/// The answer's body as JSON, null when it is not JSON; an error for a failed request or
/// an HTTP status of 400 and above.
fn answer(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Value, SendError> {
    let mut response = response?;
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}
