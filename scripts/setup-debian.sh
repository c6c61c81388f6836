#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (run as root) for the nix-devbox test suite:
# installs Podman, runc, Nix's evaluator, Syncthing and busybox, and configures Podman for
# kernels with hybrid cgroups v1 (runc + cgroupfs). Safe to run again: every step is idempotent.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup-debian.sh must run as root (it installs packages and configures Podman)" >&2
  exit 2
fi

# passwd (useradd), util-linux (runuser, prlimit) and bsdutils (script) are used by the tests too.
packages=(podman runc uidmap nix-bin syncthing busybox-static curl ca-certificates python3 passwd util-linux bsdutils)
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
if ! grep -q 'nix-devbox test setup' "$conf" 2>/dev/null; then
  cat > "$conf" <<'CONF'
# nix-devbox test setup (scripts/setup-debian.sh)
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi

# --userns=auto takes its ranges from the "containers" user in /etc/subuid and /etc/subgid.
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  grep -q '^containers:' "$f" || echo "containers:2147483647:2147483648" >> "$f"
done

echo "setup: podman $(podman --version | awk '{print $3}'), $(nix-instantiate --version), syncthing $(syncthing --version | awk '{print $2}')"
