"""Resolution: rules, matching, decisions, merges and survivorship. The `Hub` is its face."""
