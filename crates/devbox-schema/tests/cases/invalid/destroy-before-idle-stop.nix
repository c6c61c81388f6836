# expect: destroy-before-idle-stop /containers/stoppedDestroyDays
(import ../lib.nix).withContainers {
  idleStopDays = 7;
  stoppedDestroyDays = 3;
}
