//! The server's address and the URLs of its endpoints.
//!
//! Why this is its own module: the transport rule of security.md lives here
//! ("the console speaks HTTPS (rustls) to any non-loopback server"), and so
//! does the one place where caller-supplied ids become path segments. Ids are
//! percent-encoded segment by segment; `.` and `..` are refused because URL
//! parsers (ours included) drop or resolve them, which would silently call
//! another endpoint.

use crate::error::Error;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use time::format_description::well_known::Rfc3339;
use time::UtcOffset;

/// True for the hosts plain `http://` is allowed to: 127.0.0.0/8, `::1`
/// (and IPv4-mapped loopback), `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return is_loopback_ip(ip);
    }
    let name = bare.strip_suffix('.').unwrap_or(bare);
    name.eq_ignore_ascii_case("localhost")
}

fn is_loopback_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|v4: Ipv4Addr| v4.is_loopback()),
    }
}

/// A checked base URL: `http(s)://host[:port][/prefix]`, no credentials,
/// query or fragment; `http` only to loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BaseUrl(Url);

impl BaseUrl {
    pub(crate) fn parse(input: &str) -> Result<Self, Error> {
        let url = Url::parse(input.trim()).map_err(|e| Error::InvalidUrl(format!("{e}")))?;
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_owned(),
            _ => return Err(Error::InvalidUrl("it names no host".into())),
        };
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&host) => {}
            "http" => return Err(Error::InsecureUrl { host }),
            other => return Err(Error::InvalidUrl(format!("scheme {other}: use https://"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::InvalidUrl("credentials in the URL; the token is given separately".into()));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::InvalidUrl("a query or fragment in the server URL".into()));
        }
        if url.cannot_be_a_base() {
            return Err(Error::InvalidUrl("not a base URL".into()));
        }
        Ok(Self(url))
    }

    pub(crate) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The base with `segments` appended, each percent-encoded as one path
    /// segment.
    pub(crate) fn join(&self, segments: &[&str]) -> Result<Url, Error> {
        for segment in segments {
            check_segment(segment)?;
        }
        let mut url = self.0.clone();
        url.path_segments_mut()
            .map_err(|()| Error::InvalidUrl("not a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }
}

fn check_segment(segment: &str) -> Result<(), Error> {
    match segment {
        "" => Err(Error::InvalidArgument("an empty id".into())),
        "." | ".." => Err(Error::InvalidArgument(format!("the id {segment:?} cannot be used in a URL"))),
        _ => Ok(()),
    }
}

/// Appends `?name=value` pairs to a URL, skipping absent and empty values.
pub(crate) struct Query<'u>(pub(crate) &'u mut Url);

impl Query<'_> {
    pub(crate) fn text(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.0.query_pairs_mut().append_pair(name, value);
        }
        self
    }

    pub(crate) fn number(&mut self, name: &str, value: Option<u32>) -> &mut Self {
        if let Some(value) = value {
            self.0.query_pairs_mut().append_pair(name, &value.to_string());
        }
        self
    }

    /// RFC 3339 in UTC (api.md conventions).
    pub(crate) fn time(&mut self, name: &str, value: Option<crate::Time>) -> Result<&mut Self, Error> {
        if let Some(value) = value {
            let text = value
                .to_offset(UtcOffset::UTC)
                .format(&Rfc3339)
                .map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
            self.0.query_pairs_mut().append_pair(name, &text);
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use time::macros::datetime;

    #[test]
    fn https_is_accepted_for_any_host() {
        for url in ["https://tollgate.example.com", "https://10.0.0.8:8443/", "https://[2001:db8::1]/tollgate"] {
            assert!(BaseUrl::parse(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn plain_http_is_accepted_only_for_loopback() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.8.9.10",
            "http://[::1]:9000/",
            "http://localhost:8080",
            "http://LOCALHOST",
            "http://localhost.:1",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(BaseUrl::parse(url).is_ok(), "{url}");
        }
        for (url, host) in [
            ("http://tollgate.example.com", "tollgate.example.com"),
            ("http://10.0.0.8:8080", "10.0.0.8"),
            ("http://128.0.0.1", "128.0.0.1"),
            ("http://[2001:db8::1]", "[2001:db8::1]"),
            ("http://localhost.example.com", "localhost.example.com"),
            ("http://0.0.0.0:8080", "0.0.0.0"),
        ] {
            let err = BaseUrl::parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InsecureUrl, "{url}");
            match &err {
                Error::InsecureUrl { host: h } => assert_eq!(h, host),
                other => panic!("{other:?}"),
            }
            let text = err.to_string();
            assert!(text.contains("https://") && text.contains(host), "{text}");
        }
    }

    #[test]
    fn unusable_urls_are_refused_with_a_reason() {
        for url in [
            "",
            "tollgate.example.com",
            "ftp://tollgate.example.com",
            "https://user:pw@tollgate.example.com",
            "https://tollgate.example.com/?x=1",
            "https://tollgate.example.com/#top",
            "file:///etc/passwd",
        ] {
            let err = BaseUrl::parse(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{url}: {err}");
        }
    }

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback_host("127.0.0.1"));
        assert!(is_loopback_host("127.255.255.254"));
        assert!(is_loopback_host("::1"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("localhost.evil.com"));
        assert!(!is_loopback_host("192.168.1.1"));
        assert!(!is_loopback_host("::"));
    }

    #[test]
    fn endpoints_keep_the_base_path_and_encode_each_segment() {
        let base = BaseUrl::parse("https://h.example/tollgate/").unwrap();
        let url = base.join(&["v1", "admin", "users", "a b/c?d#e%f", "notifications"]).unwrap();
        assert_eq!(url.as_str(), "https://h.example/tollgate/v1/admin/users/a%20b%2Fc%3Fd%23e%25f/notifications");
        let base = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
        let url = base.join(&["v1", "admin", "contracts", "C-10042"]).unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8080/v1/admin/contracts/C-10042");
        let url = base.join(&["v1", "admin", "users", "u.7781_x"]).unwrap();
        assert_eq!(url.path(), "/v1/admin/users/u.7781_x");
    }

    #[test]
    fn ids_that_would_change_the_path_are_refused() {
        let base = BaseUrl::parse("http://127.0.0.1:8080").unwrap();
        for id in ["", ".", ".."] {
            let err = base.join(&["v1", "admin", "users", id]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{id:?}");
        }
    }

    #[test]
    fn queries_are_form_encoded_and_times_are_utc() {
        let mut url = BaseUrl::parse("http://127.0.0.1:1").unwrap().join(&["v1", "admin", "contracts"]).unwrap();
        Query(&mut url)
            .text("q", Some("Acme & Söhne+1"))
            .text("cursor", None)
            .text("empty", Some(""))
            .number("limit", Some(500))
            .time("updated_since", Some(datetime!(2026-11-27 21:40:00 +02:00)))
            .unwrap();
        assert_eq!(url.query(), Some("q=Acme+%26+S%C3%B6hne%2B1&limit=500&updated_since=2026-11-27T19%3A40%3A00Z"),);
    }
}
