"""Pure types and normalizers. No I/O, no database, no web."""
