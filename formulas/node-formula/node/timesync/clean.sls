# The clock stays synced: a node out of the cluster still wants the right time.
node-timesync-clean-test-nop:
  test.nop: []
