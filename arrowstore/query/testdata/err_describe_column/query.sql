DESCRIBE sensors ts
