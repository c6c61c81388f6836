# Git configuration shared by every environment, as a git-config attribute set
# ({ section = { key = value; }; }). Identity (user.name/email) is per person: in dev containers
# the entrypoint writes it from the owner's users.nix entry (/run/devbox/gitconfig, included by the
# image's /etc/gitconfig); on workstations the home-manager module takes it from
# `programs.devbox.user` (the same entry) or `programs.devbox.git.*`.
{
  init.defaultBranch = "main";
  pull.rebase = true;
  push.autoSetupRemote = true;
  fetch.prune = true;
  rebase.autoStash = true;
  merge.conflictStyle = "zdiff3";
  diff.algorithm = "histogram";
  rerere.enabled = true;
  core.pager = "delta";
  interactive.diffFilter = "delta --color-only";
  delta.navigate = true;
  alias = {
    st = "status -sb";
    co = "checkout";
    sw = "switch";
    lg = "log --graph --oneline --decorate";
    amend = "commit --amend --no-edit";
  };
}
