# Our modules evaluated TOGETHER with the real upstream module systems, `_module.check` on (an
# option we set that upstream does not declare, or a value its type refuses, is an error):
#
#   homeManager  modules/home/devbox.nix + examples/home/alice.nix with all of home-manager's
#                modules (modules/modules.nix)
#   darwin       modules/darwin/workstation.nix + examples/hosts/mac.nix with nix-darwin's
#                eval-config.nix and home-manager's darwin module (all of home-manager's modules)
#   nixos        modules/nixos/*.nix with nixpkgs' option DECLARATIONS mirrored in
#                checks/support/nixos-options.nix (nixpkgs' nixos/ tree is not available offline),
#                and, for the WSL branch, NixOS-WSL's real module tree
#
# Only packages are stand-ins (checks/support/stub-pkgs.nix). `upstream` holds the source trees:
# { home-manager; nix-darwin; nixos-wsl; nixpkgs; } where `nixpkgs` is a directory laid out like
# nixpkgs with at least lib/ and nixos/modules/misc/ (scripts/check-nix.sh assembles one from
# ../shared/nix/upstream; `nix flake check` passes the nixpkgs input itself).
{ lib, upstream }:
let
  root = toString ../..;
  ours = file: lib.hasPrefix root (toString file);
  mirrored = toString ./nixos-options.nix;

  # The options one of our module files sets, found by walking the file's own `config` (with
  # mkIf/mkMerge/mkDefault/mkOrder resolved against the evaluated configuration) down the
  # evaluated option tree, into submodules (users.users.<name>.uid counts as one option).
  # Returns { name = "a.b.c"; loc; declarations; type; def; } for every option reached; definitions that
  # reach no option are left to `_module.check`, which refuses them when the value is forced.
  strip =
    v:
    let
      t = v._type or null;
    in
    if t == "if" then
      (if v.condition then strip v.content else { })
    else if t == "merge" then
      lib.foldl' (acc: c: mergeKeys acc (strip c)) { } v.contents
    else if t == "override" || t == "order" then
      strip v.content
    else
      v;
  mergeKeys =
    a: b:
    a
    // lib.mapAttrs (n: v: if a ? ${n} && lib.isAttrs a.${n} && lib.isAttrs v then mergeKeys a.${n} v else v) b;
  # Module structure, not options (programs.git.config IS an option: "config" is not here).
  structural = [
    "imports"
    "_file"
    "_module"
    "key"
  ];
  # `raw` is our definition as written (mkIf, mkDefault, ... kept for mergeDefinitions);
  # `defs` the same with those resolved, to descend into.
  walk =
    opts: raw:
    let
      defs = strip raw;
    in
    if lib.isOption opts then
      let
        type = opts.type;
        elem = type.nestedTypes.elemType or null;
        leaf = {
          name = lib.showOption opts.loc;
          inherit (opts) loc declarations type;
          def = raw;
        };
        # Into a submodule's options; keys it does not declare (a freeform submodule such as
        # services.aerospace.settings) count the submodule option itself.
        viaSub =
          sub: d:
          if lib.isAttrs d && !(lib.isDerivation d) then
            let
              keys = lib.attrNames (removeAttrs d structural);
            in
            lib.concatMap (n: walk sub.${n} d.${n}) (lib.filter (n: sub ? ${n}) keys)
            ++ lib.optional (lib.any (n: !(sub ? ${n})) keys) leaf
          else
            [ leaf ];
      in
      if type.name == "submodule" then
        viaSub (type.getSubOptions opts.loc) defs
      else if
        lib.elem type.name [
          "attrsOf"
          "lazyAttrsOf"
        ]
        && elem != null
        && elem.name == "submodule"
        && lib.isAttrs defs
      then
        lib.concatLists (
          # Sub-options shown as users.users.<name>.uid: one option, however many users.
          lib.mapAttrsToList (_: d: viaSub (elem.getSubOptions (opts.loc ++ [ "<name>" ])) (strip d)) defs
        )
      else
        [ leaf ]
    else if lib.isAttrs opts && lib.isAttrs defs then
      lib.concatLists (
        lib.mapAttrsToList (n: v: if opts ? ${n} then walk opts.${n} v else [ ]) (
          removeAttrs defs structural
        )
      )
    else
      [ ];

  # The upstream options a module file sets, each definition checked by the option's type and
  # counted: the file's declarations
  # (its own options) are left out. `isUpstream` decides what counts as an upstream
  # declaration (for NixOS: the mirrored declarations file).
  optionsSetBy =
    {
      eval,
      file,
      args ? { },
      isUpstream ? decl: !(ours decl) || lib.hasPrefix mirrored decl,
    }:
    let
      module = import file (
        eval._module.args
        // {
          inherit lib;
          inherit (eval) config options;
        }
        // args
      );
      found = walk eval.options (module.config or { });
      upstreamOnes = lib.filter (
        o: o.declarations != [ ] && lib.all (d: isUpstream (toString d)) o.declarations
      ) found;
      names = lib.unique (map (o: o.name) upstreamOnes);
      # Our definition alone, merged with the upstream option's type: what the module system
      # does with it in a real configuration (type check, submodule options), without forcing
      # every other module's definitions of the same option (environment.systemPackages would
      # pull in all of upstream's packages).
      force =
        o:
        (lib.modules.mergeDefinitions o.loc o.type [
          {
            file = toString file;
            value = o.def;
          }
        ]).optionalValue;
      values = map force upstreamOnes;
    in
    builtins.deepSeq values names;

  hmLib = import (upstream.home-manager + "/modules/lib/stdlib-extended.nix") lib;

  homeManager =
    let
      pkgs = import ./stub-pkgs.nix {
        lib = hmLib;
        path = upstream.nixpkgs;
        extraNames = [ "kubectl" ];
      };
      # All of home-manager's modules (as homeManagerConfiguration loads them).
      modules = import (upstream.home-manager + "/modules/modules.nix") {
        lib = hmLib;
        inherit pkgs;
        check = true;
        useNixpkgsModule = false;
      };
    in
    hmLib.evalModules {
      modules = modules ++ [
        ../../modules/home/devbox.nix
        ../../examples/home/alice.nix
        { programs.devbox.zsh.enable = true; }
      ];
      class = "homeManager";
      specialArgs.modulesPath = (upstream.home-manager + "/modules");
    };

  darwin =
    let
      pkgs = import ./stub-pkgs.nix {
        inherit lib;
        system = "aarch64-darwin";
        path = upstream.nixpkgs;
      };
    in
    import (upstream.nix-darwin + "/eval-config.nix") {
      inherit lib;
      modules = [
        {
          _module.args.pkgs = lib.mkForce pkgs;
          nixpkgs.hostPlatform = "aarch64-darwin";
        }
        (import (upstream.home-manager + "/nix-darwin"))
        ../../modules/darwin/workstation.nix
        ../../examples/hosts/mac.nix
      ];
    };

  # NixOS: the mirrored declarations, nixpkgs' real assertions/meta modules, stub packages.
  nixosPkgs = import ./stub-pkgs.nix {
    inherit lib;
    path = upstream.nixpkgs;
    extraNames = [
      "devboxd"
      "devbox-ctl"
      "devbox-schema"
      "hyprland"
    ];
  };
  nixos =
    modules:
    lib.evalModules {
      class = "nixos";
      # NixOS-WSL reads nixpkgs' users-groups.nix from here, only when
      # system.activationScripts.users is built (never in these checks).
      specialArgs.modulesPath = toString (upstream.nixpkgs + "/nixos/modules");
      modules = [
        ./nixos-options.nix
        (upstream.nixpkgs + "/nixos/modules/misc/assertions.nix")
        (upstream.nixpkgs + "/nixos/modules/misc/meta.nix")
        {
          _module.args = {
            pkgs = nixosPkgs;
            utils = { };
          };
        }
      ]
      ++ modules;
    };
  # What the flake's nixosModules.orchestrator adds to modules/nixos/orchestrator.nix: the
  # packages (here stand-ins named like this flake's builds).
  orchestratorPackages = {
    services.devbox.orchestrator = {
      package = nixosPkgs.devboxd;
      ctlPackage = nixosPkgs.devbox-ctl;
      schemaPackage = nixosPkgs.devbox-schema;
      image = nixosPkgs.dockerTools.streamLayeredImage { name = "devbox-devcontainer"; };
    };
  };
  nixosWsl = upstream.nixos-wsl + "/modules";

  failedAssertions = eval: map (a: a.message) (lib.filter (a: !a.assertion) eval.config.assertions);
in
{
  inherit
    homeManager
    darwin
    nixos
    nixosPkgs
    orchestratorPackages
    nixosWsl
    optionsSetBy
    failedAssertions
    ;
}
