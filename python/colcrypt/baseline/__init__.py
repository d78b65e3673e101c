"""Performance baseline before migration, and comparison against it after each stage."""
