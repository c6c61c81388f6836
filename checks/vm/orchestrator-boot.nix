# VM test 1: the orchestrator boots; SSH accepts the users' keys and refuses passwords and root;
# Podman works with the real image (and carries the shared tool set); devboxd is up, its socket
# belongs to the devbox group, and Podman's API socket is closed to the users.
{ pkgs, self }:
let
  inherit (pkgs) lib;
  common = import ./common.nix { inherit pkgs self; };
  profile = import ../../profiles;
in
pkgs.testers.runNixOSTest {
  name = "devbox-orchestrator-boot";

  nodes = {
    devbox = common.orchestratorNode;
    headscale = common.headscaleNode;
    client = {
      environment.systemPackages = [ pkgs.openssh ];
    };
  };

  testScript =
    { nodes, ... }:
    let
      image = nodes.devbox.services.devbox.orchestrator.image;
      imageRef = "localhost/${image.imageName or "devbox-devcontainer"}:${image.imageTag}";
    in
    ''
      ${common.pythonHelpers}

      start_all()
      devbox.wait_for_unit("multi-user.target")
      devbox.wait_for_unit("sshd.service")

      with subtest("sshd: keys only, no root, as configured"):
          effective = devbox.succeed("sshd -T")
          for line in ("passwordauthentication no", "kbdinteractiveauthentication no", "permitrootlogin no"):
              assert line in effective.splitlines(), f"sshd -T lacks '{line}'"

      with subtest("ssh: the user's key is accepted, passwords and root are refused"):
          client.succeed("install -m 0600 ${common.snakeOil.snakeOilPrivateKey} /root/id_alice")
          client.succeed("install -m 0600 ${common.snakeOil.snakeOilEd25519PrivateKey} /root/id_bob")
          opts = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=10"
          client.wait_until_succeeds(f"ssh {opts} -i /root/id_alice alice@devbox true", timeout=120)
          assert client.succeed(f"ssh {opts} -i /root/id_bob bob@devbox id -un").strip() == "bob"
          # Each key opens its own account only.
          client.fail(f"ssh {opts} -i /root/id_bob alice@devbox true")
          # The server offers public keys only.
          methods = client.succeed(
              f"ssh {opts} -o PreferredAuthentications=none -v alice@devbox true 2>&1 || true"
          )
          offered = [l for l in methods.splitlines() if "Authentications that can continue" in l]
          assert offered and all("password" not in l and "keyboard-interactive" not in l for l in offered), offered
          assert all("publickey" in l for l in offered), offered
          client.fail(f"ssh {opts} -o PreferredAuthentications=password,keyboard-interactive alice@devbox true")
          client.fail(f"ssh {opts} -i /root/id_alice root@devbox true")

      with subtest("users.nix became Unix users: admins in wheel, everyone in devbox"):
          assert "wheel" in devbox.succeed("id -Gn alice").split()
          assert "wheel" not in devbox.succeed("id -Gn bob").split()
          for user in ("alice", "bob"):
              assert "devbox" in devbox.succeed(f"id -Gn {user}").split()
          assert devbox.succeed("id -u bob").strip() == "1001"

      with subtest("the image is loaded into Podman and runs"):
          devbox.wait_for_unit("devbox-image-load.service")
          devbox.succeed("podman image exists ${imageRef}")
          devbox.succeed("podman run --rm --network none --entrypoint /bin/sh ${imageRef} -c true")

      with subtest("the image carries the shared tool set"):
          programs = ${builtins.toJSON (builtins.toJSON profile.toolPrograms)}
          missing = devbox.succeed(
              "podman run --rm --network none --entrypoint /bin/sh ${imageRef} -c "
              + shlex.quote("for p in " + " ".join(json.loads(programs)) + "; do command -v $p >/dev/null || echo $p; done")
          ).split()
          assert missing == [], f"programs of profiles/cli-tools.nix missing from the image: {missing}"

      with subtest("a second boot-time load is skipped when the image is unchanged"):
          devbox.succeed("systemctl restart devbox-image-load.service")
          devbox.succeed("journalctl -u devbox-image-load.service -b | grep -q 'already loaded'")

      with subtest("older images of the repository are removed, the current one stays"):
          repo = "${lib.removeSuffix ":${image.imageTag}" imageRef}"
          devbox.succeed(f"podman tag ${imageRef} {repo}:older")
          devbox.succeed("systemctl restart devbox-image-load.service")
          devbox.fail(f"podman image exists {repo}:older")
          devbox.succeed("podman image exists ${imageRef}")

      with subtest("devboxd is up; its socket is for the devbox group only"):
          devbox.wait_for_unit("devboxd.service")
          devbox.wait_for_file("/run/devbox/devbox.sock")
          assert devbox.succeed("stat -c '%a %G' /run/devbox/devbox.sock").strip() == "660 devbox"
          who = get_ok(devbox, "bob", "/v1/whoami")
          assert who["user"] == "bob" and who["uid"] == 1001 and not who["isAdmin"], who
          who = get_ok(devbox, "alice", "/v1/whoami")
          assert who["isAdmin"], who
          rc, status, _ = api(devbox, "mallory", "GET", "/v1/whoami")
          assert rc != 0 and status == 0, "a user outside users.nix reached devboxd's socket"
          devbox.succeed("runuser -u alice -- devbox-ctl --help")

      with subtest("Podman's API socket is not open to users"):
          devbox.succeed("curl -sf --unix-socket /run/podman/podman.sock http://d/_ping")
          for user in ("alice", "bob", "mallory"):
              devbox.fail(f"runuser -u {user} -- curl -sf --unix-socket /run/podman/podman.sock http://d/_ping")

      with subtest("the 1Password token is handed over as a credential, not a file in the store"):
          devbox.succeed("systemctl show devboxd -p LoadCredential | grep -q op-service-account-token")
          # /etc/devbox/* are symlinks into /etc/static: -R follows them. grep exits 1 when
          # nothing matches and 2 on an error (a missing file); only 1 is a pass.
          rc, out = devbox.execute(
              f"grep -RlF {OP_TOKEN_CANARY} /etc/devbox/ \"$(readlink -f /etc/devbox/devboxd.json)\""
          )
          assert rc == 1, f"the token canary is in the configuration, or grep failed (exit {rc}): {out}"
          devbox.fail("systemctl show devboxd -p Environment | grep -F " + OP_TOKEN_CANARY)
    '';
}
