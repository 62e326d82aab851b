"""The benchmark (`python -m cmcore bench`): cmcore's pages against pandas + read_sql and against
SQL aggregations in PostgreSQL, on a demo community generated into a fresh database.

- `pages`: the window measured and, per page, what cmcore computes and the headline KPIs compared;
- `pandas_way` and `sql_way`: the same KPIs the two usual ways;
- `runner`: the fresh database, the timings (cold, warm, medians), memory and the JSON report.
"""
