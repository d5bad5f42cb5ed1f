"""The desktop window. Never imports torch: models run in attnviewer.engine."""
