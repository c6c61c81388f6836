//! Network isolation of dev containers: devboxd's own nftables table.
//!
//! Every container is on a bridge network of its own (netavark, `isolate`), so containers never
//! share a layer-2 segment. This table then decides what those bridges may reach, whatever other
//! firewall runs on the host (an nftables `drop` in any table is final):
//!
//! - the host itself: nothing but DNS (port 53) on the container's own gateway (aardvark-dns);
//!   no service the host runs, whatever address it listens on;
//! - other containers (devbox's or not), the LAN and link-local/metadata ranges: dropped, except
//!   the LAN ranges the admin allows (`allowedLanCidrs`) and, if allowed, cloud metadata;
//! - everything else (the internet): allowed, with replies.
//!
//! Nothing may open a connection into a devbox bridge from elsewhere (LAN, other containers).
//! The table is replaced as a whole, atomically (`nft -f`), whenever the set of bridges changes.

use std::net::IpAddr;
use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

/// An address range `ADDR/PREFIX`, host bits zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("{s:?} is not an address range; write ADDRESS/PREFIX, e.g. 192.168.1.0/24 or fd00:1::/64")
        };
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let (bits, host_bits_zero) = match addr {
            IpAddr::V4(a) => {
                let v = u32::from(a);
                let mask = u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                (32, prefix <= 32 && v & mask == 0)
            }
            IpAddr::V6(a) => {
                let v = u128::from(a);
                let mask = u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0);
                (128, prefix <= 128 && v & mask == 0)
            }
        };
        if prefix > bits {
            return Err(format!(
                "{s:?}: the prefix length must be at most {bits} for this address"
            ));
        }
        if !host_bits_zero {
            return Err(format!(
                "{s:?} has bits set after the first {prefix}; write the network address of the range (e.g. 192.168.1.0/24, not 192.168.1.5/24)"
            ));
        }
        Ok(Cidr { addr, prefix })
    }
}

/// Destinations no container reaches unless the admin allows them: this host's and other
/// private networks, carrier-grade NAT (the tailnet's 100.64.0.0/10), multicast and reserved.
const PRIVATE_V4: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "224.0.0.0/3",
];
const PRIVATE_V6: &[&str] = &[
    "::/127",
    "::ffff:0:0/96",
    "64:ff9b::/96",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
];
/// Link-local, where clouds serve instance metadata (169.254.169.254).
const LINK_LOCAL_V4: &str = "169.254.0.0/16";

/// Takes a ruleset instead of `nft -f -`: the seam for in-process tests that run without root
/// (the test kit's `FakeNft`). The daemon never sets one.
#[derive(Clone)]
pub struct Installer(std::sync::Arc<InstallFn>);

type InstallFn = dyn Fn(&str) -> Result<(), String> + Send + Sync;

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Installer(in-process)")
    }
}

/// The nftables table of one devboxd instance.
#[derive(Debug)]
pub struct Firewall {
    pub nft: PathBuf,
    pub table: String,
    pub allowed_lan: Vec<Cidr>,
    pub allow_metadata: bool,
    /// None: `nft -f -` (always, in the daemon).
    installer: Option<Installer>,
    /// One replacement at a time, so the last one applied is the newest view.
    lock: tokio::sync::Mutex<()>,
}

