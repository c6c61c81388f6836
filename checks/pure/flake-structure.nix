# The flake's inputs are the ones the design names, the heavy ones follow our nixpkgs, the
# outputs function takes them all, and the example consumer flake follows nix-devbox's pins.
# Every module file is a module function. (scripts/check-nix.sh separately checks that every
# path the flake refers to exists and is tracked by git.) Every system the per-system outputs
# name is one the locked nixpkgs still has (26.11 dropped x86_64-darwin).
{ lib, ... }:
let
  flake = import ../../flake.nix;
  example = import ../../examples/flake.nix;
  check = cond: msg: if cond then true else throw "flake-structure: ${msg}";
  inputNames = builtins.attrNames flake.inputs;
  follows = name: (flake.inputs.${name}.inputs.nixpkgs.follows or null) == "nixpkgs";
  outputArgs = builtins.functionArgs flake.outputs;
  modules = [
    ../../modules/nixos/orchestrator.nix
    ../../modules/nixos/desktop.nix
    ../../modules/nixos/profile.nix
    ../../modules/darwin/workstation.nix
    ../../modules/home/devbox.nix
  ];
  moduleArgs = f: builtins.functionArgs (import f);
  # The output names Nix's flake checker knows (src/nix/flake.cc: the checked outputs plus its
  # "known but unchecked community attribute" list); any other name makes `nix flake check`
  # warn "unknown flake output". The top-level names need no input to be listed (laziness).
  knownOutputs = [
    "checks"
    "packages"
    "apps"
    "formatter"
    "legacyPackages"
    "overlays"
    "nixosModules"
    "nixosConfigurations"
    "hydraJobs"
    "templates"
    "bundlers"
    "devShells"
    "lib"
    "darwinConfigurations"
    "darwinModules"
    "flakeModule"
    "flakeModules"
    "herculesCI"
    "homeConfigurations"
    "homeModule"
    "homeModules"
    "nixopsConfigurations"
  ];
  outputNames = builtins.attrNames (
    flake.outputs (builtins.mapAttrs (_: _: { }) outputArgs // { self = { }; })
  );
  unknownOutputs = builtins.filter (n: !(builtins.elem n knownOutputs)) outputNames;

  # nixpkgs 26.11's systems: legacyPackages.x86_64-darwin throws there.
  nixpkgsSystems = [
    "x86_64-linux"
    "aarch64-linux"
    "aarch64-darwin"
  ];
  outputs = flake.outputs (
    builtins.mapAttrs (_: _: { }) outputArgs
    // {
      self = { };
      nixpkgs = {
        inherit lib;
        legacyPackages = lib.genAttrs nixpkgsSystems (_: { });
      };
    }
  );
  perSystemOutputs = [
    "packages"
    "apps"
    "formatter"
    "devShells"
    "checks"
  ];
  namedSystems = lib.unique (lib.concatMap (o: builtins.attrNames outputs.${o}) perSystemOutputs);
  unknownSystems = builtins.filter (s: !(builtins.elem s nixpkgsSystems)) namedSystems;
in
builtins.all (x: x) [
  (check (builtins.isString flake.description && flake.description != "") "flake.nix needs a description")
  (check (
    inputNames == [
      "crane"
      "home-manager"
      "nix-darwin"
      "nixos-wsl"
      "nixpkgs"
    ]
  ) "flake inputs must be nixpkgs, crane, home-manager, nix-darwin, nixos-wsl; got ${builtins.toJSON inputNames}")
  (check (builtins.all follows [
    "home-manager"
    "nix-darwin"
    "nixos-wsl"
  ]) "home-manager, nix-darwin and nixos-wsl must follow nixpkgs")
  (check (builtins.all (n: outputArgs ? ${n}) (inputNames ++ [ "self" ])) "outputs must take self and every input")
  (check (
    example.inputs.nixpkgs.follows == "nix-devbox/nixpkgs"
    && example.inputs.home-manager.follows == "nix-devbox/home-manager"
    && example.inputs.nix-darwin.follows == "nix-devbox/nix-darwin"
    && example.inputs.nixos-wsl.follows == "nix-devbox/nixos-wsl"
  ) "examples/flake.nix must follow nix-devbox's pins")
  (check (unknownOutputs == [ ]) "flake outputs unknown to Nix's flake checker (it warns about them): ${builtins.toJSON unknownOutputs}")
  (check (unknownSystems == [ ]) "per-system outputs for systems nixpkgs 26.11 does not have (legacyPackages throws): ${builtins.toJSON unknownSystems}")
  (check (builtins.all (f: builtins.isFunction (import f) && moduleArgs f ? config && moduleArgs f ? lib) modules) "every module file must be a function of { config, lib, ... }")
]
