//! The network rule: which hosts may be load targets. A leaf used when a file is loaded
//! (every `base_url`, monitor and allowlist entry) and again by `run::http` at connect time.

use std::net::IpAddr;

/// Checks a host (name or IP literal) against the fixed refusals and the allowlist. Also
/// called at connect time with the resolved address.
pub fn host_allowed(host: &str, allow: &[String]) -> Result<(), String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if let IpAddr::V6(v6) = ip {
            if v6.to_ipv4_mapped().is_some() {
                return Err("is an IPv4-mapped IPv6 address; write the IPv4 address".into());
            }
            if (v6.segments()[0] & 0xffc0) == 0xfe80 {
                return Err("is a link-local address, which is never a load target".into());
            }
        }
        if let IpAddr::V4(v4) = ip {
            if v4.is_link_local() || v4.is_unspecified() || v4.is_broadcast() {
                return Err("is a link-local, unspecified or broadcast address (cloud metadata lives there); it is never a load target".into());
            }
        }
    }
    if allow.is_empty() || allow.iter().any(|a| allow_entry_matches(a, bare)) {
        Ok(())
    } else {
        Err(format!(
            "host {bare} is not in limits.allow_targets ({})",
            allow.join(", ")
        ))
    }
}

fn allow_entry_matches(entry: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if let Some(suffix) = entry.strip_prefix("*.") {
        return host.ends_with(&format!(".{suffix}"));
    }
    if let (Some((net, bits)), Ok(ip)) = (parse_cidr(entry), host.parse::<IpAddr>()) {
        return cidr_contains(net, bits, ip);
    }
    entry == host
}

pub(super) fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_matches_hosts_wildcards_and_cidrs() {
        let allow = vec![
            "127.0.0.0/8".to_string(),
            "*.staging.example.com".into(),
            "api.local".into(),
        ];
        assert!(host_allowed("127.0.0.1", &allow).is_ok());
        assert!(host_allowed("shop.staging.example.com", &allow).is_ok());
        assert!(host_allowed("api.local", &allow).is_ok());
        assert!(host_allowed("10.0.0.1", &allow).is_err());
        assert!(host_allowed("staging.example.com.evil", &allow).is_err());
        assert!(host_allowed("169.254.169.254", &[]).is_err());
        assert!(host_allowed("[::ffff:127.0.0.1]", &[]).is_err());
        assert!(host_allowed("[::1]", &[]).is_ok());
    }
}
