"""Quality: inspection plans, measurements, SPC, nonconformance, lot holds."""
