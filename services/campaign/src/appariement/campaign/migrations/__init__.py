"""SQL migrations of the campaign schema (`NNNN_name.sql`, applied in order at start-up)."""
