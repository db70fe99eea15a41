"""SQL migrations of the notification schema (`NNNN_name.sql`, applied in order at start-up)."""
