SELECT ok, count(DISTINCT device), count(DISTINCT raw) FROM sensors GROUP BY ok
