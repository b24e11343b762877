SELECT count(*) AS n FROM sensors WHERE status NOT IN ('ok', 'warn')
