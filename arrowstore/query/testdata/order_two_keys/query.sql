SELECT ts, device, temp FROM sensors WHERE device IS NOT NULL ORDER BY device ASC, ts DESC
