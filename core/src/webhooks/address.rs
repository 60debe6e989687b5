//! Where webhooks may go. Checked twice: the URL when it is registered ([`check_url`]),
//! and every address its host resolves to right before each delivery ([`refusal`]); the
//! delivery then connects to the address that was checked, so a name that changes its
//! answer (DNS rebinding) cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest URL a webhook may have.
pub const URL_MAX: usize = 2048;

/// A registrable webhook URL: `https` (or `http` where `allow_http`, for local
/// development), a host, no user-info, at most [`URL_MAX`] characters. `Err` is a sentence.
pub fn check_url(raw: &str, allow_http: bool) -> Result<url::Url, String> {
    if raw.len() > URL_MAX {
        return Err(format!("must be at most {URL_MAX} characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| "must be an absolute URL".to_owned())?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        _ => return Err("must use https".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain user information".into());
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    Ok(url)
}

/// Why a delivery must not connect to `ip`, or `None` when it may: loopback, private,
/// link-local (cloud metadata included), shared (CGNAT), multicast, unspecified,
/// broadcast, documentation, benchmarking, discard-only and reserved ranges, also inside
/// IPv4-mapped and NAT64 IPv6 addresses, and the IPv6 tunnels and translators that reach
/// IPv4 through a relay (6to4, Teredo, local-use NAT64). `allowed` lists addresses admitted anyway (local tests only).
pub fn refusal(ip: IpAddr, allowed: &[IpAddr]) -> Option<&'static str> {
    if allowed.contains(&ip) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, network: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(network)) & mask
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: [([u8; 4], u32, &str); 14] = [
        ([0, 0, 0, 0], 8, "unspecified"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared address space"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local (cloud metadata)"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "IETF protocol assignments"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved or broadcast"),
    ];
    RANGES.iter().find(|(network, prefix, _)| in_v4(ip, *network, *prefix)).map(|(_, _, why)| *why)
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let segments = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 =
            Ipv4Addr::new((segments[6] >> 8) as u8, segments[6] as u8, (segments[7] >> 8) as u8, segments[7] as u8);
        return refusal_v4(v4);
    }
    let first = segments[0];
    match () {
        _ if ip.is_unspecified() => Some("unspecified"),
        _ if ip.is_loopback() => Some("loopback"),
        _ if first & 0xfe00 == 0xfc00 => Some("unique local (cloud metadata)"),
        _ if first & 0xffc0 == 0xfe80 => Some("link-local"),
        _ if first & 0xffc0 == 0xfec0 => Some("site-local"),
        _ if first & 0xff00 == 0xff00 => Some("multicast"),
        _ if segments[..2] == [0x2001, 0x0db8] => Some("documentation"),
        // Tunnels and translators that reach IPv4 (or anything) through a relay: 6to4
        // (2002::/16), Teredo (2001::/32) and local-use NAT64 (64:ff9b:1::/48).
        _ if first == 0x2002 => Some("6to4"),
        _ if segments[..2] == [0x2001, 0] => Some("Teredo"),
        _ if segments[..3] == [0x64, 0xff9b, 1] => Some("local-use NAT64"),
        _ if segments[..3] == [0x2001, 2, 0] => Some("benchmarking"),
        _ if segments[..4] == [0x100, 0, 0, 0] => Some("discard-only"),
        // ::/96 (IPv4-compatible, deprecated) reaches IPv4 too.
        _ if segments[..6] == [0; 6] => Some("IPv4-compatible"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        refusal(text.parse().unwrap(), &[]).is_some()
    }

    #[test]
    fn given_internal_addresses_when_checked_then_each_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "::7f00:1",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::a9fe:a9fe",
            "2001:2::1",
            "100::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn given_public_addresses_when_checked_then_they_pass_and_the_allowlist_admits() {
        for ip in [
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::6810:85e5",
            "::ffff:8.8.8.8",
            "2001:4860:4860::8888",
        ] {
            assert!(!refused(ip), "{ip} is public");
        }
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(refusal(local, &[local]), None);
    }

    #[test]
    fn given_urls_when_checked_then_only_https_without_user_info_pass() {
        assert!(check_url("https://hooks.example.com/ballot?x=1", false).is_ok());
        for bad in [
            "http://hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://user:pass@hooks.example.com/",
            "https://hooks.example.com/#frag",
            "/relative",
            &format!("https://example.com/{}", "a".repeat(URL_MAX)),
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:8080/hook", true).is_ok());
    }
}
