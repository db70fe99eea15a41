"""SQL migrations of the matching schema (`NNNN_name.sql`, applied in order at start-up)."""
