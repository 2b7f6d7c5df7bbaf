// Vault: see DESIGN.md; the first types land with its issue.
