# The naming conventions of nix-devbox, in one place (mirrored by devbox_schema::model::naming in
# Rust; the validator checks that an export agrees with it). Pure Nix: builtins only.
rec {
  # The 1Password reference of a user's Tailscale auth key, read with `op read`.
  opReference = vault: user: "op://${vault}/${user}-tailscale-authkey/password";

  # The tag every dev container advertises.
  containerTag = "tag:devcontainer";

  # The tag that marks a container as belonging to `user`.
  userTag = user: "tag:${user}-container";

  # The tags a user's containers advertise (`tailscale up --advertise-tags`); the user's auth key
  # must be created with exactly these tags.
  tailscaleTags = user: [
    containerTag
    (userTag user)
  ];

  # Defaults of the `containers` section of users.nix.
  containerDefaults = {
    opVault = "DevBox";
    maxPerUser = 5;
    maxGlobal = 7;
    defaultCpu = 2;
    defaultMemory = "4G";
    maxCpu = 16;
    maxMemory = "64G";
    maxKeptVolumesPerUser = 5;
    idleStopDays = 7;
    stoppedDestroyDays = 14;
  };
}
