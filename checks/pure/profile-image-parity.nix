# The dev container image carries every tool of the shared profile, plus the programs the
# entrypoint runs, and its configuration follows the container contract. Evaluated with
# stand-in packages (checks/support/stub-pkgs.nix) and the real nixpkgs lib.
{ lib, ... }:
let
  profile = import ../../profiles;
  pkgs = import ../support/stub-pkgs.nix { inherit lib; };
  entrypoint = (import ../support/stub-pkgs.nix {
    inherit lib;
    extraNames = [ "devbox-entrypoint" ];
  }).devbox-entrypoint;
  image = import ../../images/devcontainer.nix {
    inherit pkgs;
    devbox-entrypoint = entrypoint;
  };
  imageNoNix = import ../../images/devcontainer.nix {
    inherit pkgs;
    devbox-entrypoint = entrypoint;
    withNix = false;
  };

  names = map (p: p.stubPackage) image.contents;
  has = n: builtins.elem n names;
  files = builtins.listToAttrs (
    map (p: {
      name = p.path;
      value = p.text;
    }) (builtins.filter (p: p.stubPackage == "writeTextDir") image.contents)
  );
  contains = needle: hay: builtins.match ".*${needle}.*" hay != null;
  env = image.config.Env;

  check =
    cond: msg:
    if cond then true else throw "profile-image-parity: ${msg}";

  missingTools = builtins.filter (n: !has n) profile.toolNames;
in
builtins.all (x: x) [
  (check (missingTools == [ ]) "tools of profiles/cli-tools.nix missing from the image: ${builtins.toJSON missingTools}")
  (check (builtins.all has [
    "devbox-entrypoint"
    "tailscale"
    "code-server"
    "syncthing"
    "caCertificates"
    "nix"
  ]) "the image lacks one of entrypoint, tailscale, code-server, syncthing, CA certificates, nix: ${builtins.toJSON names}")
  (check (!(builtins.elem "nix" (map (p: p.stubPackage) imageNoNix.contents))) "withNix = false still puts nix in the image")
  (check (image.includeNixDB && !imageNoNix.includeNixDB) "includeNixDB must follow withNix")
  (check (image.config.Entrypoint == [ "/bin/devbox-entrypoint" ]) "PID 1 must be devbox-entrypoint")
  (check (image.config.Volumes ? "/home/dev") "/home/dev must be a volume")
  (check (image.name == "devbox-devcontainer" && image.tag == null) "image name/tag changed: the orchestrator relies on the content-hash tag")
  # The entrypoint links ~/.zed_server/zed-remote-server-stable-VERSION to this binary.
  (check (builtins.elem "DEVBOX_ZED_SERVER_BINARY=/opt/devbox/zed-remote-server" env) "the Zed server binary must be announced to the entrypoint")
  (check (builtins.elem "DEVBOX_ZED_VERSION=0.1.0+stable" env) "DEVBOX_ZED_VERSION must be the version part of nixpkgs' remoteServerExecutableName")
  (check (contains "ln -s ${pkgs.zed-editor.remote_server}/bin/zed-remote-server-stable-0.1.0[+]stable ./opt/devbox/zed-remote-server" image.fakeRootCommands) "the Zed remote server must be linked at /opt/devbox/zed-remote-server")
  (check (contains "chown -R 1000:1000 ./home/dev" image.fakeRootCommands) "/home/dev must belong to dev (1000:1000)")
  # Multi-user Nix: the store and /nix/var/nix are root's (dev must not rename store paths
  # that root runs), the entrypoint runs nix-daemon, builds run as nixbld users.
  (check (
    contains "chown 0:30000 ./nix/store" image.fakeRootCommands
    && contains "chmod 1775 ./nix/store" image.fakeRootCommands
    && contains "chown -R 0:0 ./nix/var" image.fakeRootCommands
    && !(contains "chown 1000:1000 ./nix/store" image.fakeRootCommands)
    && !(contains "chown -R 1000:1000 ./nix/var" image.fakeRootCommands)
    && !(contains "[.]/nix/" imageNoNix.fakeRootCommands)
  ) "with Nix, /nix/store and /nix/var must be root's (multi-user), and left alone without Nix")
  (check (
    builtins.elem "DEVBOX_NIX_DAEMON=true" env
    && !(builtins.elem "DEVBOX_NIX_DAEMON=true" imageNoNix.config.Env)
  ) "with Nix (only), the entrypoint must run nix-daemon")
  (check (
    contains "build-users-group = nixbld" files."etc/nix/nix.conf"
    && contains "trusted-users = root" files."etc/nix/nix.conf"
  ) "nix.conf must build as the nixbld users and trust only root")
  (check (
    let
      nssArgs = (builtins.head (builtins.filter (p: p.stubPackage == "fakeNss") image.contents)).overrideArgs;
    in
    builtins.elem "nixbld:x:30000:nixbld1,nixbld2,nixbld3,nixbld4,nixbld5,nixbld6,nixbld7,nixbld8" nssArgs.extraGroupLines
    && builtins.length (builtins.filter (l: builtins.match "nixbld[0-9]+:x:300[0-9][0-9]:30000:.*" l != null) nssArgs.extraPasswdLines) == 8
  ) "the nixbld group and its 8 build users must be in /etc/group and /etc/passwd")
  (check (
    (builtins.filter (p: p.stubPackage == "fakeNss") image.contents) != [ ]
    && builtins.elem "dev:x:1000:1000:dev:/home/dev:/bin/bash" (builtins.head (builtins.filter (p: p.stubPackage == "fakeNss") image.contents)).overrideArgs.extraPasswdLines
  ) "user dev (uid 1000, home /home/dev) must be in /etc/passwd")
  # The shared shell, git and editor configuration reaches the image's /etc.
  (check (builtins.all (a: contains "alias ${a}=" files."etc/bashrc") (builtins.attrNames profile.shell.aliases)) "every profile alias must be in /etc/bashrc")
  (check (builtins.all (a: contains "alias ${a}=" files."etc/zshrc") (builtins.attrNames profile.shell.aliases)) "every profile alias must be in /etc/zshrc")
  (check (
    files."etc/gitconfig" == lib.generators.toGitINI (profile.git // { include.path = "/run/devbox/gitconfig"; })
  ) "/etc/gitconfig must be the profile's git config plus the include of the owner's identity (/run/devbox/gitconfig)")
  (check (files."etc/tmux.conf" == profile.editor.tmuxConf) "/etc/tmux.conf must be the profile's")
  (check (contains "vim.opt.number = true" files."etc/xdg/nvim/sysinit.vim") "neovim's system init must carry the profile's init.lua")
  (check (contains "${pkgs.nix-direnv}/share/nix-direnv/direnvrc" files."etc/direnv/direnvrc") "direnvrc must load nix-direnv")
  # No secret-looking variable in the image environment (keys are delivered over exec + stdin).
  (check (builtins.all (e: builtins.match "(TS_AUTHKEY|TAILSCALE_AUTH|OP_SERVICE_ACCOUNT_TOKEN).*" e == null) env) "a secret variable in the image Env")
]
