//! Outbound HTTP to addresses users supply (web fetch, vendor endpoints),
//! guarded against server-side request forgery.
//!
//! Every hostname is resolved by [`GuardedResolver`], which drops private,
//! loopback, link-local and other non-public addresses, so the address that
//! was checked is the address connected to (no DNS-rebinding window). IP
//! literals never reach a resolver, so they are checked before the request
//! and on every redirect hop. The operator's allowlist
//! (`TOLLGATE_OUTBOUND_ALLOWLIST`: hosts, IPs or CIDRs) lifts the rule for
//! what it names. No system proxy is used.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{redirect, Url};

/// Hosts and networks outbound requests may reach even when not public.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

impl Allowlist {
    /// Parses `host,10.0.0.0/8,127.0.0.1,...`.
    pub fn parse(s: &str) -> anyhow::Result<Allowlist> {
        let mut list = Allowlist::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                list.nets.push(IpNet::from(ip));
            } else if item
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            {
                list.hosts.push(item.to_ascii_lowercase());
            } else {
                anyhow::bail!("not a host, IP or CIDR in the outbound allowlist: {item}");
            }
        }
        Ok(list)
    }

    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, shared address space
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
                || o[0] >= 240) // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_ipv4(v6) {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // Only global unicast (2000::/3) is public, less the ranges in it
            // that are documentation or tunnel into IPv4 space.
            (s[0] & 0xe000) == 0x2000
                && !((s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32, documentation
                    || (s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20, documentation
                    || (s[0] == 0x2001 && s[1] == 0) // 2001::/32, Teredo
                    || s[0] == 0x2002) // 2002::/16, 6to4 embeds an IPv4 address
        }
    }
}

/// The IPv4 address an IPv6 address stands for: the IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`) and deprecated
/// IPv4-compatible (`::a.b.c.d`) forms, so they are judged as that address.
/// `::` and `::1` are themselves, not IPv4.
fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let tail =
        std::net::Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_loopback() && !v6.is_unspecified() => Some(tail),
        _ => None,
    }
}

/// Why an outbound request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the request timed out")]
    Timeout,
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    #[error("request failed: {0}")]
    Failed(String),
}

/// Resolves names and keeps only the addresses the policy allows.
struct GuardedResolver {
    allow: Arc<Allowlist>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let host_allowed = allow.allows_host(&host);
            let permitted: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| host_allowed || is_public(a.ip()) || allow.allows_ip(a.ip()))
                .collect();
            if permitted.is_empty() {
                let err: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves only to private or reserved addresses").into();
                return Err(err);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// A response read within a size limit.
#[derive(Debug)]
pub struct FetchedResponse {
    pub status: u16,
    pub url: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The guarded HTTP clients.
pub struct Outbound {
    allow: Arc<Allowlist>,
    following: reqwest::Client,
    direct: reqwest::Client,
}

/// How many redirects a fetch follows, each hop checked again.
const MAX_REDIRECTS: usize = 5;

impl Outbound {
    pub fn new(allow: Allowlist) -> Self {
        let allow = Arc::new(allow);
        let build = |policy: redirect::Policy| {
            reqwest::Client::builder()
                .no_proxy()
                .redirect(policy)
                .dns_resolver(Arc::new(GuardedResolver {
                    allow: allow.clone(),
                }))
                .user_agent(concat!("Tollgate/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("an HTTP client")
        };
        let hop_allow = allow.clone();
        let following = build(redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_literal(attempt.url(), &hop_allow) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e.to_string()),
            }
        }));
        let direct = build(redirect::Policy::none());
        Outbound {
            allow,
            following,
            direct,
        }
    }

    pub fn allowlist(&self) -> &Allowlist {
        &self.allow
    }

    /// Parses and checks a URL before use: http(s), a host, and no IP
    /// literal outside the public internet unless allowlisted.
    pub fn check_url(&self, raw: &str) -> Result<Url, OutboundError> {
        let url = Url::parse(raw).map_err(|e| OutboundError::InvalidUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(OutboundError::InvalidUrl(
                "only http and https URLs are allowed".into(),
            ));
        }
        if url.host_str().is_none() {
            return Err(OutboundError::InvalidUrl("the URL has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(OutboundError::InvalidUrl(
                "credentials in URLs are not allowed".into(),
            ));
        }
        check_literal(&url, &self.allow)?;
        Ok(url)
    }

    /// GET following redirects (each hop re-checked), reading at most `max_bytes`.
    pub async fn fetch(
        &self,
        url: &str,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<FetchedResponse, OutboundError> {
        let url = self.check_url(url)?;
        let request = self.following.get(url).timeout(timeout);
        read_limited(request, max_bytes).await
    }

    /// A request that follows no redirects: vendor calls.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        max_bytes: usize,
    ) -> Result<FetchedResponse, OutboundError> {
        read_limited(request, max_bytes).await
    }

    /// The client for requests that must not follow redirects.
    pub fn direct(&self) -> &reqwest::Client {
        &self.direct
    }
}

