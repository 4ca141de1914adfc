//! `NOTIFY_URL`: one or more notification URLs, separated by white space, in the forms
//! shoutrrr (watchtower's and diun's notification library) gives them: `ntfy://`,
//! `gotify://`, `discord://`, `slack://` (webhook), `telegram://`, `matrix://`, `smtp://`,
//! and the plain `http(s)://` webhook. Parsed into [`Target`]s before a run starts, so a
//! mistyped URL is a settings error and not a lost notification. Secrets (tokens,
//! passwords, topics) never leave this module unredacted: errors and [`NotifyUrl::shown`]
//! carry scheme and host only. Pure: no I/O.

use percent_encoding::percent_decode_str;
use url::Url;

/// One parsed `NOTIFY_URL` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyUrl {
    /// What to send to.
    pub target: Target,
    /// The URL as messages and `cipug config` show it: [`redact`]ed.
    pub shown: String,
    /// The parts of the URL that are secret (tokens, passwords), to be cut out of error
    /// messages a service or library gives back.
    pub secrets: Vec<String>,
}

/// Where a notification goes and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `http(s)://...`: the JSON POST of each notification, as it always was.
    Webhook {
        /// The URL as given.
        url: String,
    },
    /// `ntfy://[user:pass@|:token@]host/topic`: POST `<base>/<topic>`, the text as body.
    Ntfy {
        /// `https://host[:port]` (`?scheme=http` for plain HTTP).
        base: String,
        /// The topic.
        topic: String,
        /// Basic or bearer authentication.
        auth: Option<HttpAuth>,
        /// The `priority` parameter (1 to 5, or min..max), passed on as the header.
        priority: Option<String>,
        /// The `tags` parameter, passed on as the header.
        tags: Option<String>,
    },
    /// `gotify://host[:port][/path]/token`: POST `<base>/message?token=<token>`.
    Gotify {
        /// `https://host[:port][/path]` (`?disabletls=yes` for plain HTTP).
        base: String,
        /// The application token.
        token: String,
        /// The `priority` parameter (default 0, as shoutrrr).
        priority: i64,
    },
    /// `discord://token@webhookid`: POST `<api>/api/webhooks/<id>/<token>`.
    Discord {
        /// `https://discord.com`, or the `api` parameter.
        api: String,
        /// The webhook id.
        id: String,
        /// The webhook token.
        token: String,
    },
    /// `slack://hook:<T>-<B>-<secret>@webhook`: POST `<api>/services/<T>/<B>/<secret>`.
    Slack {
        /// `https://hooks.slack.com`, or the `api` parameter.
        api: String,
        /// The three parts of the webhook path.
        path: [String; 3],
    },
    /// `telegram://<bot token>@telegram?chats=<chat>[,<chat>]`: POST
    /// `<api>/bot<token>/sendMessage` per chat.
    Telegram {
        /// `https://api.telegram.org`, or the `api` parameter (a local Bot API server).
        api: String,
        /// The bot token (`<id>:<secret>`).
        token: String,
        /// Chat ids or `@channel` names.
        chats: Vec<String>,
    },
    /// `matrix://[user]:password@host[:port]/?rooms=<room>[,<room>]`: an empty user makes
    /// the password an access token.
    Matrix {
        /// `https://host[:port]` (`?disabletls=yes` for plain HTTP).
        base: String,
        /// How to log in.
        login: MatrixLogin,
        /// Room ids (`!id:server`) and aliases (`#alias:server`); none: every joined room.
        rooms: Vec<String>,
    },
    /// `smtp://[user:pass@]host[:port]/?from=<address>&to=<address>[,<address>]`.
    Smtp(Mail),
}

/// HTTP authentication from a URL's user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpAuth {
    /// `user:pass@`.
    Basic {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// `:token@`.
    Bearer(String),
}

/// How cipug logs in to a Matrix homeserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatrixLogin {
    /// `m.login.password` with the user and password, for an access token.
    Password {
        /// The user (localpart or full id).
        user: String,
        /// The password.
        password: String,
    },
    /// An access token given as the password with an empty user.
    Token(String),
}

