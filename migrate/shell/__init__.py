"""Script → launch plan: static evaluation of bash launch scripts."""
