"""Stream classes, grouped by what they hang from (entities, lines, reports)."""
