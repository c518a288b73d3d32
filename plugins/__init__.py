"""Built-in model plugins, registered through the same hooks a third-party plugin uses."""
