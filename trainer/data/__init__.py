"""Reading every container and encoding, shapes of records, splits, and prepare/repair."""
