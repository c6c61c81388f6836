# VM test 2: a user creates, stops, starts and destroys a dev container with the real image;
# the container joins the tailnet (a headscale node is the control server) under its own name
# and tags; another user is refused; no secret leaks into the container's surfaces.
{ pkgs, self }:
let
  common = import ./common.nix { inherit pkgs self; };
in
pkgs.testers.runNixOSTest {
  name = "devbox-container-lifecycle";

  nodes = {
    devbox = common.orchestratorNode;
    headscale = common.headscaleNode;
  };

  testScript = ''
    ${common.pythonHelpers}

    start_all()
    headscale.wait_for_unit("headscale.service")
    headscale.wait_for_open_port(8080)
    alice_key = make_authkey(headscale, "alice")
    make_authkey(headscale, "bob")

    devbox.wait_for_unit("devboxd.service")
    devbox.wait_for_file("/run/devbox/devbox.sock")
    store_authkey(devbox, "alice", alice_key)

    with subtest("alice creates a container"):
        operation_ok(devbox, "alice", "POST", "/v1/containers", {"name": "alice-dev"})
        assert container_running(devbox, "alice-dev")
        wait_ready(devbox, "alice-dev")

    with subtest("the container is on the tailnet with its name and tags"):
        wait_tailnet_nodes(headscale, "alice-dev", 1)
        tags = headscale.succeed("headscale nodes list -o json")
        assert "tag:devcontainer" in tags and "tag:alice-container" in tags, tags
        status = json.loads(devbox.succeed("podman exec alice-dev devbox-entrypoint status --json"))
        assert status["tailscale"]["state"] == "running", status

    with subtest("the container has the contract's shape"):
        inspect = json.loads(devbox.succeed("podman container inspect alice-dev"))[0]
        env = inspect["Config"]["Env"]
        assert "DEVBOX_HOSTNAME=alice-dev" in env and "DEVBOX_OWNER=alice" in env, env
        assert not inspect["HostConfig"].get("PortBindings"), "dev containers publish no ports"
        mounts = {m["Destination"]: m for m in inspect["Mounts"]}
        assert mounts["/home/dev"]["Type"] == "volume", mounts
        devbox.succeed("podman exec alice-dev sh -c 'command -v rg && command -v nvim && command -v git'")

    with subtest("no secret in inspect, logs or environment"):
        assert_no_secret(devbox, "alice-dev", OP_TOKEN_CANARY, alice_key)

    with subtest("bob may not touch alice's container, nor see it"):
        operation_refused(devbox, "bob", "POST", "/v1/containers/alice-dev/stop", ("forbidden", "not-found"))
        operation_refused(devbox, "bob", "DELETE", "/v1/containers/alice-dev", ("forbidden", "not-found"))
        assert "alice-dev" not in listed_names(get_ok(devbox, "bob", "/v1/containers"))
        assert "alice-dev" in listed_names(get_ok(devbox, "alice", "/v1/containers"))
        assert container_running(devbox, "alice-dev")

    with subtest("a user outside users.nix cannot reach devboxd"):
        rc, status, _ = api(devbox, "mallory", "GET", "/v1/containers")
        assert rc != 0 and status == 0, "a user outside users.nix reached devboxd's socket"

    with subtest("alice stops it; the node leaves the tailnet"):
        devbox.succeed("podman exec alice-dev sh -c 'echo kept > /home/dev/marker'")
        operation_ok(devbox, "alice", "POST", "/v1/containers/alice-dev/stop")
        assert not container_running(devbox, "alice-dev")
        wait_tailnet_nodes(headscale, "alice-dev", 0)

    with subtest("alice starts it again under the same name; the home volume kept its data"):
        operation_ok(devbox, "alice", "POST", "/v1/containers/alice-dev/start")
        wait_ready(devbox, "alice-dev")
        assert devbox.succeed("podman exec alice-dev cat /home/dev/marker").strip() == "kept"
        # One node: the stopped one logged out, so the new login did not leave a second.
        wait_tailnet_nodes(headscale, "alice-dev", 1)

    with subtest("alice destroys it: container, volume and node are gone"):
        volume = json.loads(devbox.succeed("podman container inspect alice-dev"))[0]["Mounts"][0]["Name"]
        operation_ok(devbox, "alice", "DELETE", "/v1/containers/alice-dev")
        devbox.fail("podman container exists alice-dev")
        devbox.fail(f"podman volume exists {volume}")
        wait_tailnet_nodes(headscale, "alice-dev", 0)
  '';
}
