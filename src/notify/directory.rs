//! The tutor directory: a TOML file naming each tutor's time zone, quiet hours and
//! channels, the channels themselves, and the fallback channel (the team lead) for
//! warnings whose tutor is unknown or has left. Secrets are never in the file: a channel
//! names the environment variable or mounted file that holds its key, URL or signing
//! secret, read only when a message is sent ([`SecretSource::read`]), so a directory can
//! be tried out (`notify --dry-run`) without any, and no secret is ever logged.
//!
//! ```toml
//! page_url = "https://retention.example.com/tutors"
//! fallback = "lead"
//!
//! [defaults]            # for every tutor, and for the fallback desk
//! time_zone = "Asia/Shanghai"
//! quiet_hours = "22:00-08:00"
//! digest_at = "09:00"
//! min_severity = "WARNING"
//!
//! [channels.lead]
//! kind = "wecom"        # wecom | dingtalk | slack | webhook
//! url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
//! secret_env = "WECOM_KEY_LEAD"
//!
//! [tutors.t001]
//! name = "Li Na"
//! channels = ["lead"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono_tz::Tz;
use serde::Deserialize;

use super::local_time::{QuietHours, TimeOfDay};
use crate::engine::Severity;

/// The kinds of receiver churnwatch can deliver to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// WeCom (企业微信) group robot.
    Wecom,
    /// DingTalk robot.
    Dingtalk,
    /// Slack incoming webhook.
    Slack,
    /// A generic JSON webhook, signed the Standard Webhooks way.
    Webhook,
}

impl ChannelKind {
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::Wecom => "wecom",
            ChannelKind::Dingtalk => "dingtalk",
            ChannelKind::Slack => "slack",
            ChannelKind::Webhook => "webhook",
        }
    }
}

/// Where a secret is read from when it is needed.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    /// The secret itself (trailing whitespace of a file trimmed).
    pub fn read(&self) -> anyhow::Result<String> {
        match self {
            SecretSource::Env(name) => std::env::var(name)
                .with_context(|| format!("environment variable {name} is not set")),
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end().to_owned())
                .with_context(|| format!("reading the secret file {}", path.display())),
        }
    }
}

/// Names the source, never the secret.
impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "env {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// A channel's URL: in the file, or (when it carries a token, as Slack's and DingTalk's
/// do) a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlSource {
    Plain(String),
    Secret(SecretSource),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub name: String,
    pub kind: ChannelKind,
    pub url: UrlSource,
    /// WeCom: the robot key; DingTalk and webhooks: the signing secret.
    pub secret: Option<SecretSource>,
}

