SELECT count(*) AS n, count(hum) AS nh, sum(battery) AS sb, min(temp) AS mn, max(temp) AS mx, avg(temp) AS av, min(ts) AS first_ts, max(ts) AS last_ts FROM sensors
