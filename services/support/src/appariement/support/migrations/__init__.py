"""SQL migrations of the support schema (`NNNN_name.sql`, applied in order at start-up)."""