/// The table name for an instance: `devbox_` and the instance, other characters as `_`.
pub fn table_name(instance: &str) -> String {
    let safe: String = instance
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("devbox_{safe}")
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Firewall {
    pub fn new(nft: PathBuf, instance: &str, allowed_lan: Vec<Cidr>, allow_metadata: bool) -> Self {
        Self {
            nft,
            table: table_name(instance),
            allowed_lan,
            allow_metadata,
            installer: None,
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The same table, handed to `install` instead of `nft` (for tests; see [`Installer`]).
    pub fn with_installer(
        mut self,
        install: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.installer = Some(Installer(std::sync::Arc::new(install)));
        self
    }

    /// The whole `nft -f` script: (re)creates the table for these bridge interfaces.
    pub fn ruleset(&self, bridges: &[String]) -> String {
        // Interface names come from Podman (podmanN); anything else would break the script.
        let bridges: Vec<String> = bridges
            .iter()
            .filter(|b| {
                !b.is_empty()
                    && b.len() <= 15
                    && b.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            })
            .cloned()
            .collect();
        let t = &self.table;
        let elements = |v: Vec<String>| {
            if v.is_empty() {
                String::new()
            } else {
                format!(" elements = {{ {} }};", v.join(", "))
            }
        };
        let lan4 = elements(
            self.allowed_lan
                .iter()
                .filter(|c| c.addr.is_ipv4())
                .map(Cidr::to_string)
                .collect(),
        );
        let lan6 = elements(
            self.allowed_lan
                .iter()
                .filter(|c| c.addr.is_ipv6())
                .map(Cidr::to_string)
                .collect(),
        );
        let bridge_elements = if bridges.is_empty() {
            String::new()
        } else {
            format!(" elements = {{ {} }};", quoted_list(&bridges))
        };
        let metadata = if self.allow_metadata {
            format!("        ip daddr {LINK_LOCAL_V4} accept\n")
        } else {
            format!("        ip daddr {LINK_LOCAL_V4} drop\n")
        };
        format!(
            "table inet {t}\n\
             delete table inet {t}\n\
             table inet {t} {{\n\
             \x20   set bridges {{ type ifname;{bridge_elements} }}\n\
             \x20   set lan_allowed4 {{ type ipv4_addr; flags interval;{lan4} }}\n\
             \x20   set lan_allowed6 {{ type ipv6_addr; flags interval;{lan6} }}\n\
             \x20   chain input {{\n\
             \x20       type filter hook input priority filter - 10; policy accept;\n\
             \x20       iifname != @bridges accept\n\
             \x20       ct state established,related accept\n\
             \x20       fib daddr . iif type local meta l4proto {{ tcp, udp }} th dport 53 accept\n\
             \x20       drop\n\
             \x20   }}\n\
             \x20   chain forward {{\n\
             \x20       type filter hook forward priority filter - 10; policy accept;\n\
             \x20       oifname @bridges ct state established,related accept\n\
             \x20       oifname @bridges drop\n\
             \x20       iifname != @bridges accept\n\
             {metadata}\
             \x20       ip daddr @lan_allowed4 accept\n\
             \x20       ip6 daddr @lan_allowed6 accept\n\
             \x20       ip daddr {{ {v4}, {LINK_LOCAL_V4} }} drop\n\
             \x20       ip6 daddr {{ {v6} }} drop\n\
             \x20   }}\n\
             }}\n",
            v4 = PRIVATE_V4.join(", "),
            v6 = PRIVATE_V6.join(", "),
        )
    }

    /// Replaces the table, atomically, with the rules for these bridges.
    pub async fn apply(&self, bridges: &[String]) -> Result<(), String> {
        let _one = self.lock.lock().await;
        let script = self.ruleset(bridges);
        if let Some(Installer(install)) = &self.installer {
            return install(&script);
        }
        let mut child = tokio::process::Command::new(&self.nft)
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run {} ({e}): install nftables (or set `nftCommand`)",
                    self.nft.display()
                )
            })?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .await
                .map_err(|e| format!("writing the rules to nft: {e}"))?;
        }
        let out =
            tokio::time::timeout(std::time::Duration::from_secs(30), child.wait_with_output())
                .await
                .map_err(|_| "nft did not finish within 30 s".to_string())?
                .map_err(|e| format!("nft: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft refused the isolation rules: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_refuse_clearly() {
        let c: Cidr = "192.168.1.0/24".parse().unwrap();
        assert_eq!(c.to_string(), "192.168.1.0/24");
        assert_eq!(
            "fd00:1::/64".parse::<Cidr>().unwrap().to_string(),
            "fd00:1::/64"
        );
        assert!("0.0.0.0/0".parse::<Cidr>().is_ok());
        let e = "192.168.1.5/24".parse::<Cidr>().unwrap_err();
        assert!(e.contains("192.168.1.0/24"), "{e}");
        assert!("10.0.0.0/33"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("at most 32"));
        assert!("lan"
            .parse::<Cidr>()
            .unwrap_err()
            .contains("ADDRESS/PREFIX"));
        assert!("10.0.0.0".parse::<Cidr>().is_err());
    }

    #[test]
    fn the_ruleset_names_the_bridges_and_blocks_metadata_by_default() {
        let fw = Firewall::new(
            "nft".into(),
            "t-1.x",
            vec!["192.168.7.0/24".parse().unwrap()],
            false,
        );
        assert_eq!(fw.table, "devbox_t_1_x");
        let r = fw.ruleset(&["podman3".into(), "bad name\"".into()]);
        assert!(r.contains("elements = { \"podman3\" }"), "{r}");
        assert!(!r.contains("bad name"), "{r}");
        assert!(r.contains("ip daddr 169.254.0.0/16 drop"), "{r}");
        assert!(r.contains("elements = { 192.168.7.0/24 }"), "{r}");
        // The metadata drop comes before the LAN accept, so a broad LAN range cannot open it.
        let md = r.find("169.254.0.0/16 drop").unwrap();
        let lan = r.find("@lan_allowed4 accept").unwrap();
        assert!(md < lan);
        let open = Firewall::new("nft".into(), "x", vec![], true).ruleset(&[]);
        assert!(open.contains("ip daddr 169.254.0.0/16 accept"), "{open}");
        assert!(!open.contains("elements"), "{open}");
    }
}
