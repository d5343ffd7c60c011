"""CLI sub-apps, one module per area; mounted by line311.cli."""