/// A mail server and the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The server.
    pub host: String,
    /// Its port (default 25).
    pub port: u16,
    /// User and password for AUTH, if given.
    pub credentials: Option<(String, String)>,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// How the connection is protected.
    pub encryption: Encryption,
}

/// How an SMTP connection is protected (shoutrrr's `encryption` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encryption {
    /// Plain SMTP (`encryption=none`, or `usestarttls=no` without credentials).
    None,
    /// STARTTLS when the server offers it (`auto` without credentials).
    StartTlsIfOffered,
    /// STARTTLS or fail (`explicittls`; `auto` with credentials: a password never goes out
    /// in the clear because someone stripped STARTTLS from the server's answer).
    StartTls,
    /// TLS from the first byte (`implicittls`; `auto` on port 465).
    Tls,
}

/// The forms, as errors name them.
const FORMS: &[(&str, &str)] = &[
    ("ntfy", "ntfy://[user:password@]host/topic[?scheme=http]"),
    (
        "gotify",
        "gotify://host[:port][/path]/token[?disabletls=yes]",
    ),
    ("discord", "discord://token@webhookid"),
    ("slack", "slack://hook:<T...>-<B...>-<secret>@webhook"),
    (
        "telegram",
        "telegram://<bot token>@telegram?chats=<chat>[,<chat>]",
    ),
    (
        "matrix",
        "matrix://[user]:password@host[:port]/?rooms=<room>[,<room>]",
    ),
    (
        "smtp",
        "smtp://[user:password@]host[:port]/?from=<address>&to=<address>[,<address>]",
    ),
    ("https", "https://host/path (a JSON POST)"),
];

/// Parses `NOTIFY_URL`: URLs separated by white space (commas belong to the URLs: telegram
/// chats, mail recipients and matrix rooms are comma lists).
pub fn parse_all(text: &str) -> Result<Vec<NotifyUrl>, String> {
    text.split_whitespace().map(parse).collect()
}

/// Parses one URL.
pub fn parse(text: &str) -> Result<NotifyUrl, String> {
    let shown = redact(text);
    let fail = |scheme: &str, problem: &str| {
        let form = FORMS
            .iter()
            .find(|(s, _)| *s == scheme)
            .map_or_else(String::new, |(_, f)| format!("; the form is `{f}`"));
        format!("NOTIFY_URL: `{shown}`: {problem}{form}")
    };
    let url = Url::parse(text).map_err(|e| {
        let forms: Vec<&str> = FORMS.iter().map(|(s, _)| *s).collect();
        format!(
            "NOTIFY_URL: `{shown}`: not a URL ({e}); one of {}:// is expected",
            forms.join("://, ")
        )
    })?;
    let scheme = url.scheme().to_owned();
    let parts = Parts::of(&url);
    let target = match scheme.as_str() {
        "http" | "https" => Ok(Target::Webhook {
            url: text.to_owned(),
        }),
        "ntfy" => ntfy(&parts),
        "gotify" => gotify(&parts),
        "discord" => discord(&parts),
        "slack" => slack(&parts),
        "telegram" => telegram(&parts),
        "matrix" => matrix(&parts),
        "smtp" => smtp(&parts),
        other => {
            let forms: Vec<&str> = FORMS.iter().map(|(s, _)| *s).collect();
            return Err(format!(
                "NOTIFY_URL: `{shown}`: `{other}://` is not a known form; one of {}:// is expected",
                forms.join("://, ")
            ));
        }
    }
    .map_err(|problem| fail(&scheme, &problem))?;
    let mut secrets: Vec<String> = [&parts.user, &parts.password]
        .into_iter()
        .chain(&parts.path)
        .chain(parts.query.iter().map(|(_, v)| v))
        .filter(|s| s.len() >= 4)
        .cloned()
        .collect();
    if let Target::Telegram { token, .. } | Target::Discord { token, .. } = &target {
        secrets.push(token.clone());
    }
    Ok(NotifyUrl {
        target,
        shown,
        secrets,
    })
}

