# An example users.nix for nix-devbox: PLACEHOLDER DATA ONLY. Replace every person, e-mail
# address and key with your team's before use. The SSH keys below were generated for this file
# with ssh-keygen and their private halves were thrown away, so nobody can log in with them.
#
# Check a users.nix (exit 0 valid, 1 invalid, 2 unreadable):
#   nix-instantiate --eval --strict --json lib/export-users.nix --arg usersFile ./users.nix \
#     | devbox-schema validate -
#
# Every field is described in docs/users-nix.md.
{
  users = {
    alice = {
      uid = 1000;
      description = "Alice Example";
      email = "alice@example.org";
      gitUser = "alice-example";
      isAdmin = true;
      sshKeys = [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDAhQH7HtuvNifaSW9dPRB84nII1PRUfRJ5AZtFodeJx alice@example.invalid (placeholder)"
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICYPvzFrdD87/ShDVuR41wzyF+JvJ/3nrKfxvRDKQTDF alice-laptop@example.invalid (placeholder)"
      ];
      extraGroups = [ "wheel" ];
    };
    bob = {
      uid = 1001;
      description = "Bob Example";
      email = "bob@example.org";
      gitUser = "bob-example";
      isAdmin = false;
      sshKeys = [ "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNNdIALTx9SZaBQdsiSc+OgP4RqImo4npqFUPgffcNQtcYle0260CtKSP0EvqKC00gwUpqxWFw5TtKAtjsKqQHg= bob@example.invalid (placeholder)" ];
    };
    carol = {
      uid = 1002;
      description = "Carol Example";
      email = "carol@example.org";
      gitUser = "carol-example";
      isAdmin = false;
      sshKeys = [
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDSq7Qhi3Olfx+d609hqwOVfdRfti6KAPtiJThwHi6q1MpVK9AnzyhAkL6qDbdc72cQElVPBe6BFE3EmVB1c74JIUMBgvS3fKbbG5wELbOHSteexLxJ9HJYNlXh5nqq2hsf06xmVKTiE5e8mJLSSDlXONmZQLgLZCbxPNKk76VgaRPr3iVBCrVkIiw1VGex76ZRP7QHy3GlhDjFxS+UcyqCK3WqymrVy6AElcJkJdrDc4cbdr9OevYYBQPfo4x14BYUk8CCqvbmSrJpicZHigX1i2MdwxJzUB/s3iwZ8gA5cjoBbUetGL9UGTgFxeoBIClDsT9ozQQ0r0GwqRxK8RoLPjqT23cBM0mrkCynqWxUAqPhxAQrRUOCeqVdxsKV3tW1ejx7EKMfGu3yxKPaNOklSAAxOgW0S8zIAmM1wXuVGjllARzOdPd0XXTIJRjAo9fXfRbYFz9FFcNRynGrUgDSCspf9Qc+o00TudYGl0ysHGkjxezcedIgWak3rtMHlUE= carol@example.invalid (placeholder)"
      ];
    };
  };

  # Every field here is optional; the values shown are the defaults except notifyWebhook.
  containers = {
    opVault = "DevBox"; # holds one "{user}-tailscale-authkey" item per user
    maxPerUser = 5;
    maxGlobal = 7;
    defaultCpu = 2;
    defaultMemory = "4G";
    maxCpu = 16; # most a user may ask for with `create --cpu`
    maxMemory = "64G"; # most a user may ask for with `create --memory`
    maxKeptVolumesPerUser = 5; # home volumes kept with `destroy --keep-volume`
    idleStopDays = 7;
    stoppedDestroyDays = 14;
    # A 1Password reference, never the URL itself (users.json is readable by every user); or
    # leave it out and give the URL as a file: services.devbox.orchestrator.notifyWebhookFile.
    notifyWebhook = "op://DevBox/devbox-webhook/url";
  };
}
