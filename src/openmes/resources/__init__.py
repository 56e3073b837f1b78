"""MS1 resources: equipment hierarchy, equipment classes, personnel and qualifications, materials, lots and sublots, storage locations, units of measure."""
