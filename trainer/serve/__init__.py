"""One HTTP layer: the classifier and chat APIs, and deployments."""
