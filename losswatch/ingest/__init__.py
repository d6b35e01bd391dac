"""From bytes in a growing file to metric samples: following, line splitting, formats."""
