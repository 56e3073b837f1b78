"""MS8 analysis: ISO 22400 KPIs, downtime Pareto, reports and exports."""