/// A URL taken apart, percent-decoded.
struct Parts {
    user: String,
    password: String,
    host: String,
    port: Option<u16>,
    path: Vec<String>,
    query: Vec<(String, String)>,
}

impl Parts {
    fn of(url: &Url) -> Parts {
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        Parts {
            user: decode(url.username()),
            password: url.password().map(decode).unwrap_or_default(),
            host: url.host_str().map(decode).unwrap_or_default(),
            port: url.port(),
            path: url
                .path_segments()
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .map(decode)
                .collect(),
            query: url
                .query_pairs()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.into_owned()))
                .collect(),
        }
    }

    /// The first of the query parameters `names`.
    fn param(&self, names: &[&str]) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    }

    /// `host[:port]`.
    fn authority(&self) -> Result<String, String> {
        if self.host.is_empty() {
            return Err("no host".into());
        }
        Ok(match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        })
    }

    /// `https://` unless `disabletls=yes`.
    fn tls_scheme(&self) -> Result<&'static str, String> {
        match self.param(&["disabletls"]) {
            None => Ok("https"),
            Some(v) => yes(v, "disabletls").map(|off| if off { "http" } else { "https" }),
        }
    }

    /// The `api` parameter, or the service's own address.
    fn api(&self, default: &str) -> Result<String, String> {
        match self.param(&["api"]) {
            None => Ok(default.to_owned()),
            Some(api) if api.starts_with("https://") || api.starts_with("http://") => {
                Ok(api.trim_end_matches('/').to_owned())
            }
            Some(_) => Err("`api` must be an http:// or https:// address".into()),
        }
    }

    /// The comma list `names`.
    fn list(&self, names: &[&str]) -> Vec<String> {
        self.param(names)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn yes(value: &str, name: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(format!("`{name}` must be yes or no")),
    }
}

fn ntfy(p: &Parts) -> Result<Target, String> {
    let scheme = match p.param(&["scheme"]).unwrap_or("https") {
        s @ ("http" | "https") => s,
        _ => return Err("`scheme` must be http or https".into()),
    };
    let [topic] = p.path.as_slice() else {
        return Err("one topic is expected as the path".into());
    };
    let auth = match (p.user.as_str(), p.password.as_str()) {
        ("", "") => None,
        ("", token) => Some(HttpAuth::Bearer(token.to_owned())),
        (user, password) => Some(HttpAuth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }),
    };
    Ok(Target::Ntfy {
        base: format!("{scheme}://{}", p.authority()?),
        topic: topic.clone(),
        auth,
        priority: p.param(&["priority"]).map(str::to_owned),
        tags: p.param(&["tags"]).map(str::to_owned),
    })
}

fn gotify(p: &Parts) -> Result<Target, String> {
    let Some((token, path)) = p.path.split_last() else {
        return Err("no application token (the last part of the path)".into());
    };
    let priority = match p.param(&["priority"]) {
        None => 0,
        Some(v) => v
            .parse()
            .map_err(|_| "`priority` must be a number".to_owned())?,
    };
    let mut base = format!("{}://{}", p.tls_scheme()?, p.authority()?);
    for part in path {
        base.push('/');
        base.push_str(part);
    }
    Ok(Target::Gotify {
        base,
        token: token.clone(),
        priority,
    })
}

fn discord(p: &Parts) -> Result<Target, String> {
    if p.user.is_empty() || p.host.is_empty() || !p.password.is_empty() {
        return Err("a token and a webhook id are expected".into());
    }
    Ok(Target::Discord {
        api: p.api("https://discord.com")?,
        id: p.host.clone(),
        token: p.user.clone(),
    })
}

fn slack(p: &Parts) -> Result<Target, String> {
    if p.user != "hook" {
        return Err("only the webhook form (`hook:` tokens) is supported".into());
    }
    let parts: Vec<&str> = p.password.split('-').collect();
    let [team, bot, secret] = parts.as_slice() else {
        return Err("the webhook token must be three parts joined by `-`".into());
    };
    if [team, bot, secret].iter().any(|s| s.is_empty()) {
        return Err("the webhook token must be three parts joined by `-`".into());
    }
    Ok(Target::Slack {
        api: p.api("https://hooks.slack.com")?,
        path: [(*team).to_owned(), (*bot).to_owned(), (*secret).to_owned()],
    })
}

