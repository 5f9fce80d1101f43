include:
  - pki.ca.files
