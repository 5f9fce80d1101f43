include:
  - pki.certs.ca
  - pki.certs.policies
  - pki.certs.etcd_ca
  - pki.certs.etcd
  - pki.certs.controller
  - pki.certs.service_account
  - pki.certs.node
