"""`python -m preflight import-compose`: a Docker Compose or Swarm stack file into the
platform's own App specs (`teams[].apps[]` of a stack file), hardened by construction.

`source` reads the file (YAML, `${VAR}` interpolation, env files), `mapping` and `deploy`
turn each service into an app entry and findings, `writer` merges the entries into the
stack file, and `importer` is the command: report, validation, exit codes.
"""
