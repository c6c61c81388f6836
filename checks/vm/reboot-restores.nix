# VM test 3: a container that should be running comes back after the host reboots (FR-027,
# SC-006), with a fresh tailnet login and its home volume intact; a stopped one stays stopped.
{ pkgs, self }:
let
  common = import ./common.nix { inherit pkgs self; };
in
pkgs.testers.runNixOSTest {
  name = "devbox-reboot-restores";

  nodes = {
    devbox = common.orchestratorNode;
    headscale = common.headscaleNode;
  };

  testScript = ''
    ${common.pythonHelpers}

    start_all()
    headscale.wait_for_unit("headscale.service")
    headscale.wait_for_open_port(8080)
    store_authkey(devbox, "alice", make_authkey(headscale, "alice"))
    store_authkey(devbox, "bob", make_authkey(headscale, "bob"))
    devbox.wait_for_unit("devboxd.service")
    devbox.wait_for_file("/run/devbox/devbox.sock")

    with subtest("before the reboot: alice's container runs, bob's is stopped"):
        operation_ok(devbox, "alice", "POST", "/v1/containers", {"name": "alice-dev"})
        wait_ready(devbox, "alice-dev")
        devbox.succeed("podman exec alice-dev sh -c 'echo survived > /home/dev/marker'")
        operation_ok(devbox, "bob", "POST", "/v1/containers", {"name": "bob-dev"})
        wait_ready(devbox, "bob-dev")
        operation_ok(devbox, "bob", "POST", "/v1/containers/bob-dev/stop")

    with subtest("the host reboots"):
        devbox.shutdown()
        devbox.start()
        devbox.wait_for_unit("devboxd.service")

    with subtest("alice's container is back, logged in again, with its data"):
        devbox.wait_until_succeeds(
            "podman container inspect alice-dev --format '{{.State.Running}}' | grep -qx true",
            timeout=300,
        )
        wait_ready(devbox, "alice-dev")
        assert devbox.succeed("podman exec alice-dev cat /home/dev/marker").strip() == "survived"
        # One ONLINE node for alice-dev: the container logged in again. The node of the
        # previous boot may linger offline until headscale's ephemeral timeout (the host went
        # down without a logout), whatever name headscale gave the new one.
        wait_tailnet_nodes(headscale, "alice-dev", 1, timeout=300, online_only=True)

    with subtest("bob's stopped container stayed stopped"):
        devbox.succeed("podman container exists bob-dev")
        assert not container_running(devbox, "bob-dev")
  '';
}
