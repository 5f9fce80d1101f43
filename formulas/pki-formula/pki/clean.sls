{#- The reverse of init.sls. Service users stay: other formulas' files belong to them
    (remove them last with pki.users.clean). #}
include:
  - pki.encryption.clean
  - pki.kubeconfig.clean
  - pki.certs.clean
  - pki.ca.clean
