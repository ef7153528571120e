"""HTTP routes of the hub server, one module per area."""
