# VM test 4: the orchestrator itself on the tailnet (services.devbox.orchestrator.tailscale):
# its auth key comes from the (FAKE) 1Password through the service-account token into a
# root-only file under /run; it joins a headscale tailnet tagged tag:devbox-orchestrator with
# Tailscale SSH; carol, who has NO OpenSSH key (`tailscaleSsh = true` in users.nix), reaches
# it over Tailscale SSH as herself and only as herself; OpenSSH still refuses passwords.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  common = import ./common.nix { inherit pkgs self; };
  # The VM users plus carol: no SSH key, Tailscale SSH only.
  users = common.vmUsers // {
    users = common.vmUsers.users // {
      carol = {
        uid = 1002;
        description = "Carol Test";
        email = "carol@example.org";
        gitUser = "carol-test";
        tailscaleSsh = true;
      };
    };
  };
  # The tailnet policy the orchestrator needs (what the policy generator must produce): every
  # users.nix person may reach tag:devbox-orchestrator over Tailscale SSH as their own Unix
  # user. Here: carol as carol. The host's key is owned by alice (an admin).
  policy = pkgs.writeText "headscale-policy.json" (
    builtins.toJSON {
      tagOwners."tag:devbox-orchestrator" = [ "alice@" ];
      acls = [
        {
          action = "accept";
          src = [ "*" ];
          dst = [ "*:*" ];
        }
      ];
      ssh = [
        {
          action = "accept";
          src = [ "carol@" ];
          dst = [ "tag:devbox-orchestrator" ];
          users = [ "carol" ];
        }
      ];
    }
  );
  # The test network has no TLS: DERP over plain HTTP to headscale's embedded server (see
  # common.nix), for the host's and the client's tailscaled.
  derpOverHttp = {
    systemd.services.tailscaled.environment.TS_DEBUG_USE_DERP_HTTP = "1";
  };
in
pkgs.testers.runNixOSTest {
  name = "devbox-orchestrator-tailscale-ssh";

  nodes = {
    headscale = {
      imports = [ common.headscaleNode ];
      services.headscale.settings.policy.path = lib.mkForce policy;
    };
    devbox =
      { nodes, ... }:
      {
        imports = [
          common.orchestratorNode
          derpOverHttp
        ];
        services.devbox.orchestrator = {
          usersFile = lib.mkForce (common.mkUsersFile users);
          tailscale = {
            enable = true;
            loginServer = "http://${nodes.headscale.networking.primaryIPAddress}:${toString common.headscalePort}";
          };
        };
        services.tailscale.openFirewall = true;
      };
    client = {
      imports = [ derpOverHttp ];
      services.tailscale = {
        enable = true;
        openFirewall = true;
      };
      environment.systemPackages = [ pkgs.openssh ];
    };
  };

  testScript =
    { nodes, ... }:
    let
      loginServer = "http://${nodes.headscale.networking.primaryIPAddress}:${toString common.headscalePort}";
    in
    ''
      ${common.pythonHelpers}

      start_all()
      headscale.wait_for_unit("headscale.service")
      headscale.wait_for_open_port(${toString common.headscalePort})

      def user_id(name):
          headscale.succeed(f"headscale users create {name}")
          return headscale.succeed(
              f"headscale users list -o json | jq -r '.[] | select(.name == \"{name}\") | .id'"
          ).strip()

      # The host's key: reusable, NOT ephemeral, pre-tagged tag:devbox-orchestrator.
      host_key = headscale.succeed(
          f"headscale preauthkeys create --user {user_id('alice')} --reusable "
          "--tags tag:devbox-orchestrator --expiration 24h -o json | jq -r .key"
      ).strip()
      carol_key = headscale.succeed(
          f"headscale preauthkeys create --user {user_id('carol')} --reusable --expiration 24h -o json | jq -r .key"
      ).strip()

      devbox.wait_for_unit("multi-user.target")
      item = "/var/lib/fake-op/DevBox/devbox-orchestrator-tailscale-authkey"
      devbox.succeed(f"mkdir -p {item} && printf %s {shlex.quote(host_key)} > {item}/password")
      devbox.succeed("systemctl restart devbox-tailscale-authkey.service")
      devbox.succeed("systemctl restart tailscaled-autoconnect.service")

      with subtest("the auth key is a root-only file under /run, read through the credential"):
          assert devbox.succeed("stat -c '%a %U' /run/devbox-tailscale-authkey/authkey").strip() == "400 root"
          assert devbox.succeed("cat /run/devbox-tailscale-authkey/authkey").strip() == host_key
          for unit in ("devbox-tailscale-authkey", "tailscaled", "tailscaled-autoconnect"):
              env = devbox.succeed(f"systemctl show {unit} -p Environment")
              assert host_key not in env and OP_TOKEN_CANARY not in env, f"a secret in {unit}'s environment"
          devbox.fail("stat /var/lib/devbox-tailscale-authkey")

      with subtest("the orchestrator is on the tailnet, tagged, with Tailscale SSH"):
          devbox.wait_until_succeeds(
              "tailscale status --json | jq -e '.BackendState == \"Running\"'", timeout=180
          )
          nodes_json = headscale.succeed("headscale nodes list -o json")
          assert "tag:devbox-orchestrator" in nodes_json, nodes_json
          ip = devbox.succeed("tailscale ip -4").strip()

      with subtest("carol has no SSH key, and reaches the orchestrator over Tailscale SSH as herself"):
          client.wait_for_unit("tailscaled.service")
          client.succeed(
              f"tailscale up --login-server=${loginServer} --auth-key={shlex.quote(carol_key)} --hostname=carol-laptop"
          )
          opts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10"
          client.wait_until_succeeds(f"ssh {opts} carol@{ip} true", timeout=180)
          assert client.succeed(f"ssh {opts} carol@{ip} id -un").strip() == "carol"
          assert "devbox" in client.succeed(f"ssh {opts} carol@{ip} id -Gn").split()
          client.succeed(f"ssh {opts} carol@{ip} devbox-ctl --help")

      with subtest("only as herself"):
          client.fail(f"ssh {opts} alice@{ip} true")
          client.fail(f"ssh {opts} root@{ip} true")

      with subtest("OpenSSH still takes keys only"):
          effective = devbox.succeed("sshd -T")
          assert "passwordauthentication no" in effective.splitlines()
          assert "kbdinteractiveauthentication no" in effective.splitlines()
    '';
}
