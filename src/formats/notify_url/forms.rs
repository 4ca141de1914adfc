//! The per-service forms of `NOTIFY_URL` (ntfy, gotify, discord, slack, telegram, matrix,
//! smtp): each takes a URL apart into its [`Target`], or says which part is wrong.

use percent_encoding::percent_decode_str;
use url::Url;

use super::{Encryption, HttpAuth, Mail, MatrixLogin, Target};

/// What is wrong with a URL of a known form (it never quotes the URL's secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A yes-or-no parameter with another value.
    #[error("`{0}` must be yes or no")]
    YesOrNo(&'static str),
    /// The URL has no host.
    #[error("no host")]
    NoHost,
    /// An `api` that is no HTTP address.
    #[error("`api` must be an http:// or https:// address")]
    Api,
    /// A `scheme` other than http or https.
    #[error("`scheme` must be http or https")]
    Scheme,
    /// An ntfy path that is not one topic.
    #[error("one topic is expected as the path")]
    OneTopic,
    /// A gotify URL without its token.
    #[error("no application token (the last part of the path)")]
    NoToken,
    /// A gotify `priority` that is no number.
    #[error("`priority` must be a number")]
    Priority,
    /// A discord URL without its token or id.
    #[error("a token and a webhook id are expected")]
    DiscordParts,
    /// A slack URL other than a webhook's.
    #[error("only the webhook form (`hook:` tokens) is supported")]
    SlackForm,
    /// A slack token that is not three parts.
    #[error("the webhook token must be three parts joined by `-`")]
    SlackToken,
    /// A telegram URL without its bot token.
    #[error("a bot token `<id>:<secret>` is expected before the `@`")]
    BotToken,
    /// A telegram URL without chats.
    #[error("no `chats`")]
    NoChats,
    /// A matrix URL without password or token.
    #[error("a password or access token is expected")]
    NoPassword,
    /// A mail URL without its sender.
    #[error("no `from` address")]
    NoFrom,
    /// A mail URL without valid recipients.
    #[error("`to` must be one or more addresses")]
    To,
    /// An unknown `encryption`.
    #[error("`encryption` must be none, explicittls, implicittls or auto")]
    Encryption,
    /// A password that would cross the network in the clear.
    #[error("a password without TLS is sent only to localhost")]
    PlainPassword,
}

/// A URL taken apart, percent-decoded.
pub(super) struct Parts {
    pub(super) user: String,
    pub(super) password: String,
    pub(super) host: String,
    pub(super) port: Option<u16>,
    pub(super) path: Vec<String>,
    pub(super) query: Vec<(String, String)>,
}

impl Parts {
    pub(super) fn of(url: &Url) -> Parts {
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
    fn authority(&self) -> Result<String, Problem> {
        if self.host.is_empty() {
            return Err(Problem::NoHost);
        }
        Ok(match self.port {
            Some(port) => format!("{}:{port}", self.host),
            None => self.host.clone(),
        })
    }

    /// `https://` unless `disabletls=yes`.
    fn tls_scheme(&self) -> Result<&'static str, Problem> {
        match self.param(&["disabletls"]) {
            None => Ok("https"),
            Some(v) => yes(v, "disabletls").map(|off| if off { "http" } else { "https" }),
        }
    }

    /// The `api` parameter, or the service's own address.
    fn api(&self, default: &str) -> Result<String, Problem> {
        match self.param(&["api"]) {
            None => Ok(default.to_owned()),
            Some(api) if api.starts_with("https://") || api.starts_with("http://") => {
                Ok(api.trim_end_matches('/').to_owned())
            }
            Some(_) => Err(Problem::Api),
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

fn yes(value: &str, name: &'static str) -> Result<bool, Problem> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "1" => Ok(true),
        "no" | "false" | "0" => Ok(false),
        _ => Err(Problem::YesOrNo(name)),
    }
}

pub(super) fn ntfy(p: &Parts) -> Result<Target, Problem> {
    let scheme = match p.param(&["scheme"]).unwrap_or("https") {
        s @ ("http" | "https") => s,
        _ => return Err(Problem::Scheme),
    };
    let [topic] = p.path.as_slice() else {
        return Err(Problem::OneTopic);
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

pub(super) fn gotify(p: &Parts) -> Result<Target, Problem> {
    let Some((token, path)) = p.path.split_last() else {
        return Err(Problem::NoToken);
    };
    let priority = match p.param(&["priority"]) {
        None => 0,
        Some(v) => v.parse().map_err(|_| Problem::Priority)?,
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

pub(super) fn discord(p: &Parts) -> Result<Target, Problem> {
    if p.user.is_empty() || p.host.is_empty() || !p.password.is_empty() {
        return Err(Problem::DiscordParts);
    }
    Ok(Target::Discord {
        api: p.api("https://discord.com")?,
        id: p.host.clone(),
        token: p.user.clone(),
    })
}

pub(super) fn slack(p: &Parts) -> Result<Target, Problem> {
    if p.user != "hook" {
        return Err(Problem::SlackForm);
    }
    let parts: Vec<&str> = p.password.split('-').collect();
    let [team, bot, secret] = parts.as_slice() else {
        return Err(Problem::SlackToken);
    };
    if [team, bot, secret].iter().any(|s| s.is_empty()) {
        return Err(Problem::SlackToken);
    }
    Ok(Target::Slack {
        api: p.api("https://hooks.slack.com")?,
        path: [(*team).to_owned(), (*bot).to_owned(), (*secret).to_owned()],
    })
}

pub(super) fn telegram(p: &Parts) -> Result<Target, Problem> {
    if p.user.is_empty() || p.password.is_empty() {
        return Err(Problem::BotToken);
    }
    let chats = p.list(&["chats", "channels"]);
    if chats.is_empty() {
        return Err(Problem::NoChats);
    }
    Ok(Target::Telegram {
        api: p.api("https://api.telegram.org")?,
        token: format!("{}:{}", p.user, p.password),
        chats,
    })
}

pub(super) fn matrix(p: &Parts) -> Result<Target, Problem> {
    let login = match (p.user.as_str(), p.password.as_str()) {
        (_, "") => return Err(Problem::NoPassword),
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

pub(super) fn smtp(p: &Parts) -> Result<Target, Problem> {
    let from = p
        .param(&["fromaddress", "from"])
        .filter(|f| f.contains('@'))
        .ok_or(Problem::NoFrom)?;
    let to = p.list(&["toaddresses", "to"]);
    if to.is_empty() || to.iter().any(|t| !t.contains('@')) {
        return Err(Problem::To);
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
        _ => return Err(Problem::Encryption),
    };
    if credentials.is_some() && encryption == Encryption::None && p.host != "localhost" {
        // Refused rather than sent: the password would cross the network in the clear.
        let loopback = p
            .host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
        if !loopback {
            return Err(Problem::PlainPassword);
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
