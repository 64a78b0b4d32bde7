"""Human-readable reports built from the gold tables."""
