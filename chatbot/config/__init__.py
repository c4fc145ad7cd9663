"""Configuration: environment settings (secrets included) and the routing/approver rules file."""
