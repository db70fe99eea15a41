"""SQL migrations of the candidature schema (`NNNN_name.sql`, applied in order at start-up)."""
