"""Vent's developer and lab tooling: Salt config rendering, the Packet API emulator
and the local lab of nspawn machines. Nothing here is installed on cluster nodes."""
