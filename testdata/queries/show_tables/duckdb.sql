SELECT table_name AS "table" FROM information_schema.tables ORDER BY 1
