//! Sending a [`Message`] as mail to the `smtp://` URLs of NOTIFY_URL, with lettre: STARTTLS
//! or TLS as the URL asks (certificates checked against the system's roots), AUTH with the
//! URL's user and password.

use std::time::Duration;

use lettre::address::AddressError;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};

use crate::adapters::notify::message::Message;
use crate::formats::notify_url::{Encryption, Mail};

/// Why a mail was not sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender or a recipient is no mail address (`from` or `to`).
    #[error("{field}: {error}")]
    Address {
        /// Which of the two.
        field: &'static str,
        /// Why it is none.
        #[source]
        error: AddressError,
    },
    /// The mail could not be built.
    #[error(transparent)]
    Build(#[from] lettre::error::Error),
    /// TLS could not be set up, or the SMTP server refused or failed.
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Sends `message` to the recipients of `mail` within `limit` (for each SMTP command).
pub fn send(mail: &Mail, message: &Message, limit: Duration) -> Result<(), MailError> {
    let address = |field| move |error| MailError::Address { field, error };
    let mut email = lettre::Message::builder()
        .from(mail.from.parse().map_err(address("from"))?)
        .subject(message.title.as_str());
    for to in &mail.to {
        email = email.to(to.parse().map_err(address("to"))?);
    }
    let email = email
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())?;
    let tls = || TlsParameters::new(mail.host.clone());
    let tls = match mail.encryption {
        Encryption::None => Tls::None,
        Encryption::StartTlsIfOffered => Tls::Opportunistic(tls()?),
        Encryption::StartTls => Tls::Required(tls()?),
        Encryption::Tls => Tls::Wrapper(tls()?),
    };
    let mut transport = SmtpTransport::builder_dangerous(mail.host.as_str())
        .port(mail.port)
        .tls(tls)
        .timeout(Some(limit));
    if let Some((user, password)) = &mail.credentials {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    transport.build().send(&email)?;
    Ok(())
}
