# Shared pieces of the NixOS VM tests: the orchestrator node, a headscale node as the tailnet's
# control server, a FAKE `op`, and Python helpers for devboxd's HTTP API.
{ pkgs, self }:
let
  inherit (pkgs) lib;

  snakeOil = import "${pkgs.path}/nixos/tests/ssh-keys.nix" pkgs;

  # users.nix of the tests (./users.nix) with the pinned nixpkgs' snake-oil public keys: alice
  # the ECDSA pair, bob the Ed25519 pair. builtins.toFile: a plain file, no build at evaluation.
  vmUsers = import ./users.nix {
    alicePublicKey = snakeOil.snakeOilPublicKey;
    bobPublicKey = snakeOil.snakeOilEd25519PublicKey;
  };
  mkUsersFile = users: builtins.toFile "devbox-vm-users.nix" (lib.generators.toPretty { } users);
  usersFile = mkUsersFile vmUsers;

  # The 1Password service-account token of the tests: a canary that must never appear in a
  # container's inspect output, environment or logs.
  opTokenCanary = "ops_CANARY-op-token-4f1d9c";

  # FAKE `op` (the real CLI needs 1Password's servers). Like the real one it implements
  # `op read op://VAULT/ITEM/FIELD`, refuses to work without OP_SERVICE_ACCOUNT_TOKEN, and fails
  # with "isn't an item" for unknown items. Items live in /var/lib/fake-op/VAULT/ITEM/FIELD,
  # written by the test script; the expected token in /var/lib/fake-op/token.
  fakeOp = pkgs.writeShellApplication {
    name = "op";
    text = ''
      if [ "''${1-}" != read ] || [ $# -ne 2 ]; then
        echo "[ERROR] FAKE op implements only: op read op://VAULT/ITEM/FIELD" >&2
        exit 1
      fi
      if [ -z "''${OP_SERVICE_ACCOUNT_TOKEN-}" ]; then
        echo "[ERROR] You are not currently signed in. Set OP_SERVICE_ACCOUNT_TOKEN." >&2
        exit 1
      fi
      if [ "$OP_SERVICE_ACCOUNT_TOKEN" != "$(cat /var/lib/fake-op/token)" ]; then
        echo "[ERROR] invalid service account token" >&2
        exit 1
      fi
      ref="$2"
      case "$ref" in
        op://*/*/*) ;;
        *) echo "[ERROR] invalid secret reference '$ref'" >&2; exit 1 ;;
      esac
      path="/var/lib/fake-op/''${ref#op://}"
      if [ ! -f "$path" ]; then
        echo "[ERROR] \"$ref\" isn't an item in this vault" >&2
        exit 1
      fi
      cat "$path"
    '';
  };

  headscalePort = 8080;
  stunPort = 3478;
