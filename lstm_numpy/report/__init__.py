"""Figures (`plots`) and the written report (`markdown`: report.md and analysis.json)."""
