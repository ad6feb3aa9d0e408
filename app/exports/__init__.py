"""Export helpers: chat-template rendering and token counting for training files."""
