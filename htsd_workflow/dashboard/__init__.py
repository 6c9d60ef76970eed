"""The managers' start page: cases by stage and level, overdue counts, links to the reports."""
