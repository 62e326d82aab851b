"""Alerts: rules managers set (`rules`), what each kind watches (`kinds`), the messages they make
(`messages`), how they are sent (`channels`, `delivery`). The worker (`cmcore.worker`) evaluates
and sends; docs/alerts.md tells the whole story."""
