SELECT ts, device FROM sensors WHERE device IN ('b', 'old', 'zzz')
