SELECT ts, device, temp FROM sensors WHERE ts >= '2024-03-02 06:00:00' AND ts < '2024-03-02 07:00:00' ORDER BY ts
