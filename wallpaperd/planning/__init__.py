"""Planning a job: weather → theme → LoRA stack → prompt (every choice from the job seed)."""
