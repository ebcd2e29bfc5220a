"""Analysts' reports (monthly indicators, department scorecards, conversion) and exports."""