in
{
  inherit
    snakeOil
    opTokenCanary
    fakeOp
    vmUsers
    mkUsersFile
    headscalePort
    ;

  # The control server, plain HTTP inside the test network, with headscale's embedded DERP
  # server (as nixpkgs' nixos/tests/headscale.nix has it). A DERP region is not optional:
  # headscale refuses to start with an empty DERP map ("initial DERPMap is empty, Headscale
  # requires at least one entry", hscontrol/app.go), the default map URL is unreachable offline,
  # and tailscaled stays in "Starting" until a DERP (or a peer) is live (ipn/ipnlocal
  # nextStateLocked: `st.NumLive > 0 || st.LiveDERPs > 0`). The region headscale generates
  # names server_url's host and port; the test image sets TS_DEBUG_USE_DERP_HTTP=1 so the
  # containers' tailscaled speaks DERP over plain HTTP to it (derphttp's debug knob), since the
  # test network has no TLS.
  headscaleNode =
    { nodes, ... }:
    {
      services.headscale = {
        enable = true;
        address = "0.0.0.0";
        port = headscalePort;
        settings = {
          server_url = "http://${nodes.headscale.networking.primaryIPAddress}:${toString headscalePort}";
          dns = {
            magic_dns = false;
            base_domain = "tailnet.test";
          };
          derp = {
            server = {
              enabled = true;
              region_id = 999;
              region_code = "test";
              region_name = "nix-devbox VM test";
              stun_listen_addr = "0.0.0.0:${toString stunPort}";
            };
            urls = [ ];
          };
          # Keys are pre-tagged: each user owns tag:devcontainer and their own tag.
          policy.path = pkgs.writeText "headscale-policy.json" (
            builtins.toJSON {
              tagOwners = {
                "tag:devcontainer" = [
                  "alice@"
                  "bob@"
                ];
                "tag:alice-container" = [ "alice@" ];
                "tag:bob-container" = [ "bob@" ];
              };
              acls = [
                {
                  action = "accept";
                  src = [ "*" ];
                  dst = [ "*:*" ];
                }
              ];
            }
          );
        };
      };
      networking.firewall.allowedTCPPorts = [ headscalePort ];
      networking.firewall.allowedUDPPorts = [ stunPort ];
      environment.systemPackages = [
        pkgs.headscale
        pkgs.jq
      ];
    };

  # The orchestrator, as a consumer would configure it, with the real image pointed at the test's
  # control server and the FAKE op.
  orchestratorNode =
    { nodes, ... }:
    {
      imports = [ self.nixosModules.orchestrator ];

      virtualisation = {
        memorySize = 4096;
        cores = 2;
        diskSize = 12288;
      };

      services.devbox.orchestrator = {
        enable = true;
        inherit usersFile;
        opServiceAccountTokenFile = "/var/lib/secrets/op-service-account-token";
        opPackage = fakeOp;
        image = self.lib.mkDevcontainerImage {
          inherit pkgs;
          inherit (self.packages.${pkgs.stdenv.hostPlatform.system}) devbox-entrypoint;
          extraEnv = [
            "DEVBOX_TAILSCALE_LOGIN_SERVER=http://${nodes.headscale.networking.primaryIPAddress}:${toString headscalePort}"
            # Test network only: DERP over plain HTTP to headscale's embedded server (see above).
            "TS_DEBUG_USE_DERP_HTTP=1"
          ];
        };
        settings = {
          readyTimeoutSecs = 300;
          # The test's control server sits on the test VLAN, a private range that network
          # isolation keeps containers away from unless the admin lists it.
          allowedLanCidrs = [ "${nodes.headscale.networking.primaryIPAddress}/32" ];
        };
      };

      # Someone with a Unix account who is not in users.nix (so not in the devbox group).
      users.users.mallory = {
        isNormalUser = true;
        openssh.authorizedKeys.keys = [ snakeOil.snakeOilPublicKey ];
      };

      # The token outside the Nix store, as sops-nix or agenix would put it; the FAKE op's copy.
      systemd.tmpfiles.rules = [
        "d /var/lib/secrets 0700 root root -"
        "f+ /var/lib/secrets/op-service-account-token 0400 root root - ${opTokenCanary}"
        "d /var/lib/fake-op 0755 root root -"
        "f+ /var/lib/fake-op/token 0444 root root - ${opTokenCanary}"
      ];

      environment.systemPackages = [
        pkgs.curl
        pkgs.jq
      ];
    };

  # Python helpers for the test scripts.
  pythonHelpers = ''
    import json
    import shlex

    OP_TOKEN_CANARY = "${opTokenCanary}"

    def api(machine, user, method, path, body=None):
        """Call devboxd's HTTP API as a Unix user.

        Returns (curl exit code, HTTP status, last JSON value of the body). Long operations
        answer with one JSON event per line; the last one is `done` or `error`.
        """
        cmd = (
            "curl -sS --no-buffer --unix-socket /run/devbox/devbox.sock "
            f"-X {method} -H 'content-type: application/json' -w '\\n%{{http_code}}' "
        )
        if body is not None:
            cmd += "--data " + shlex.quote(json.dumps(body)) + " "
        cmd += shlex.quote(f"http://devbox{path}")
        rc, out = machine.execute(f"runuser -u {user} -- {cmd}")
        lines = [line for line in out.splitlines() if line.strip()]
        status = 0
        if lines and lines[-1].strip().isdigit():
            status = int(lines.pop().strip())
        value = None
        if lines:
            try:
                value = json.loads(lines[-1])
            except json.JSONDecodeError:
                value = {"unparsed": out}
        return rc, status, value

    def operation_ok(machine, user, method, path, body=None):
        """An operation that must succeed (HTTP 200 and, if streamed, a final `done` event)."""
        rc, status, value = api(machine, user, method, path, body)
        ok = rc == 0 and status == 200 and not (isinstance(value, dict) and value.get("event") == "error")
        assert ok, f"{user}: {method} {path} did not succeed: rc={rc} status={status} {value}"
        if isinstance(value, dict) and value.get("event") == "done":
            return value.get("result")
        return value

    def operation_refused(machine, user, method, path, codes, body=None):
        """An operation devboxd must refuse with one of `codes`."""
        rc, status, value = api(machine, user, method, path, body)
        code = None
        if isinstance(value, dict):
            code = value.get("code") or (value.get("error") or {}).get("code")
        assert code in codes, (
            f"{user}: {method} {path} expected one of {codes}, got rc={rc} status={status} {value}"
        )

    def get_ok(machine, user, path):
        rc, status, value = api(machine, user, "GET", path)
        assert rc == 0 and status == 200, f"{user}: GET {path}: rc={rc} status={status} {value}"
        return value

    def listed_names(value):
        """Container names of a list answer (a list, or an object holding one)."""
        items = value if isinstance(value, list) else (value or {}).get("containers", [])
        return [c["name"] for c in items]

    def container_running(machine, name):
        return machine.succeed(
            f"podman container inspect {name} --format '{{{{.State.Running}}}}'"
        ).strip() == "true"

    def wait_ready(machine, name):
        machine.wait_until_succeeds(
            f"podman exec {name} devbox-entrypoint status --json | jq -e '.ready == true'",
            timeout=300,
        )

    def make_authkey(headscale, user):
        """A reusable, ephemeral, pre-tagged key for `user` (as the real keys are, FR-051)."""
        headscale.succeed(f"headscale users create {user}")
        user_id = headscale.succeed(
            f"headscale users list -o json | jq -r '.[] | select(.name == \"{user}\") | .id'"
        ).strip()
        return headscale.succeed(
            f"headscale preauthkeys create --user {user_id} --reusable --ephemeral "
            f"--tags tag:devcontainer,tag:{user}-container --expiration 24h -o json | jq -r .key"
        ).strip()

    def store_authkey(devbox, user, key):
        """Put the key where the FAKE op finds op://DevBox/{user}-tailscale-authkey/password."""
        item = f"/var/lib/fake-op/DevBox/{user}-tailscale-authkey"
        devbox.succeed(f"mkdir -p {item} && printf %s {shlex.quote(key)} > {item}/password")

    def tailnet_nodes(headscale, hostname, online_only=False):
        """How many nodes headscale lists with this hostname or a name derived from it.

        Counted from `headscale nodes list -o json` (given_name, else name): headscale does not
        suffix a taken hostname the way Tailscale's control plane does (`NAME-1`), so a
        duplicate shows as a second node, not as a name to grep for.
        """
        out = headscale.succeed("headscale nodes list -o json")
        nodes = [n for n in (json.loads(out) or []) if n.get("online") or not online_only]
        names = [n.get("given_name") or n.get("givenName") or n.get("name") or "" for n in nodes]
        return sum(1 for n in names if n == hostname or n.startswith(hostname + "-"))

    def wait_tailnet_nodes(headscale, hostname, count, timeout=120, online_only=False):
        """Wait until exactly `count` nodes (online ones only, if asked) carry this hostname."""
        online = "select(.online == true) | " if online_only else ""
        headscale.wait_until_succeeds(
            "headscale nodes list -o json | jq -e "
            + shlex.quote(
                f'[.[]? | {online}(.given_name // .givenName // .name // "") '
                f'| select(. == "{hostname}" or startswith("{hostname}-"))] | length == {count}'
            ),
            timeout=timeout,
        )
        assert tailnet_nodes(headscale, hostname, online_only) == count

    def assert_no_secret(devbox, name, *secrets):
        """No secret in podman inspect (env, args, labels) or the container's logs."""
        inspect = devbox.succeed(f"podman container inspect {name}")
        logs = devbox.succeed(f"podman logs {name} 2>&1")
        env = devbox.succeed(f"podman exec {name} cat /proc/1/environ | tr '\\0' '\\n'")
        for secret in secrets:
            for where, text in (("inspect", inspect), ("logs", logs), ("PID 1 environment", env)):
                assert secret not in text, f"a secret leaked into {where} of {name}"
  '';
}
