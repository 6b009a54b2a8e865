"""Writing what the analysis measured, and reading a run back.

    outputs            a run's figures, ablation.csv, report.md and analysis.json
    plots              the figures, each a function of arrays that writes one PNG
    markdown           report.md from the typed results and the run's facts
    tables             formatting for people: table cells, markdown tables, links
    analysis_json      the one writer and reader of analysis.json (with its schema version)
    claims             the paper's claims over finished runs (docs/results/)
    explorer           explorer.html, the neuron explorer page (explorer_page/ holds its HTML, CSS, JS)
    explorer_encoding  how the page carries its numbers
    explorer_run       reading a finished run back for the page
"""
