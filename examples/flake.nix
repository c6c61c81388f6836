# A consumer's flake: the team's own (private) repository imports nix-devbox and adds its
# users.nix, secrets and hardware. Try it from a checkout with
#   nix flake check ./examples --override-input nix-devbox .
{
  description = "Example team flake using nix-devbox";

  inputs = {
    nix-devbox.url = "github:nix-devbox/nix-devbox";
    nixpkgs.follows = "nix-devbox/nixpkgs";
    home-manager.follows = "nix-devbox/home-manager";
    nix-darwin.follows = "nix-devbox/nix-darwin";
    nixos-wsl.follows = "nix-devbox/nixos-wsl";
  };

  outputs =
    {
      nixpkgs,
      nix-devbox,
      home-manager,
      nix-darwin,
      nixos-wsl,
      ...
    }:
    {
      nixosConfigurations = {
        # The orchestrator: `nixos-rebuild switch --flake .#devbox`
        devbox = nixpkgs.lib.nixosSystem {
          modules = [
            { nixpkgs.hostPlatform = "x86_64-linux"; }
            nix-devbox.nixosModules.orchestrator
            ./hosts/orchestrator.nix
          ];
        };

        # The orchestrator on Windows (WSL2).
        devbox-wsl = nixpkgs.lib.nixosSystem {
          modules = [
            { nixpkgs.hostPlatform = "x86_64-linux"; }
            nixos-wsl.nixosModules.default
            nix-devbox.nixosModules.orchestrator
            ./hosts/orchestrator-wsl.nix
          ];
        };

        # A Hyprland workstation.
        alice-desktop = nixpkgs.lib.nixosSystem {
          modules = [
            { nixpkgs.hostPlatform = "x86_64-linux"; }
            nix-devbox.nixosModules.desktop
            ./hosts/desktop.nix
          ];
        };
      };

      # The Mac: `darwin-rebuild switch --flake .#mac`
      darwinConfigurations.mac = nix-darwin.lib.darwinSystem {
        modules = [
          { nixpkgs.hostPlatform = "aarch64-darwin"; }
          home-manager.darwinModules.home-manager
          nix-devbox.darwinModules.workstation
          ./hosts/mac.nix
        ];
      };

      # Any other Linux machine: `home-manager switch --flake .#alice`
      homeConfigurations.alice = home-manager.lib.homeManagerConfiguration {
        pkgs = nixpkgs.legacyPackages.x86_64-linux;
        modules = [
          nix-devbox.homeModules.devbox
          ./home/alice.nix
        ];
      };
    };
}
