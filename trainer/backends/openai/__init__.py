"""Fine-tuning through the OpenAI API: plan, confirm, upload + create, follow, evaluate."""
