"""Finding faces in a frame: the detectors behind one protocol (``fer.faces.detectors``)."""
