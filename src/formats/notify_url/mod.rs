//! `NOTIFY_URL`: one or more notification URLs, separated by white space, in the forms
//! shoutrrr (watchtower's and diun's notification library) gives them: `ntfy://`,
//! `gotify://`, `discord://`, `slack://` (webhook), `telegram://`, `matrix://`, `smtp://`,
//! and the plain `http(s)://` webhook. Parsed into [`Target`]s before a run starts, so a
//! mistyped URL is a settings error and not a lost notification. Secrets (tokens,
//! passwords, topics) never leave this module unredacted: errors and [`NotifyUrl::shown`]
//! carry scheme and host only. Pure: no I/O.

mod forms;

use url::Url;

use forms::Parts;
pub use forms::Problem;

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

/// Why a `NOTIFY_URL` entry is refused; it shows the URL [`redact`]ed, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all.
    #[error(
        "NOTIFY_URL: `{shown}`: not a URL ({error}); one of {} is expected",
        schemes()
    )]
    NotAUrl {
        /// The entry, redacted.
        shown: String,
        /// What the URL parser says.
        #[source]
        error: url::ParseError,
    },
    /// A scheme cipug does not know.
    #[error(
        "NOTIFY_URL: `{shown}`: `{scheme}://` is not a known form; one of {} is expected",
        schemes()
    )]
    UnknownForm {
        /// The entry, redacted.
        shown: String,
        /// Its scheme.
        scheme: String,
    },
    /// A known form, wrongly filled in.
    #[error("NOTIFY_URL: `{shown}`: {problem}{}", form_hint(scheme))]
    Form {
        /// The entry, redacted.
        shown: String,
        /// Its scheme.
        scheme: String,
        /// What is wrong.
        problem: Problem,
    },
}

/// `ntfy://, gotify://, ...`: every known scheme.
fn schemes() -> String {
    let forms: Vec<&str> = FORMS.iter().map(|(s, _)| *s).collect();
    format!("{}://", forms.join("://, "))
}

/// `; the form is ...` for a known `scheme`, empty otherwise.
fn form_hint(scheme: &str) -> String {
    FORMS
        .iter()
        .find(|(s, _)| *s == scheme)
        .map_or_else(String::new, |(_, f)| format!("; the form is `{f}`"))
}

/// Parses `NOTIFY_URL`: URLs separated by white space (commas belong to the URLs: telegram
/// chats, mail recipients and matrix rooms are comma lists). The error is the message of
/// the first [`UrlError`], as the settings report it.
pub fn parse_all(text: &str) -> Result<Vec<NotifyUrl>, String> {
    text.split_whitespace()
        .map(|url| parse(url).map_err(|e| e.to_string()))
        .collect()
}

/// Parses one URL.
pub fn parse(text: &str) -> Result<NotifyUrl, UrlError> {
    let shown = redact(text);
    let url = Url::parse(text).map_err(|error| UrlError::NotAUrl {
        shown: shown.clone(),
        error,
    })?;
    let scheme = url.scheme().to_owned();
    let parts = Parts::of(&url);
    let target = match scheme.as_str() {
        "http" | "https" => Ok(Target::Webhook {
            url: text.to_owned(),
        }),
        "ntfy" => forms::ntfy(&parts),
        "gotify" => forms::gotify(&parts),
        "discord" => forms::discord(&parts),
        "slack" => forms::slack(&parts),
        "telegram" => forms::telegram(&parts),
        "matrix" => forms::matrix(&parts),
        "smtp" => forms::smtp(&parts),
        _ => return Err(UrlError::UnknownForm { shown, scheme }),
    }
    .map_err(|problem| UrlError::Form {
        shown: shown.clone(),
        scheme: scheme.clone(),
        problem,
    })?;
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
        let err = parse(&format!("smtp://u:s3cret@mail.x/?{q}&encryption=none"))
            .unwrap_err()
            .to_string();
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
            let err = parse(url).unwrap_err().to_string();
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
