"""The daemon: job queue, schedule, inbox watcher, GPU worker and D-Bus service."""
