base:
  'roles:controller':
    - match: grain
  'roles:worker':
    - match: grain