fn telegram(p: &Parts) -> Result<Target, String> {
    if p.user.is_empty() || p.password.is_empty() {
        return Err("a bot token `<id>:<secret>` is expected before the `@`".into());
    }
    let chats = p.list(&["chats", "channels"]);
    if chats.is_empty() {
        return Err("no `chats`".into());
    }
    Ok(Target::Telegram {
        api: p.api("https://api.telegram.org")?,
        token: format!("{}:{}", p.user, p.password),
        chats,
    })
}

fn matrix(p: &Parts) -> Result<Target, String> {
    let login = match (p.user.as_str(), p.password.as_str()) {
        (_, "") => return Err("a password or access token is expected".into()),
        ("", token) => MatrixLogin::Token(token.to_owned()),
        (user, password) => MatrixLogin::Password {
            user: user.to_owned(),
            password: password.to_owned(),
        },
    };
    let rooms = p
        .list(&["rooms", "room"])
        .into_iter()
        .map(|r| {
            // shoutrrr's rule: what is not a room id is an alias, `#` optional.
            if r.starts_with('!') || r.starts_with('#') {
                r
            } else {
                format!("#{r}")
            }
        })
        .collect();
    Ok(Target::Matrix {
        base: format!("{}://{}", p.tls_scheme()?, p.authority()?),
        login,
        rooms,
    })
}

fn smtp(p: &Parts) -> Result<Target, String> {
    let from = p
        .param(&["fromaddress", "from"])
        .filter(|f| f.contains('@'))
        .ok_or("no `from` address")?;
    let to = p.list(&["toaddresses", "to"]);
    if to.is_empty() || to.iter().any(|t| !t.contains('@')) {
        return Err("`to` must be one or more addresses".into());
    }
    let credentials = (!p.user.is_empty() || !p.password.is_empty())
        .then(|| (p.user.clone(), p.password.clone()));
    let port = p.port.unwrap_or(25);
    let starttls = match p.param(&["usestarttls"]) {
        Some(v) => yes(v, "usestarttls")?,
        None => true,
    };
    let encryption = match p
        .param(&["encryption"])
        .unwrap_or("auto")
        .to_ascii_lowercase()
        .as_str()
    {
        "none" => Encryption::None,
        "explicittls" => Encryption::StartTls,
        "implicittls" => Encryption::Tls,
        "auto" if port == 465 => Encryption::Tls,
        "auto" if credentials.is_some() => Encryption::StartTls,
        "auto" if starttls => Encryption::StartTlsIfOffered,
        "auto" => Encryption::None,
        _ => return Err("`encryption` must be none, explicittls, implicittls or auto".into()),
    };
    if credentials.is_some() && encryption == Encryption::None && p.host != "localhost" {
        // Refused rather than sent: the password would cross the network in the clear.
        let loopback = p
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
        if !loopback {
            return Err("a password without TLS is sent only to localhost".into());
        }
    }
    Ok(Target::Smtp(Mail {
        host: p.authority().map(|_| p.host.clone())?,
        port,
        credentials,
        from: from.to_owned(),
        to,
        encryption,
    }))
}

/// A URL as shown in messages and `cipug config`: scheme and host only. User info, path
/// (webhook tokens live there: `/hooks/<token>`, ntfy topics), query and fragment may all
/// hold secrets.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<redacted>".to_owned();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if rest.len() > authority.len() && !matches!(&rest[authority.len()..], "/" | "") {
        format!("{scheme}://{host}/<redacted>")
    } else {
        format!("{scheme}://{host}")
    }
}

