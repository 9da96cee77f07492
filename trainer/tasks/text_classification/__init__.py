"""Text classification with a pretrained encoder and a new classification head."""
