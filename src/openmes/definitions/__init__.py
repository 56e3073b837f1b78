"""MS2 product definition: bills of materials, routings (work masters), versions, effectivity and approval."""
