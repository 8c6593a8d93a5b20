"""The command line (``python -m fer`` / ``fer``): the parser and commands (``main``), the video and
batch commands' options (``commands``)."""