fn check_literal(url: &Url, allow: &Allowlist) -> Result<(), OutboundError> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(url::Host::Domain(d)) => {
            // "localhost" and friends never need DNS to be private.
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if (d == "localhost" || d.ends_with(".localhost")) && !allow.allows_host(&d) {
                return Err(OutboundError::Forbidden(format!(
                    "{d} is not a public address"
                )));
            }
            return Ok(());
        }
        None => return Err(OutboundError::InvalidUrl("the URL has no host".into())),
    };
    if is_public(ip) || allow.allows_ip(ip) || allow.allows_host(&ip.to_string()) {
        Ok(())
    } else {
        Err(OutboundError::Forbidden(format!(
            "{ip} is not a public address"
        )))
    }
}

async fn read_limited(
    request: reqwest::RequestBuilder,
    max_bytes: usize,
) -> Result<FetchedResponse, OutboundError> {
    let response = request.send().await.map_err(classify)?;
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if response
        .content_length()
        .is_some_and(|n| n as usize > max_bytes)
    {
        return Err(OutboundError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(classify)?;
        if body.len() + chunk.len() > max_bytes {
            return Err(OutboundError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FetchedResponse {
        status,
        url,
        content_type,
        body,
    })
}

fn classify(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    // Walk the cause chain: a refusal by the resolver or the redirect policy
    // is a policy decision, not a network failure.
    let mut source: Option<&dyn std::error::Error> = Some(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if text.contains("private or reserved") || text.contains("not a public address") {
            return OutboundError::Forbidden(text);
        }
        source = s.source();
    }
    if e.is_redirect() {
        return OutboundError::Forbidden(format!("redirect refused: {e}"));
    }
    // The deepest cause says what went wrong ("failed to lookup address
    // information", "connection refused"); the URL is left out, since a
    // query-string credential must never reach a caller or a log.
    let (cause, deeper) = {
        let mut root: &dyn std::error::Error = &e;
        let mut deeper = false;
        while let Some(s) = root.source() {
            root = s;
            deeper = true;
        }
        (root.to_string(), deeper)
    };
    let top = e.without_url().to_string();
    if !deeper || cause.is_empty() || top.contains(&cause) {
        OutboundError::Failed(top)
    } else {
        OutboundError::Failed(format!("{top}: {cause}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "fec0::1",
            "2002:7f00:1::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "198.18.0.1",
            "::ffff:0:7f00:1",
            "::ffff:0:10.0.0.1",
            "::ffff:0:169.254.169.254",
            "64:ff9b::7f00:1",
            "64:ff9b::808:808",
            "2001:db8::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:808:808::1",
            "::",
            "ff02::1",
            "100::1",
            "3fff:fff::1",
            "4000::1",
            "fc00::1",
            "::ffff:0.0.0.0",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700:4700::1111",
            "93.184.216.34",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "::ffff:0:8.8.8.8",
            "2001:4860:4860::8888",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn the_allowlist_takes_hosts_ips_and_cidrs() {
        let a = Allowlist::parse("internal.example, 127.0.0.1, 10.0.0.0/8").unwrap();
        assert!(a.allows_host("Internal.Example"));
        assert!(a.allows_ip("127.0.0.1".parse().unwrap()));
        assert!(a.allows_ip("10.9.9.9".parse().unwrap()));
        assert!(!a.allows_ip("127.0.0.2".parse().unwrap()));
        assert!(Allowlist::parse("not a host!").is_err());
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let o = Outbound::new(Allowlist::default());
        for bad in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "http://127.0.0.1/",
            "http://[::1]/",
            "http://169.254.169.254/latest",
            "http://localhost:8080/",
            "http://user:pw@example.com/",
            "not a url",
            "http://0x7f000001/",
            "http://[::ffff:0:7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
        ] {
            assert!(o.check_url(bad).is_err(), "{bad}");
        }
        assert!(o.check_url("https://example.com/path?q=1").is_ok());
        let allowed = Outbound::new(Allowlist::parse("127.0.0.1,localhost").unwrap());
        assert!(allowed.check_url("http://127.0.0.1:9/").is_ok());
        assert!(allowed.check_url("http://localhost:9/").is_ok());
    }
}
