SELECT DISTINCT status FROM sensors WHERE status LIKE 'w%' OR status LIKE '_k' ORDER BY status
