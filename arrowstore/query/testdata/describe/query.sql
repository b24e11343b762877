DESCRIBE sensors
