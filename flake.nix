{
  description = "nix-devbox: self-hosted per-user dev containers on NixOS, with the same CLI profile on every workstation";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    crane.url = "github:ipetkov/crane";
    home-manager = {
      url = "github:nix-community/home-manager";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nix-darwin = {
      url = "github:nix-darwin/nix-darwin";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nixos-wsl = {
      url = "github:nix-community/NixOS-WSL";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      crane,
      home-manager,
      nix-darwin,
      nixos-wsl,
      ...
    }:
    let
      inherit (nixpkgs) lib;

      linuxSystems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      # nixpkgs 26.11 dropped x86_64-darwin (legacyPackages.x86_64-darwin throws).
      darwinSystems = [ "aarch64-darwin" ];
      forSystems = systems: f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The Rust workspace, built with crane: ONE buildDepsOnly whose artifacts every package
      # and check reuses.
      rustFor =
        pkgs:
        let
          craneLib = crane.mkLib pkgs;
          # Cargo sources plus the non-Rust files the build and tests read: the whole crates/
          # tree (the committed JSON Schema, test data under crates/*/tests/), and the users.nix
          # export with its example, which the devbox-schema tests evaluate with nix-instantiate.
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions [
              ./Cargo.toml
              ./Cargo.lock
              ./clippy.toml
              ./crates
              ./lib
              ./examples/users.nix
            ];
          };
          commonArgs = {
            inherit src;
            pname = "nix-devbox";
            version = (lib.importTOML ./Cargo.toml).workspace.package.version;
            strictDeps = true;
            # Tests that need Podman, root or real Unix users cannot run in the build sandbox: with
            # this variable #[host_test] makes them ignored, with the reason (scripts/test-all.sh
            # runs them as root and fails if any is ignored).
            DEVBOX_SKIP_HOST_TESTS = "1";
          };
          cargoArtifacts = craneLib.buildDepsOnly commonArgs;
          mkCrate =
            crate: description: mainProgram:
            craneLib.buildPackage (
              commonArgs
              // {
                inherit cargoArtifacts;
                pname = crate;
                cargoExtraArgs = "--locked -p ${crate}";
                # Tests run once, for the whole workspace, in checks.<system>.tests.
                doCheck = false;
                meta = {
                  inherit description mainProgram;
                  license = lib.licenses.mit;
                  platforms = lib.platforms.linux;
                };
              }
            );
        in
        rec {
          inherit craneLib src commonArgs cargoArtifacts;

          # Completions and the man page are generated from the clap definitions at build time
          # (installShellFiles: `<(cmd)` needs the shell flag and `--cmd` for the name).
          devbox-ctl =
            (mkCrate "devbox-ctl" "Manage your nix-devbox dev containers" "devbox-ctl").overrideAttrs
              (old: {
                nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.installShellFiles ];
                postInstall =
                  (old.postInstall or "")
                  + lib.optionalString (pkgs.stdenv.buildPlatform.canExecute pkgs.stdenv.hostPlatform) ''
                    installShellCompletion --cmd devbox-ctl \
                      --bash <($out/bin/devbox-ctl completions bash) \
                      --zsh <($out/bin/devbox-ctl completions zsh) \
                      --fish <($out/bin/devbox-ctl completions fish)
                    $out/bin/devbox-ctl man > devbox-ctl.1
                    installManPage devbox-ctl.1
                  '';
              });
          devboxd = mkCrate "devboxd" "nix-devbox controller daemon" "devboxd";
          devbox-entrypoint = mkCrate "devbox-entrypoint" "PID 1 of the nix-devbox dev container" "devbox-entrypoint";
          devbox-schema = mkCrate "devbox-schema" "Validator of nix-devbox users files" "devbox-schema";
          devbox-test-kit = mkCrate "devbox-test-kit" "FAKE external programs for nix-devbox tests" "fake-op";

          # FAKE 1Password CLI for VM tests only, under the real program's name.
          fake-op = pkgs.runCommand "fake-op" { meta.description = "FAKE op (1Password CLI) for nix-devbox VM tests"; } ''
            mkdir -p $out/bin
            ln -s ${devbox-test-kit}/bin/fake-op $out/bin/op
          '';

          checks = {
            clippy = craneLib.cargoClippy (
              commonArgs
              // {
                inherit cargoArtifacts;
                cargoClippyExtraArgs = "--all-targets -- --deny warnings";
              }
            );
            # pname/version given: the root Cargo.toml is a workspace without [package], which
            # crane's crateNameFromCargoToml would replace with placeholders (and a warning).
            fmt = craneLib.cargoFmt { inherit (commonArgs) src pname version; };
            tests = craneLib.cargoNextest (
              commonArgs
              // {
                inherit cargoArtifacts;
                # Integration tests run the workspace's binaries (fakes, entrypoint, daemon), as
                # scripts/test-all.sh does with `cargo build --workspace --bins`.
                buildPhaseCargoCommand = ''
                  mkdir -p $out
                  cargo nextest --version
                  cargoWithProfile build --workspace --bins --locked
                '';
                cargoNextestExtraArgs = "--workspace --no-tests=warn";
                # The users.nix export tests run `nix-instantiate --eval`; the sandbox's store is
                # read-only, so Nix gets a private chroot store (nothing is built or added).
                # util-linux: `script`, the pseudo-terminal of devbox-ctl's prompt tests (the
                # sandbox mounts its own devpts). Host tests (#[host_test]) are reported as
                # ignored here: DEVBOX_SKIP_HOST_TESTS=1 above.
                nativeBuildInputs = [
                  pkgs.nix
                  pkgs.util-linux
                ];
                preCheck = ''
                  export HOME=$TMPDIR
                  export NIX_REMOTE="local?root=$TMPDIR/nix-root"
                '';
              }
            );
          };
        };

      # Pure checks (checks/pure/*.nix evaluate to true or throw): evaluated while the flake is
      # checked, so they need no Nix inside the build sandbox. A check that is a function gets
      # nixpkgs' lib and the locked upstream trees, as scripts/check-nix.sh gives it the pinned
      # copies offline.
      pureCheckUpstream = {
        home-manager = home-manager.outPath;
        nix-darwin = nix-darwin.outPath;
        nixos-wsl = nixos-wsl.outPath;
        nixpkgs = nixpkgs.outPath;
      };
      pureChecksFor =
        pkgs:
        lib.mapAttrs' (
          file: _:
          let
            check = import (./checks/pure + "/${file}");
            result =
              if builtins.isFunction check then
                check {
                  inherit lib;
                  upstream = pureCheckUpstream;
                }
              else
                check;
          in
          lib.nameValuePair "pure-${lib.removeSuffix ".nix" file}" (
            assert lib.assertMsg (result == true) "checks/pure/${file} did not evaluate to true";
            pkgs.runCommand "pure-${lib.removeSuffix ".nix" file}" { } "touch $out"
          )
        ) (lib.filterAttrs (n: t: t == "regular" && lib.hasSuffix ".nix" n) (builtins.readDir ./checks/pure));

      exampleUsersFile = ./examples/users.nix;
    in
    {
      lib = import ./lib;

      nixosModules = {
        # The module receives its packages from this flake (as lanzaboote and sops-nix do).
        # `key`: the module system imports a module with a known key once, so importing both
        # nixosModules.default and nixosModules.orchestrator (or either twice) is harmless;
        # without it, the package defaults below were "defined multiple times".
        orchestrator = {
          key = "nix-devbox#nixosModules.orchestrator";
          _file = "${toString ./flake.nix}#nixosModules.orchestrator";
          imports = [
            ./modules/nixos/orchestrator.nix
            (
              { lib, pkgs, ... }:
              let
                packages = self.packages.${pkgs.stdenv.hostPlatform.system};
              in
              {
                services.devbox.orchestrator = {
                  package = lib.mkDefault packages.devboxd;
                  ctlPackage = lib.mkDefault packages.devbox-ctl;
                  schemaPackage = lib.mkDefault packages.devbox-schema;
                  image = lib.mkDefault packages.devcontainer;
                };
              }
            )
          ];
        };
        desktop = ./modules/nixos/desktop.nix;
        profile = ./modules/nixos/profile.nix;
        default = self.nixosModules.orchestrator;
      };

      # Needs home-manager's darwin module in the same configuration (see examples/flake.nix).
      darwinModules = {
        workstation = ./modules/darwin/workstation.nix;
        default = self.darwinModules.workstation;
      };

      # `homeModules` is the name Nix's flake checker knows (src/nix/flake.cc, "known but
      # unchecked community attribute"); a `homeManagerModules` alias would make every
      # `nix flake check` warn "unknown flake output 'homeManagerModules'".
      homeModules = {
        devbox = ./modules/home/devbox.nix;
        default = self.homeModules.devbox;
      };

      packages = forSystems linuxSystems (
        pkgs:
        let
          rust = rustFor pkgs;
        in
        {
          inherit (rust)
            devbox-ctl
            devboxd
            devbox-entrypoint
            devbox-schema
            fake-op
            ;
          devcontainer = import ./images/devcontainer.nix {
            inherit pkgs;
            inherit (rust) devbox-entrypoint;
          };
          default = rust.devbox-ctl;
        }
      );

      apps = forSystems linuxSystems (pkgs: {
        devbox-ctl = {
          type = "app";
          program = lib.getExe self.packages.${pkgs.stdenv.hostPlatform.system}.devbox-ctl;
          meta.description = "Create, start, stop and destroy your nix-devbox dev containers";
        };
        default = self.apps.${pkgs.stdenv.hostPlatform.system}.devbox-ctl;
      });

      formatter = forSystems (linuxSystems ++ darwinSystems) (pkgs: pkgs.nixfmt-tree or pkgs.nixfmt);

      devShells = forSystems linuxSystems (
        pkgs:
        let
          rust = rustFor pkgs;
        in
        {
          default = rust.craneLib.devShell {
            checks = rust.checks;
            packages = [
              pkgs.nixfmt
              pkgs.cargo-nextest
              pkgs.podman
              pkgs.syncthing
            ];
          };
        }
      );

      checks =
        forSystems linuxSystems (
          pkgs:
          let
            system = pkgs.stdenv.hostPlatform.system;
            rust = rustFor pkgs;
            vmTestArgs = {
              inherit pkgs self;
            };
            mkNixos =
              modules:
              (lib.nixosSystem {
                modules = [ { nixpkgs.hostPlatform = system; } ] ++ modules;
              }).config.system.build.toplevel;
          in
          rust.checks
          // pureChecksFor pkgs
          // {
            # examples/users.nix through the export and the Rust validator.
            example-users =
              pkgs.runCommand "example-users-valid"
                {
                  nativeBuildInputs = [ rust.devbox-schema ];
                  usersJson = (pkgs.formats.json { }).generate "users.json" (
                    import ./lib/export-users.nix { usersFile = exampleUsersFile; }
                  );
                }
                ''
                  devbox-schema validate "$usersJson"
                  touch $out
                '';

            # The example hosts build.
            example-orchestrator = mkNixos [
              self.nixosModules.orchestrator
              ./examples/hosts/orchestrator.nix
            ];
            example-orchestrator-wsl = mkNixos [
              nixos-wsl.nixosModules.default
              self.nixosModules.orchestrator
              ./examples/hosts/orchestrator-wsl.nix
            ];
            example-desktop = mkNixos [
              self.nixosModules.desktop
              ./examples/hosts/desktop.nix
            ];

            # The home-manager profile on Linux.
            home-manager-profile =
              (home-manager.lib.homeManagerConfiguration {
                inherit pkgs;
                modules = [
                  self.homeModules.devbox
                  ./examples/home/alice.nix
                ];
              }).activationPackage;

            # NixOS VM tests (need KVM).
            vm-orchestrator-boot = import ./checks/vm/orchestrator-boot.nix vmTestArgs;
            vm-container-lifecycle = import ./checks/vm/container-lifecycle.nix vmTestArgs;
            vm-reboot-restores = import ./checks/vm/reboot-restores.nix vmTestArgs;
            vm-orchestrator-tailscale-ssh = import ./checks/vm/orchestrator-tailscale-ssh.nix vmTestArgs;
          }
        )
        // forSystems darwinSystems (pkgs: {
          # The Mac configuration evaluates and builds.
          darwin-workstation =
            (nix-darwin.lib.darwinSystem {
              modules = [
                { nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system; }
                home-manager.darwinModules.home-manager
                self.darwinModules.workstation
                ./examples/hosts/mac.nix
              ];
            }).system;
          home-manager-profile =
            (home-manager.lib.homeManagerConfiguration {
              inherit pkgs;
              modules = [
                self.homeModules.devbox
                ./examples/home/alice.nix
                { home.homeDirectory = lib.mkForce "/Users/alice"; }
              ];
            }).activationPackage;
        });
    };
}
