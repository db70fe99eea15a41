"""SQL migrations of the identity schema (`NNNN_name.sql`, applied in order at start-up)."""
