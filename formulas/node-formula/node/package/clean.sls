# The tools stay: other software on the host may use conntrack, socat or ipset, and
# removing them is not needed to take the node back out of the cluster.
node-package-clean-test-nop:
  test.nop: []
