"""MS5 execution: operator actions, quantities, material consumption and production, parameters, labor, sign-offs."""