/// Whose rules an alert is delivered under: a tutor's, or the fallback desk's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desk {
    /// The tutor, or `None` for the fallback desk (the team lead).
    pub tutor_id: Option<String>,
    pub name: String,
    pub time_zone: Tz,
    pub quiet_hours: QuietHours,
    pub channels: Vec<String>,
    /// She has left: her warnings go to the fallback desk.
    pub left: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Directory {
    /// The tutor page: a member's link is `{page_url}/{tutor}#member-{id}`.
    pub page_url: String,
    pub min_severity: Severity,
    pub digest_at: TimeOfDay,
    pub fallback: Desk,
    pub tutors: BTreeMap<String, Desk>,
    pub channels: BTreeMap<String, Channel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    page_url: String,
    fallback: String,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    channels: BTreeMap<String, RawChannel>,
    #[serde(default)]
    tutors: BTreeMap<String, RawTutor>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDefaults {
    time_zone: String,
    quiet_hours: String,
    digest_at: String,
    min_severity: String,
    /// The fallback desk's name in messages.
    fallback_name: String,
}

impl Default for RawDefaults {
    fn default() -> Self {
        RawDefaults {
            time_zone: "Asia/Shanghai".into(),
            quiet_hours: "22:00-08:00".into(),
            digest_at: "09:00".into(),
            min_severity: "WARNING".into(),
            fallback_name: "team lead".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    kind: ChannelKind,
    url: Option<String>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    secret_env: Option<String>,
    secret_file: Option<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTutor {
    name: String,
    #[serde(default)]
    channels: Vec<String>,
    time_zone: Option<String>,
    quiet_hours: Option<String>,
    #[serde(default)]
    left: bool,
}

fn time_zone(text: &str, whose: &str) -> anyhow::Result<Tz> {
    text.parse::<Tz>()
        .map_err(|e| anyhow::anyhow!("{whose}: time zone `{text}`: {e}"))
}

fn quiet(text: &str, whose: &str) -> anyhow::Result<QuietHours> {
    text.parse().map_err(|e| anyhow::anyhow!("{whose}: {e}"))
}

fn one_source(
    what: &str,
    env: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<Option<SecretSource>> {
    match (env, file) {
        (Some(_), Some(_)) => bail!("{what}: name an environment variable or a file, not both"),
        (Some(e), None) => Ok(Some(SecretSource::Env(e))),
        (None, Some(f)) => Ok(Some(SecretSource::File(f))),
        (None, None) => Ok(None),
    }
}

impl Directory {
    pub fn load(path: &Path) -> anyhow::Result<Directory> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the tutor directory {}", path.display()))?;
        Directory::from_toml(&text).with_context(|| format!("tutor directory {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<Directory> {
        let raw: RawDirectory = toml::from_str(text)?;
        let d = &raw.defaults;
        let default_tz = time_zone(&d.time_zone, "defaults")?;
        let default_quiet = quiet(&d.quiet_hours, "defaults")?;
        let digest_at = d
            .digest_at
            .parse()
            .map_err(|e| anyhow::anyhow!("defaults.digest_at: {e}"))?;
        let min_severity = Severity::from_name(&d.min_severity).with_context(|| {
            format!(
                "defaults.min_severity `{}`: one of NOTICE, WARNING, CRITICAL",
                d.min_severity
            )
        })?;
        let mut channels = BTreeMap::new();
        for (name, c) in raw.channels {
            let what = format!("channels.{name}");
            let url = match (
                c.url,
                one_source(&format!("{what} url"), c.url_env, c.url_file)?,
            ) {
                (Some(url), None) => UrlSource::Plain(url),
                (None, Some(secret)) => UrlSource::Secret(secret),
                _ => bail!("{what}: give url, or url_env or url_file when the URL is secret"),
            };
            let secret = one_source(&format!("{what} secret"), c.secret_env, c.secret_file)?;
            let needs_secret = matches!(c.kind, ChannelKind::Wecom | ChannelKind::Webhook);
            if needs_secret && secret.is_none() {
                bail!(
                    "{what}: a {} channel needs secret_env or secret_file",
                    c.kind.name()
                );
            }
            channels.insert(
                name.clone(),
                Channel {
                    name,
                    kind: c.kind,
                    url,
                    secret,
                },
            );
        }
        let known = |list: &[String], whose: &str| -> anyhow::Result<()> {
            match list.iter().find(|c| !channels.contains_key(*c)) {
                Some(c) => bail!("{whose}: no channel `{c}` in [channels]"),
                None => Ok(()),
            }
        };
        known(std::slice::from_ref(&raw.fallback), "fallback")?;
        let fallback = Desk {
            tutor_id: None,
            name: d.fallback_name.clone(),
            time_zone: default_tz,
            quiet_hours: default_quiet,
            channels: vec![raw.fallback],
            left: false,
        };
        let mut tutors = BTreeMap::new();
        for (id, t) in raw.tutors {
            let whose = format!("tutors.{id}");
            known(&t.channels, &whose)?;
            let desk = Desk {
                tutor_id: Some(id.clone()),
                name: t.name,
                time_zone: match &t.time_zone {
                    Some(tz) => time_zone(tz, &whose)?,
                    None => default_tz,
                },
                quiet_hours: match &t.quiet_hours {
                    Some(q) => quiet(q, &whose)?,
                    None => default_quiet,
                },
                channels: t.channels,
                left: t.left,
            };
            tutors.insert(id, desk);
        }
        Ok(Directory {
            page_url: raw.page_url.trim_end_matches('/').to_owned(),
            min_severity,
            digest_at,
            fallback,
            tutors,
            channels,
        })
    }

    /// The desk a warning for `tutor_id` goes to, and why when it is the fallback: a
    /// tutor not in the directory, one who left, or one with no channel.
    pub fn desk_for(&self, tutor_id: Option<&str>) -> (&Desk, Option<FallbackReason>) {
        match tutor_id.map(|t| (t, self.tutors.get(t))) {
            None => (&self.fallback, Some(FallbackReason::NoTutor)),
            Some((_, None)) => (&self.fallback, Some(FallbackReason::Unknown)),
            Some((_, Some(desk))) if desk.left => (&self.fallback, Some(FallbackReason::Left)),
            Some((_, Some(desk))) if desk.channels.is_empty() => {
                (&self.fallback, Some(FallbackReason::NoChannel))
            }
            Some((_, Some(desk))) => (desk, None),
        }
    }

    /// A desk by its key ([`Desk::key`]).
    pub fn desk(&self, key: &str) -> Option<&Desk> {
        if key.is_empty() {
            Some(&self.fallback)
        } else {
            self.tutors.get(key)
        }
    }
}

impl Desk {
    /// The key a desk is known by in the notifier's state: the tutor id, or `""` for the
    /// fallback desk.
    pub fn key(&self) -> &str {
        self.tutor_id.as_deref().unwrap_or("")
    }
}

/// Why a warning went to the fallback desk.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum FallbackReason {
    /// The warning names no tutor (a member without a profile).
    NoTutor,
    /// The directory does not know the tutor.
    Unknown,
    /// The tutor has left (thesis: tutor turnover is a cause of churn).
    Left,
    /// The tutor has no channel.
    NoChannel,
}

impl FallbackReason {
    pub fn text(self) -> &'static str {
        match self {
            FallbackReason::NoTutor => "no tutor",
            FallbackReason::Unknown => "tutor not in the directory",
            FallbackReason::Left => "tutor has left",
            FallbackReason::NoChannel => "tutor has no channel",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const EXAMPLE: &str = r#"
page_url = "https://retention.example.com/tutors/"
fallback = "lead"

[defaults]
min_severity = "WARNING"

[channels.lead]
kind = "wecom"
url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
secret_env = "WECOM_KEY_LEAD"

[channels.li-robot]
kind = "dingtalk"
url_env = "DINGTALK_URL_LI"
secret_file = "/run/secrets/dingtalk-li"

[tutors.t1]
name = "Li Na"
channels = ["li-robot"]

[tutors.t2]
name = "Anna"
time_zone = "Europe/Berlin"
quiet_hours = "none"
channels = ["lead"]

[tutors.t9]
name = "Wang"
left = true
"#;

    #[test]
    fn a_directory_routes_each_tutor_and_falls_back_with_a_reason() {
        let d = Directory::from_toml(EXAMPLE).unwrap();
        assert_eq!(d.page_url, "https://retention.example.com/tutors");
        let (desk, why) = d.desk_for(Some("t1"));
        assert_eq!((desk.name.as_str(), why), ("Li Na", None));
        assert_eq!(
            desk.time_zone,
            chrono_tz::Asia::Shanghai,
            "the default zone"
        );
        assert_eq!(desk.quiet_hours.to_string(), "22:00-08:00");
        let (desk, _) = d.desk_for(Some("t2"));
        assert_eq!(desk.time_zone, chrono_tz::Europe::Berlin);
        assert_eq!(desk.quiet_hours, QuietHours::NONE);
        assert_eq!(d.desk_for(Some("t9")).1, Some(FallbackReason::Left));
        assert_eq!(d.desk_for(Some("t5")).1, Some(FallbackReason::Unknown));
        assert_eq!(d.desk_for(None).1, Some(FallbackReason::NoTutor));
        assert_eq!(d.desk_for(Some("t9")).0.channels, vec!["lead".to_owned()]);
        assert_eq!(
            d.channels["li-robot"].url,
            UrlSource::Secret(SecretSource::Env("DINGTALK_URL_LI".into()))
        );
    }

    #[test]
    fn secrets_are_named_never_shown() {
        let d = Directory::from_toml(EXAMPLE).unwrap();
        std::env::set_var("WECOM_KEY_LEAD_TEST_ONLY", "s3cr3t-key");
        let source = SecretSource::Env("WECOM_KEY_LEAD_TEST_ONLY".into());
        assert_eq!(source.read().unwrap(), "s3cr3t-key");
        assert_eq!(format!("{source:?}"), "env WECOM_KEY_LEAD_TEST_ONLY");
        let missing = SecretSource::Env("CHURNWATCH_NO_SUCH_VARIABLE".into());
        assert!(missing.read().unwrap_err().to_string().contains("not set"));
        assert!(!format!("{d:?}").contains("s3cr3t"));
    }

    #[test]
    fn a_directory_that_names_what_is_not_there_is_refused() {
        for (broken, says) in [
            (
                EXAMPLE.replace("channels = [\"li-robot\"]", "channels = [\"nope\"]"),
                "no channel `nope`",
            ),
            (
                EXAMPLE.replace("fallback = \"lead\"", "fallback = \"boss\""),
                "fallback: no channel",
            ),
            (
                EXAMPLE.replace("\"Europe/Berlin\"", "\"Mars/Olympus\""),
                "Mars/Olympus",
            ),
            (
                EXAMPLE.replace("quiet_hours = \"none\"", "quiet_hours = \"late\""),
                "quiet hours",
            ),
            (
                EXAMPLE.replace("secret_env = \"WECOM_KEY_LEAD\"", ""),
                "needs secret_env",
            ),
            (
                EXAMPLE.replace("min_severity = \"WARNING\"", "min_severity = \"LOUD\""),
                "LOUD",
            ),
            (
                EXAMPLE.replace("name = \"Anna\"", "name = \"Anna\"\ncolour = \"red\""),
                "colour",
            ),
        ] {
            let err = Directory::from_toml(&broken).unwrap_err();
            assert!(format!("{err:#}").contains(says), "{says}: {err:#}");
        }
    }
}
