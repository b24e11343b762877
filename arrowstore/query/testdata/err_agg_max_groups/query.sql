SELECT ts, count(*) FROM sensors GROUP BY ts
