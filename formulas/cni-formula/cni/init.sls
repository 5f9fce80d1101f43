# CNI plugins in vent:cni:bin_dir and a conf_dir free of configs that would shadow
# flannel's. flannel's own config is written by the flannel formula.
include:
  - cni.package.install
  - cni.config.clean_conflicts
