"""The web page: Gradio Blocks with every event queue-free, its logic, the service behind it, the server."""
