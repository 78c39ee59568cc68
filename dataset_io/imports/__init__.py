"""Parsers for the data formats the platform imports. No Django below this package's
parsers: each turns one line of a file into records, or an error for that line."""
