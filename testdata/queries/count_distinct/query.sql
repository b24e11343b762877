SELECT count(DISTINCT device) AS devices, count(DISTINCT status) AS statuses, count(DISTINCT site) AS sites FROM sensors
