# The dev container image: a dockerTools layered image whose PID 1 is devbox-entrypoint.
#
# Called from flake.nix as
#   import ./images/devcontainer.nix { inherit pkgs devbox-entrypoint; }
# and evaluated without nixpkgs by checks/pure/profile-image-parity.nix (with stand-in packages), so
# this file uses only `pkgs`, `pkgs.lib.generators.toGitINI` and builtins.
#
# The result is `dockerTools.streamLayeredImage`: an executable that writes the image to stdout
# (`$(nix build --print-out-paths .#devcontainer) | podman load`). Its tag is the content hash
# (`passthru.imageTag`), so a changed image gets a new reference and the orchestrator's loader
# and devboxd notice it.
{
  pkgs,
  # The PID 1 program (packages.<system>.devbox-entrypoint of this flake).
  devbox-entrypoint,
  # The shared profile (profiles/default.nix).
  profile ? import ../profiles,
  name ? "devbox-devcontainer",
  # Put Nix (multi-user: a root nix-daemon run by the entrypoint, a root-owned store) and its
  # store database in the image so `nix` works inside the container.
  withNix ? true,
  # Extra packages a team wants in every container, on top of the shared tool list.
  extraPackages ? [ ],
  # Extra "NAME=value" environment entries (never secrets), e.g. the entrypoint's optional
  # "DEVBOX_TAILSCALE_LOGIN_SERVER=https://headscale.example.org" for a self-hosted control server.
  extraEnv ? [ ],
}:
let
  inherit (pkgs) dockerTools;

  devUid = 1000;
  devGid = 1000;

  # Zed's remote server: nixpkgs builds it as the `remote_server` output of zed-editor, named
  # `remoteServerExecutableName` (zed-remote-server-stable-VERSION+stable), the name Zed looks for
  # in ~/.zed_server. The image ships it at the entrypoint's default DEVBOX_ZED_SERVER_BINARY and
  # tells the entrypoint the version part, so it links ~/.zed_server/<that name> at every start.
  zed = pkgs.zed-editor;
  zedServerName = zed.remoteServerExecutableName or "zed-remote-server-stable-${zed.version}";
  zedPrefix = "zed-remote-server-stable-";
  zedPrefixLength = builtins.stringLength zedPrefix;
  zedVersion =
    if builtins.substring 0 zedPrefixLength zedServerName == zedPrefix then
      builtins.substring zedPrefixLength (builtins.stringLength zedServerName) zedServerName
    else
      zed.version;
  zedServerBinary = "/opt/devbox/zed-remote-server";

  # Multi-user Nix: the store is root's and read-only to `dev`, who builds through the
  # nix-daemon that the entrypoint runs as root (DEVBOX_NIX_DAEMON below); builds run as these
  # unprivileged build users. (A single-user store owned by `dev` would let `dev` rename
  # store paths that root executes, e.g. the entrypoint and tailscaled.)
  nixbldGid = 30000;
  nixbldCount = 8;
  nixbldNames = builtins.genList (i: "nixbld${toString (i + 1)}") nixbldCount;
  nixbldPasswdLines = builtins.genList (
    i:
    "nixbld${toString (i + 1)}:x:${toString (30001 + i)}:${toString nixbldGid}:Nix build user ${toString (i + 1)}:/var/empty:/bin/false"
  ) nixbldCount;

  # User `dev` (uid 1000), root, nobody (fakeNss) and, with Nix, the build users.
  nss = dockerTools.fakeNss.override {
    extraPasswdLines = [
      "dev:x:${toString devUid}:${toString devGid}:dev:/home/dev:/bin/bash"
    ]
    ++ (if withNix then nixbldPasswdLines else [ ]);
    extraGroupLines = [
      "dev:x:${toString devGid}:"
    ]
    ++ (
      if withNix then
        [ "nixbld:x:${toString nixbldGid}:${builtins.concatStringsSep "," nixbldNames}" ]
      else
        [ ]
    );
  };

  aliasLines = builtins.concatStringsSep "\n" (
    map (n: "alias ${n}=${builtins.toJSON profile.shell.aliases.${n}}") (
      builtins.attrNames profile.shell.aliases
    )
  );
  exportLines = builtins.concatStringsSep "\n" (
    map (n: "export ${n}=${builtins.toJSON profile.shell.variables.${n}}") (
      builtins.attrNames profile.shell.variables
    )
  );

  # System-wide shell, git, editor and direnv configuration taken from the shared profile. The
  # home directory is a volume, so per-user files would hide behind it: configuration lives in
  # /etc, and the volume keeps only what the user changes.
  etcFiles = [
    (pkgs.writeTextDir "etc/profile" ''
      # nix-devbox: login shells
      ${exportLines}
      if [ -n "$BASH_VERSION" ] && [ -r /etc/bashrc ]; then . /etc/bashrc; fi
    '')
    (pkgs.writeTextDir "etc/bashrc" ''
      # nix-devbox: interactive bash (the shared profile)
      [ -z "$PS1" ] && return
      ${exportLines}
      ${aliasLines}
      ${profile.shell.interactiveInit}
    '')
    (pkgs.writeTextDir "etc/zshrc" ''
      # nix-devbox: interactive zsh (the shared profile)
      ${exportLines}
      ${aliasLines}
      ${profile.shell.interactiveInit}
    '')
    # The owner's identity comes from users.nix through devboxd: the entrypoint writes it to
    # /run/devbox/gitconfig at every start (git skips a missing include).
    (pkgs.writeTextDir "etc/gitconfig" (
      pkgs.lib.generators.toGitINI (profile.git // { include.path = "/run/devbox/gitconfig"; })
    ))
    (pkgs.writeTextDir "etc/tmux.conf" profile.editor.tmuxConf)
    # Neovim reads $XDG_CONFIG_DIRS/nvim/sysinit.vim before the user's own init.
    (pkgs.writeTextDir "etc/xdg/nvim/sysinit.vim" ''
      lua << EOF
      ${profile.editor.neovimInitLua}
      EOF
    '')
    # direnv reads its configuration from $DIRENV_CONFIG.
    (pkgs.writeTextDir "etc/direnv/direnvrc" (profile.shell.direnvrc pkgs.nix-direnv))
    # Multi-user: builds run as the nixbld users, never as root or `dev`; only root is
    # trusted (dev cannot pass settings that would weaken the daemon). No sandbox: a
    # container cannot create the namespaces it needs.
    (pkgs.writeTextDir "etc/nix/nix.conf" ''
      experimental-features = nix-command flakes
      build-users-group = nixbld
      trusted-users = root
      sandbox = false
    '')
  ];
in
dockerTools.streamLayeredImage {
  inherit name;
  # null: the tag is the content hash, exposed as passthru.imageTag.
  tag = null;

  contents =
    profile.packagesFor pkgs
    ++ [
      devbox-entrypoint
      pkgs.tailscale
      pkgs.code-server
      pkgs.syncthing
      nss
      # /etc/ssl/certs/ca-bundle.crt and ca-certificates.crt, from cacert.
      dockerTools.caCertificates
      dockerTools.usrBinEnv
      dockerTools.binSh
    ]
    ++ (if withNix then [ pkgs.nix ] else [ ])
    ++ etcFiles
    ++ extraPackages;

  includeNixDB = withNix;

  # Relative paths: these run in the image's root directory. fakeroot makes chown stick.
  fakeRootCommands = ''
    mkdir -p ./tmp ./var/tmp ./run/devbox ./home/dev/sync ./root ./opt/devbox
    chmod 1777 ./tmp ./var/tmp
    chmod 0700 ./root
    chown -R ${toString devUid}:${toString devGid} ./home/dev
    ln -s ${zed.remote_server}/bin/${zedServerName} .${zedServerBinary}
  ''
  # Multi-user Nix: /nix/store and the database under /nix/var/nix (made by includeNixDB in
  # this layer) are root's, as in a multi-user install (store root:nixbld 1775: build users
  # may add their outputs, the sticky bit keeps everyone from renaming others' paths; `dev`
  # is not in nixbld). This layer is the image's top one, so its /nix/store directory entry
  # is the one the container sees. `dev` gets its own profile and GC-root directories.
  + (
    if withNix then
      ''
        mkdir -p ./nix/store ./nix/var/nix/profiles/per-user/dev ./nix/var/nix/gcroots/per-user/dev
        chown -R 0:0 ./nix/var
        chown 0:${toString nixbldGid} ./nix/store
        chmod 1775 ./nix/store
        chown ${toString devUid}:${toString devGid} ./nix/var/nix/profiles/per-user/dev ./nix/var/nix/gcroots/per-user/dev
      ''
    else
      ""
  );

  config = {
    Entrypoint = [ "/bin/devbox-entrypoint" ];
    # PID 1 starts as container root (mapped to an unprivileged host uid by --userns=auto): it
    # needs root to run tailscaled, and runs the user-facing services as `dev`.
    WorkingDir = "/home/dev";
    Volumes = {
      "/home/dev" = { };
    };
    Env = [
      "PATH=/bin:/usr/bin"
      "LANG=C.UTF-8"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "GIT_CONFIG_SYSTEM=/etc/gitconfig"
      "XDG_CONFIG_DIRS=/etc/xdg"
      "DIRENV_CONFIG=/etc/direnv"
      "DEVBOX_ZED_SERVER_BINARY=${zedServerBinary}"
      "DEVBOX_ZED_CHANNEL=stable"
      "DEVBOX_ZED_VERSION=${zedVersion}"
    ]
    ++ (if withNix then [ "DEVBOX_NIX_DAEMON=true" ] else [ ])
    ++ extraEnv;
    Labels = {
      "org.opencontainers.image.title" = "nix-devbox dev container";
      "io.nix-devbox.image" = "devcontainer";
    };
  };
}
