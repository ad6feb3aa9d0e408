"""Training runs in the web app: records, lifecycle, API, pages (the runner and backends are
the pure `app.training` package, which travels to clusters without this one)."""
