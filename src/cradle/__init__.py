"""cradle: detect mental-health crises and safety risks in posts and conversations.

Layers, each depending only on those above it in this list:

``labels`` -> ``data`` / ``metrics`` / ``prompts`` -> ``detectors`` -> ``pipelines`` -> ``interfaces``
"""

__version__ = "0.1.0"
