#!/usr/bin/env bash
# The nix-devbox LOCAL DEMO: on a fresh Debian machine (as root), installs what is needed, builds
# the workspace, starts devboxd with a local config and creates a dev container, then shows
# `devbox-ctl list` and `devbox-ctl status`.
#
#   scripts/demo.sh            # run the demo, clean everything up at the end
#   DEVBOX_DEMO_KEEP=1 scripts/demo.sh   # leave the daemon and the container running
#
# CLEARLY LABELLED FAKES (this machine has no 1Password, no tailnet and no Nix store):
#   - `op` is the test kit's FAKE 1Password CLI (fake-op) with a local store holding a demo key;
#   - tailscale/tailscaled, code-server and the Zed server inside the image are the test kit's
#     FAKES (a local fake tailnet); devbox-entrypoint, Podman and Syncthing are real;
#   - the image is the testbed image (`podman import` FROM scratch), not the Nix-built one.
# Everything else is the real product: devboxd, devbox-ctl, SO_PEERCRED auth, Podman, quotas.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh must run as root (it installs packages, runs rootful Podman and creates a demo user)" >&2
  exit 2
fi

step() { printf '\n==> %s\n' "$*"; }

step "setup: packages and Podman configuration"
bash scripts/setup-debian.sh
command -v cargo >/dev/null || { echo "demo.sh needs a Rust toolchain (cargo) on PATH: https://rustup.rs" >&2; exit 2; }

step "build the workspace (daemon, CLI, entrypoint, fakes)"
cargo build --workspace --bins --locked
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bin="$target_dir/debug"

step "build the LOCAL DEMO image (real entrypoint + Syncthing, FAKE tailscale/code-server/zed)"
cargo build -q --locked -p devboxd --example demo-image
# The test kit finds the workspace binaries relative to target/<profile>/deps/.
cp "$bin/examples/demo-image" "$bin/deps/devbox-demo-image"
image=$("$bin/deps/devbox-demo-image")
echo "image: $image"

demo=$(mktemp -d -t devbox-demo.XXXXXX)
chmod 0755 "$demo"
user=dbxdemo
group=dbxdemo-sock
name=demo-box
daemon_pid=""
podman_pid=""

cleanup() {
  set +e
  # The teardown, as a script: run now, or (DEVBOX_DEMO_KEEP=1) left for later. It removes only
  # the demo's own things: its daemon and Podman service, every container and volume of the
  # demo's devboxd instance (label devbox.instance=demo, kept volumes too), its user and group.
  cat > "$demo/cleanup.sh" <<SH
#!/usr/bin/env bash
# Tears down the nix-devbox LOCAL DEMO in $demo (written by scripts/demo.sh).
${daemon_pid:+kill $daemon_pid 2>/dev/null}
podman ps -aq --filter label=devbox.instance=demo | xargs -r podman rm -f -t 2 >/dev/null 2>&1
podman volume ls -q --filter label=devbox.instance=demo | xargs -r podman volume rm -f >/dev/null 2>&1
${podman_pid:+kill $podman_pid 2>/dev/null}
userdel $user 2>/dev/null
groupdel $group 2>/dev/null
rm -rf $demo
echo "demo cleaned up"
SH
  chmod 0700 "$demo/cleanup.sh"
  if [ "${DEVBOX_DEMO_KEEP:-0}" = 1 ]; then
    cat <<TXT

Left running (DEVBOX_DEMO_KEEP=1): devboxd (pid $daemon_pid, log $demo/devboxd.log) and Podman's API service.
Use devbox-ctl as the demo user:
  runuser -u $user -- $demo/devbox-ctl --socket $demo/run/devbox.sock status $name
  runuser -u $user -- $demo/devbox-ctl --socket $demo/run/devbox.sock --help
Clean up (daemon, Podman service, the demo's containers and volumes, user, group, files):
  bash $demo/cleanup.sh
TXT
    return
  fi
  step "clean up"
  [ -n "$daemon_pid" ] && runuser -u "$user" -- "$demo/devbox-ctl" --socket "$demo/run/devbox.sock" destroy "$name" --yes >/dev/null 2>&1
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  bash "$demo/cleanup.sh"
}
trap cleanup EXIT

step "a demo Unix user ($user) in the socket group ($group)"
getent group "$group" >/dev/null || groupadd "$group"
id "$user" >/dev/null 2>&1 || useradd -M -N -s /usr/sbin/nologin -G "$group" "$user"
uid=$(id -u "$user")

step "users.nix -> users.json with the real Nix export (lib/export-users.nix)"
cat > "$demo/users.nix" <<NIX
{
  users.$user = {
    uid = $uid;
    description = "Demo User";
    email = "demo@example.org";
    gitUser = "demo-user";
    isAdmin = true;
    sshKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAhQH7HtuvNifaSW9dPRB84nII1PRUfRJ5AZtFodeJx demo@example.invalid (placeholder)" ];
  };
}
NIX
nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile "$demo/users.nix" > "$demo/users.json"
"$bin/devbox-schema" validate "$demo/users.json" >/dev/null

step "FAKE 1Password: a local store with a demo Tailscale key for $user (fake tailnet accepts tskey-auth-*)"
mkdir -p "$demo/creds"
token="ops_demo_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$token" > "$demo/creds/op-service-account-token"
chmod 0600 "$demo/creds/op-service-account-token"
cat > "$demo/op-store.json" <<JSON
{"token": "$token", "items": {"op://DevBox/$user-tailscale-authkey/password": "tskey-auth-demo-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"}}
JSON
chmod 0600 "$demo/op-store.json"

step "Podman's API service (rootful) on a private socket"
podman system service --time=0 "unix://$demo/podman.sock" >/dev/null 2>&1 &
podman_pid=$!
for _ in $(seq 100); do [ -S "$demo/podman.sock" ] && break; sleep 0.1; done

step "devboxd with a local config"
mkdir -p "$demo/run" && chmod 0755 "$demo/run"
cat > "$demo/devboxd.json" <<JSON
{
  "usersFile": "$demo/users.json",
  "socketPath": "$demo/run/devbox.sock",
  "socketGroup": "$group",
  "podmanSocket": "$demo/podman.sock",
  "image": "$image",
  "stateDir": "$demo/state",
  "opCommand": "$bin/fake-op",
  "opTokenFile": "$demo/creds/op-service-account-token",
  "instance": "demo"
}
JSON
cat "$demo/devboxd.json"
install -m 0755 "$bin/devbox-ctl" "$demo/devbox-ctl"
FAKE_OP_STORE="$demo/op-store.json" "$bin/devboxd" --config "$demo/devboxd.json" 2>"$demo/devboxd.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$demo/run/devbox.sock" ] && break; sleep 0.1; done

ctl() { runuser -u "$user" -- "$demo/devbox-ctl" --socket "$demo/run/devbox.sock" "$@"; }

step "devbox-ctl doctor (as $user)"
ctl doctor

step "devbox-ctl create $name (as $user)"
ctl create "$name" --with-syncthing

step "devbox-ctl list"
ctl list

step "devbox-ctl status $name"
ctl status "$name"

step "the audit trail (daemon log, never a secret)"
grep 'devbox::audit' "$demo/devboxd.log" || true
