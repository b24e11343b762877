SELECT sum(temp) AS s, min(temp) AS lo, max(temp) AS hi, avg(temp) AS mean, count(*) FROM sensors WHERE temp BETWEEN -1 AND 1e6
