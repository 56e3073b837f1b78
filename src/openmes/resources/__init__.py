"""MS1 resources: equipment hierarchy and classes, personnel and qualifications, materials, lots and sublots,
storage locations, units of measure."""
