# Stand-ins for the few nixpkgs values images/devcontainer.nix touches, so pure checks can
# evaluate the image definition without nixpkgs. Every package is an attrset that names itself;
# dockerTools.streamLayeredImage returns its arguments, so a check can inspect exactly what the
# image would contain.
let
  profile = import ../../profiles;
  pkg = name: {
    stubPackage = name;
    outPath = "/stub/${name}";
  };
  toolStubs = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = pkg name;
    }) profile.toolNames
  );
in
toolStubs
// {
  tailscale = pkg "tailscale";
  code-server = pkg "code-server";
  syncthing = pkg "syncthing";
  nix = pkg "nix";
  zed-editor = pkg "zed-editor" // {
    version = "0.1.0";
    remote_server = pkg "zed-editor-remote_server";
    remoteServerExecutableName = "zed-remote-server-stable-0.1.0+stable";
  };
  writeTextDir = path: text: {
    stubPackage = "writeTextDir";
    inherit path text;
  };
  lib.generators.toGitINI = attrs: "stub-gitini:" + builtins.toJSON attrs;
  dockerTools = {
    streamLayeredImage = args: args // { stubPackage = "streamLayeredImage"; };
    fakeNss = {
      override = args: pkg "fakeNss" // { overrideArgs = args; };
    };
    caCertificates = pkg "caCertificates";
    usrBinEnv = pkg "usrBinEnv";
    binSh = pkg "binSh";
  };
}
