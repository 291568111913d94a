"""The ``fakescope`` command: thin verbs over the library."""
