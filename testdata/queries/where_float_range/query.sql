SELECT ts, device, temp FROM sensors WHERE temp BETWEEN 20.5 AND 21 AND hum > 70 ORDER BY ts