/// Every URL of a `NOTIFY_URL` value [`redact`]ed, separated by spaces.
pub fn redact_all(text: &str) -> String {
    text.split_whitespace()
        .map(redact)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        parse(url).unwrap_or_else(|e| panic!("{url}: {e}")).target
    }

    #[test]
    fn each_form_is_parsed() {
        let basic = |u: &str, p: &str| {
            Some(HttpAuth::Basic {
                user: u.into(),
                password: p.into(),
            })
        };
        let cases = [
            (
                "https://hooks.example/h/s3cret",
                Target::Webhook {
                    url: "https://hooks.example/h/s3cret".into(),
                },
            ),
            (
                "ntfy://ntfy.sh/cipug-alerts",
                Target::Ntfy {
                    base: "https://ntfy.sh".into(),
                    topic: "cipug-alerts".into(),
                    auth: None,
                    priority: None,
                    tags: None,
                },
            ),
            (
                "ntfy://bob:pa%40ss@127.0.0.1:8080/t?scheme=http&priority=high&tags=whale",
                Target::Ntfy {
                    base: "http://127.0.0.1:8080".into(),
                    topic: "t".into(),
                    auth: basic("bob", "pa@ss"),
                    priority: Some("high".into()),
                    tags: Some("whale".into()),
                },
            ),
            (
                "ntfy://:tk_abc@ntfy.example/t",
                Target::Ntfy {
                    base: "https://ntfy.example".into(),
                    topic: "t".into(),
                    auth: Some(HttpAuth::Bearer("tk_abc".into())),
                    priority: None,
                    tags: None,
                },
            ),
            (
                "gotify://gotify.example:443/sub/path/AzyoeNS.D4iJLVa/?priority=5",
                Target::Gotify {
                    base: "https://gotify.example:443/sub/path".into(),
                    token: "AzyoeNS.D4iJLVa".into(),
                    priority: 5,
                },
            ),
            (
                "gotify://127.0.0.1:8080/Tok?disabletls=yes",
                Target::Gotify {
                    base: "http://127.0.0.1:8080".into(),
                    token: "Tok".into(),
                    priority: 0,
                },
            ),
            (
                "discord://tok3n@123456",
                Target::Discord {
                    api: "https://discord.com".into(),
                    id: "123456".into(),
                    token: "tok3n".into(),
                },
            ),
            (
                "slack://hook:T000-B000-XXXX@webhook?api=http://127.0.0.1:9/",
                Target::Slack {
                    api: "http://127.0.0.1:9".into(),
                    path: ["T000".into(), "B000".into(), "XXXX".into()],
                },
            ),
            (
                "telegram://110201543:AAHdq@telegram?chats=@chan,-100123",
                Target::Telegram {
                    api: "https://api.telegram.org".into(),
                    token: "110201543:AAHdq".into(),
                    chats: vec!["@chan".into(), "-100123".into()],
                },
            ),
            (
                "matrix://bot:pw@matrix.example/?rooms=!abc:matrix.example,%23ops:matrix.example,lobby",
                Target::Matrix {
                    base: "https://matrix.example".into(),
                    login: MatrixLogin::Password {
                        user: "bot".into(),
                        password: "pw".into(),
                    },
                    rooms: vec![
                        "!abc:matrix.example".into(),
                        "#ops:matrix.example".into(),
                        "#lobby".into(),
                    ],
                },
            ),
            (
                "matrix://:syt_token@127.0.0.1:8008?disabletls=yes",
                Target::Matrix {
                    base: "http://127.0.0.1:8008".into(),
                    login: MatrixLogin::Token("syt_token".into()),
                    rooms: vec![],
                },
            ),
            (
                "smtp://me:pw@mail.example:587/?from=cipug@example.org&to=a@example.org,b@example.org",
                Target::Smtp(Mail {
                    host: "mail.example".into(),
                    port: 587,
                    credentials: Some(("me".into(), "pw".into())),
                    from: "cipug@example.org".into(),
                    to: vec!["a@example.org".into(), "b@example.org".into()],
                    encryption: Encryption::StartTls,
                }),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(target(url), want, "{url}");
        }
    }

    #[test]
    fn smtp_encryption_follows_shoutrrr_with_passwords_kept_off_plain_networks() {
        let enc = |url: &str| match target(url) {
            Target::Smtp(mail) => mail.encryption,
            other => panic!("{other:?}"),
        };
        let q = "from=c@x.org&to=a@x.org";
        assert_eq!(enc(&format!("smtp://mail.x:465/?{q}")), Encryption::Tls);
        assert_eq!(
            enc(&format!("smtp://mail.x/?{q}")),
            Encryption::StartTlsIfOffered
        );
        assert_eq!(
            enc(&format!("smtp://mail.x/?{q}&usestarttls=no")),
            Encryption::None
        );
        assert_eq!(
            enc(&format!("smtp://mail.x/?{q}&encryption=ImplicitTLS")),
            Encryption::Tls
        );
        assert_eq!(
            enc(&format!("smtp://u:p@127.0.0.1:2525/?{q}&encryption=none")),
            Encryption::None
        );
        let err = parse(&format!("smtp://u:s3cret@mail.x/?{q}&encryption=none")).unwrap_err();
        assert!(err.contains("without TLS"), "{err}");
    }

    #[test]
    fn bad_urls_name_the_setting_and_the_form_but_no_secret() {
        for (url, says) in [
            ("ntfy://ntfy.sh/", "ntfy://[user:password@]host/topic"),
            (
                "ntfy://ntfy.sh/a/b?scheme=ftp",
                "`scheme` must be http or https",
            ),
            ("gotify://gotify.example", "no application token"),
            (
                "gotify://g.example/tok?priority=high",
                "`priority` must be a number",
            ),
            ("discord://webhookid", "discord://token@webhookid"),
            ("slack://xoxb:s3cret@channel", "only the webhook form"),
            ("slack://hook:T0-s3cret@webhook", "three parts"),
            (
                "slack://hook:T0-B0-s3cret@webhook?api=ftp://x",
                "`api` must be",
            ),
            ("telegram://s3cret@telegram?chats=1", "a bot token"),
            ("telegram://1:s3cret@telegram", "no `chats`"),
            (
                "matrix://bob@matrix.example/?rooms=!a",
                "a password or access token",
            ),
            ("matrix://:s3cret@m.example/?disabletls=maybe", "yes or no"),
            ("smtp://mail.example/?to=a@x.org", "no `from` address"),
            (
                "smtp://mail.example/?from=a@x.org&to=s3cret",
                "`to` must be",
            ),
            (
                "smtp://mail.example/?from=a@x.org&to=b@x.org&encryption=tls13",
                "`encryption` must be",
            ),
            ("pushover://shoutrrr:s3cret@user", "not a known form"),
            ("s3cret", "not a URL"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.starts_with("NOTIFY_URL: `"), "{url}: {err}");
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("s3cret"), "{url}: {err}");
        }
    }

    #[test]
    fn several_urls_are_separated_by_white_space() {
        let all = parse_all(
            " ntfy://ntfy.sh/a\n telegram://1:tok@telegram?chats=1,2\thttps://h.example/x ",
        )
        .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(
            all.iter().map(|u| u.shown.as_str()).collect::<Vec<_>>(),
            [
                "ntfy://ntfy.sh/<redacted>",
                "telegram://telegram/<redacted>",
                "https://h.example/<redacted>"
            ]
        );
        assert!(all[1].secrets.contains(&"1:tok".to_owned()));
        assert_eq!(
            redact_all("discord://tok@1 smtp://u:pw@mail:587/?from=a@b&to=c@d"),
            "discord://1 smtp://mail:587/<redacted>"
        );
        assert!(parse_all("").unwrap().is_empty());
    }

    #[test]
    fn urls_are_redacted() {
        for (url, shown) in [
            (
                "https://u:p@ntfy.sh/topic?auth=x",
                "https://ntfy.sh/<redacted>",
            ),
            (
                "http://gotify.local/message?token=abc",
                "http://gotify.local/<redacted>",
            ),
            (
                "https://hooks.slack.com/services/T0/B0/XYZ",
                "https://hooks.slack.com/<redacted>",
            ),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
            ("http://u@h.io?t=1", "http://h.io/<redacted>"),
            ("not a url s3cret", "<redacted>"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }
}
