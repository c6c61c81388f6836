# lib/naming.nix: the 1Password reference, the Tailscale tags and the container defaults are the
# conventions devbox-schema (Rust) checks exports against and devboxd relies on.
let
  naming = import ../../lib/naming.nix;
  expect =
    name: got: want:
    if got == want then
      true
    else
      throw "lib-naming: ${name}: got ${builtins.toJSON got}, want ${builtins.toJSON want}";
in
builtins.all (x: x) [
  (expect "opReference" (naming.opReference "DevBox" "alice")
    "op://DevBox/alice-tailscale-authkey/password"
  )
  (expect "containerTag" naming.containerTag "tag:devcontainer")
  (expect "userTag" (naming.userTag "bob") "tag:bob-container")
  (expect "tailscaleTags" (naming.tailscaleTags "bob") [
    "tag:devcontainer"
    "tag:bob-container"
  ])
  (expect "containerDefaults" naming.containerDefaults {
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
  })
]
