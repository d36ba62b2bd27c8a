"""Analysis: figures and reports drawn from result objects (they never run attacks themselves)."""
