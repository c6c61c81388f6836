# Stand-ins for nixpkgs PACKAGES (never for options or for `lib`: the checks take the real
# nixpkgs lib). Each package looks like a derivation to the module system and to the real lib
# (`type = "derivation"`, `outPath`, `drvPath`, `name`, `meta.mainProgram`, `out`), so
# `lib.types.package`, `lib.getExe` and `lib.getExe'` accept it; nothing can be built from it.
# `stubPackage` names it for checks that inspect what a module or the image would contain.
#
# Builders (runCommand, writeText, ...) return such a package and keep their arguments, so a
# check can read a generated script; `formats.*` have a JSON value type and a `generate` that
# keeps the value; `dockerTools.streamLayeredImage` returns its arguments.
{
  # The real nixpkgs lib (upstream lib/ or nixpkgs.lib).
  lib,
  system ? "x86_64-linux",
  # `pkgs.path`: where modules find nixpkgs files (home-manager reads
  # nixos/modules/misc/{assertions,meta}.nix and lib/services/lib.nix from it).
  path ? null,
  # More package names a module or an upstream module reads.
  extraNames ? [ ],
}:
let
  isDarwin = lib.hasSuffix "-darwin" system;
  platform = {
    inherit system isDarwin;
    isLinux = !isDarwin;
    isAarch64 = lib.hasPrefix "aarch64-" system;
    isx86_64 = lib.hasPrefix "x86_64-" system;
  };

  package =
    name: extra:
    let
      self = {
        type = "derivation";
        stubPackage = name;
        inherit name;
        pname = name;
        version = "0";
        outPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}";
        drvPath = "${builtins.storeDir}/00000000000000000000000000000000-${name}.drv";
        outputName = "out";
        outputs = [ "out" ];
        out = self;
        meta.mainProgram = name;
      }
      // extra;
    in
    self;

  # The value type of nixpkgs' pkgs.formats.json (pkgs/pkgs-lib/formats.nix).
  jsonValue =
    let
      t = lib.types;
      value =
        t.nullOr (
          t.oneOf [
            t.bool
            t.int
            t.float
            t.str
            t.path
            (t.attrsOf value)
            (t.listOf value)
          ]
        )
        // {
          description = "JSON value";
        };
    in
    value;
  format = _formatArgs: {
    type = jsonValue;
    lib.types.atom = jsonValue;
    generate = name: value: package name { inherit value; };
  };

  # Packages the shared profile, our modules, the image and the upstream modules we evaluate read.
  names =
    (import ../../profiles).toolNames
    ++ [
      "_1password-cli"
      "bash-completion"
      "code-server"
      "coreutils"
      "glibcLocales"
      "headscale"
      "kitty"
      "mako"
      "installShellFiles"
      "man"
      "nixos-render-docs"
      "nix"
      "nix-zsh-completions"
      "nftables"
      "podman"
      "rsync"
      "shared-mime-info"
      "syncthing"
      "tailscale"
      "tuigreet"
      "util-linux"
      "waybar"
      "wl-clipboard"
      "wofi"
    ]
    ++ extraNames;
  pkgs = lib.genAttrs names (n: package n { }) // {
  inherit lib path;
  buildPackages = pkgs;
  stdenv = {
    inherit isDarwin;
    isLinux = !isDarwin;
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
  };
  stdenvNoCC.hostPlatform = platform;

  formats = lib.genAttrs [
    "json"
    "yaml"
    "yaml_1_1"
    "yaml_1_2"
    "toml"
    "ini"
    "iniWithGlobalSection"
    "gitIni"
    "keyValue"
    "lua"
    "xml"
  ] (_: format);

  runCommand = name: env: script: package name { inherit env script; };
  runCommandLocal = name: env: script: package name { inherit env script; };
  writeText = name: text: package name { inherit text; };
  writeTextDir = path: text: package "writeTextDir" { inherit path text; };
  writeScript = name: text: package name { inherit text; };
  writeShellScript = name: text: package name { inherit text; };
  writeShellScriptBin = name: text: package name { inherit text; };
  writeShellApplication = args: package args.name { inherit (args) text; };
  writeTextFile = args: package args.name { };
  symlinkJoin = args: package args.name { };
  callPackage = fn: _args: package (baseNameOf (toString fn)) { };
  nixosOptionsDoc = _args: package "options-doc" { optionsJSON = package "options.json" { }; };
  buildEnv = args: package args.name { };

  nerd-fonts.jetbrains-mono = package "nerd-fonts-jetbrains-mono" { };
  hyprland = package "hyprland" { meta.mainProgram = "Hyprland"; };
  _1password-cli = package "1password-cli" { meta.mainProgram = "op"; };
  zed-editor = package "zed-editor" {
    version = "0.1.0";
    remote_server = package "zed-editor-remote_server" { };
    remoteServerExecutableName = "zed-remote-server-stable-0.1.0+stable";
  };
  dockerTools = {
    streamLayeredImage =
      args:
      package args.name args
      // {
        imageName = lib.toLower args.name;
        imageTag = "0123abcd";
      };
    fakeNss.override = args: package "fakeNss" { overrideArgs = args; };
    caCertificates = package "caCertificates" { };
    usrBinEnv = package "usrBinEnv" { };
    binSh = package "binSh" { };
  };
}
  ;
in
pkgs
