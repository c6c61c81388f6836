# Editor and multiplexer configuration shared by every environment, as file contents.
{
  # ~/.config/nvim/init.lua: sane defaults without plugins (plugins belong to each user).
  neovimInitLua = ''
    vim.g.mapleader = " "
    vim.opt.number = true
    vim.opt.relativenumber = true
    vim.opt.expandtab = true
    vim.opt.shiftwidth = 2
    vim.opt.tabstop = 2
    vim.opt.smartindent = true
    vim.opt.ignorecase = true
    vim.opt.smartcase = true
    vim.opt.termguicolors = true
    vim.opt.undofile = true
    vim.opt.clipboard = "unnamedplus"
    vim.opt.signcolumn = "yes"
  '';

  # ~/.config/tmux/tmux.conf
  tmuxConf = ''
    set -g mouse on
    set -g history-limit 50000
    set -g base-index 1
    setw -g pane-base-index 1
    set -g escape-time 10
    set -g default-terminal "tmux-256color"
    setw -g mode-keys vi
  '';
}
