#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (run as root) for the nix-devbox test suite:
# installs Podman (with netavark, the network backend NixOS uses), runc, Nix's evaluator,
# Syncthing and busybox, configures Podman for kernels with hybrid cgroups v1 (runc + cgroupfs)
# and makes Nix's evaluator usable without a multi-user install. Safe to run again: every step is
# idempotent.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh must run as root (it installs packages and configures Podman)" >&2
  exit 2
fi

# passwd (useradd), util-linux (runuser, prlimit) and bsdutils (script) are used by the tests too.
# netavark + aardvark-dns: the network backend of NixOS's Podman (Debian's Podman defaults to CNI);
# nftables/iproute2: the network isolation tests read and probe the rules. iptables: netavark 1.4
# sets up its bridges and NAT with it and fails with "No such file or directory" without it (only
# a Recommends of Podman, so --no-install-recommends leaves it out).
packages=(podman runc uidmap netavark aardvark-dns nftables iptables iproute2 nix-bin syncthing busybox-static
  curl ca-certificates python3 passwd util-linux bsdutils)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Podman on this kernel: runc + cgroupfs (hybrid cgroups v1), file events (no journald here),
# no default ulimits (the sandbox refuses raising them).
mkdir -p /etc/containers
conf=/etc/containers/containers.conf
# Our own file (marked) is rewritten so that a machine set up by an older version catches up.
if [ ! -e "$conf" ] || grep -q 'nix-devbox test setup' "$conf"; then
  cat > "$conf" <<'CONF'
# nix-devbox test setup (scripts/setup-debian.sh)
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
CONF
fi

# Switching the network backend needs a reset of Podman's storage (its docs say so); done only
# while the backend is still CNI, i.e. once, on a machine this script just set up.
backend=$(podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null || echo unknown)
if [ "$backend" != "netavark" ]; then
  echo "setup: Podman network backend is '$backend'; switching to netavark (podman system reset)"
  podman system reset --force >/dev/null
  backend=$(podman info --format '{{.Host.NetworkBackend}}')
  [ "$backend" = "netavark" ] || { echo "setup: Podman still uses '$backend', not netavark" >&2; exit 1; }
fi

# Nix's evaluator as a packaged single-user install has it: Debian's nix-bin creates no nixbld
# group, and Nix's built-in default `build-users-group = nixbld` makes every command warn on
# stderr. Nothing is built here, so no build users are needed; an existing nix.conf is left alone.
if [ ! -e /etc/nix/nix.conf ]; then
  mkdir -p /etc/nix
  cat > /etc/nix/nix.conf <<'CONF'
# nix-devbox test setup (scripts/setup-debian.sh): evaluation only, no build users.
build-users-group =
CONF
fi
if ! out=$(nix-instantiate --eval --expr '1 + 1' 2>&1) || [ "$out" != 2 ]; then
  echo "setup: nix-instantiate is not usable quietly; it printed:" >&2
  echo "$out" >&2
  exit 1
fi

# --userns=auto takes its ranges from the "containers" user in /etc/subuid and /etc/subgid.
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  grep -q '^containers:' "$f" || echo "containers:2147483647:2147483648" >> "$f"
done

echo "setup: podman $(podman --version | awk '{print $3}'), $(nix-instantiate --version), syncthing $(syncthing --version | awk '{print $2}')"
