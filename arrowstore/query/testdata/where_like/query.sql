SELECT device FROM sensors WHERE device LIKE 'c%' OR device LIKE '_ld' OR note LIKE '%column'
